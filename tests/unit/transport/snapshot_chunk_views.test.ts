// Goal (issue 18): a follower receiving a snapshot copies each InstallSnapshot chunk once after
// the frame (into the core's buffer), not three times; a leader sending one copies it once
// into the frame, not twice, in the same bytes as before. Traced at two million keys, a follower
// spent 10-20 ms of CPU per 512 KiB chunk received, most of it in cbor-x copying the message
// out of the frame and then the chunk's data out of the message (fresh pages each time); at
// ten million keys that is 565 chunks, each a pause. A transport frame is a copy no one reuses
// while it is read (FrameDecoder; a large one's buffer is lent again only once its last holder
// hands it back: frame_bodies.ts), so what is decoded from it may be views of it.
// Method: the production codec on a frame as the transports hand it over (encodeEnvelope, then
// through FrameDecoder): the decoded chunk's data is a view of that frame, equal to what was
// sent, and copies made while decoding are counted at Uint8Array.prototype.slice; encoding
// is compared byte for byte with the general path (cbor-x, message then envelope) over data
// lengths at every CBOR head size, copies counted at Uint8Array.prototype.set.

import { afterEach, expect, test } from "bun:test";
import type { InstallSnapshot, Message } from "../../../raft/core/mod.ts";
import { encodeCbor } from "../../../raft/codec.ts";
import { decodeEnvelope, encodeEnvelope } from "../../../raft/envelope.ts";
import { encodeFrame, FrameDecoder } from "../../../raft/framing.ts";
import { encodeMessage } from "../../../raft/message_codec.ts";

const originalSlice = Uint8Array.prototype.slice;
afterEach(() => {
  Uint8Array.prototype.slice = originalSlice;
});

const membership = { members: [{ id: "a", addr: "a:1", suffrage: "voter" as const }, { id: "b", addr: "b:1", suffrage: "voter" as const }] };

test("an InstallSnapshot chunk is decoded as a view of its frame, with no copy of its data", () => {
  const data = Uint8Array.from({ length: 512 * 1024 }, (_, i) => (i * 31 + (i >>> 9)) & 0xff);
  const sent: InstallSnapshot = {
    type: "InstallSnapshot", from: "a", to: "b", term: 3,
    meta: { lastIncludedIndex: 900, lastIncludedTerm: 2, membership }, offset: 1024 * 1024, data, done: false,
  };
  const wire = encodeFrame(encodeEnvelope({ kind: "raft", fromAddr: "a:1", msg: sent }), 2 ** 30);
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder({ frameBytesMax: 2 ** 30 });
  for (let at = 0; at < wire.length; at += 64 * 1024) frames.push(...decoder.push(wire.subarray(at, at + 64 * 1024)));
  expect(frames.length).toBe(1);

  let copied = 0;
  Uint8Array.prototype.slice = function (this: Uint8Array, start?: number, end?: number): Uint8Array {
    const out = originalSlice.call(this, start, end) as Uint8Array;
    copied += out.length;
    return out;
  } as typeof Uint8Array.prototype.slice;
  const env = decodeEnvelope(frames[0]!);
  Uint8Array.prototype.slice = originalSlice;

  expect(env.kind).toBe("raft");
  const got = (env as { msg: Message }).msg as InstallSnapshot;
  expect({ ...got, data: null }).toEqual({ ...sent, data: null });
  expect(Buffer.compare(got.data, data)).toBe(0);
  expect(got.data.buffer).toBe(frames[0]!.buffer);
  expect(copied).toBeLessThan(1024);
});

test("an InstallSnapshot chunk is encoded with its data copied once, in the bytes of the general path", () => {
  const originalSet = Uint8Array.prototype.set;
  try {
    for (const length of [0, 1, 23, 24, 255, 256, 65_535, 65_536, 512 * 1024]) {
      for (const done of [false, true]) {
        const data = Uint8Array.from({ length }, (_, i) => (i * 7 + length) & 0xff);
        const msg: InstallSnapshot = {
          type: "InstallSnapshot", from: "leader-ä", to: "b", term: 2 ** 40,
          meta: { lastIncludedIndex: 2 ** 33, lastIncludedTerm: 7, membership }, offset: 3 * 2 ** 30, data, done,
        };
        let copied = 0;
        Uint8Array.prototype.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number): void {
          copied += source.length;
          originalSet.call(this, source, offset);
        } as typeof Uint8Array.prototype.set;
        const bytes = encodeEnvelope({ kind: "raft", fromAddr: "10.0.0.1:12000", msg });
        Uint8Array.prototype.set = originalSet;
        // The general path: the message through cbor-x, then the envelope around its bytes.
        const general = encodeCbor([0, "10.0.0.1:12000", encodeMessage(msg)]);
        expect(Buffer.compare(bytes, general)).toBe(0);
        expect(copied).toBeLessThan(length + 1024);
        const back = decodeEnvelope(bytes) as { msg: InstallSnapshot };
        expect({ ...back.msg, data: null }).toEqual({ ...msg, data: null });
        expect(Buffer.compare(back.msg.data, data)).toBe(0);
      }
    }
  } finally {
    Uint8Array.prototype.set = originalSet;
  }
});
