// Goal (issue 16 item 2): a forwarded write's reply carries the version it wrote, in a way a
// build on either side of the change reads: a fifth element of the reply, present only when
// the write wrote; the first four are exactly as before (a build that predates it reads
// those), and a reply without it (from such a build) reads as "version not known".
// A fifth element that is not a log index makes the reply malformed.
// Method: the production wire format (store/forward.ts) through CBOR, as the transport carries it.

import { expect, test } from "bun:test";
import { decodeCbor, encodeCbor } from "../../../raft/codec.ts";
import { type ForwardReply, parseStoreMessage, storeMessageValue } from "../../../store/forward.ts";

const wire = (m: ForwardReply): unknown => decodeCbor(encodeCbor(storeMessageValue(m)));

test("a write's reply carries its version as a fifth element; the first four are as before", () => {
  const plain: ForwardReply = { type: "reply", reqId: "i.1", error: null, value: null, version: 42 };
  expect(wire(plain)).toEqual([1, "i.1", null, null, 42]);
  expect(parseStoreMessage(wire(plain))).toEqual(plain);
  const keyed: ForwardReply = { type: "reply", reqId: "i.2", error: null, value: "200 0 ", version: 43 };
  expect(parseStoreMessage(wire(keyed))).toEqual(keyed);
});

test("a reply without it (an older leader's, or a write that wrote nothing) has no version", () => {
  const old = parseStoreMessage([1, "i.3", null, "412 0 {}"]);
  expect(old).toEqual({ type: "reply", reqId: "i.3", error: null, value: "412 0 {}" });
  expect(wire({ type: "reply", reqId: "i.3", error: null, value: null })).toEqual([1, "i.3", null, null]);
});

test("a fifth element that is not a log index is malformed", () => {
  for (const bad of [0, -1, 1.5, "7", null]) expect(parseStoreMessage([1, "i.4", null, null, bad])).toBeNull();
});
