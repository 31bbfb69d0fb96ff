// Goal (issue 16, keyed writes' cost): the once command's envelope `[3, stamp, id, write]`,
// written and read without cbor-x (store/once_codec.ts), gives exactly what cbor-x gives: the
// same bytes written, the same parts read, and decodeCommand answers as before for anything
// the direct reader leaves to cbor-x, errors included. Method: envelopes of every head size,
// then seeded mutations; cbor-x is the oracle.

import { createHash } from "node:crypto";
import { heapStats } from "bun:jsc";
import { describe, expect, test } from "bun:test";
import { Decoder, Encoder } from "../../../raft/cbor.ts";
import { decodeCommand, encodeCommand, encodeOnceCommand, onceCommand, type WriteCommand } from "../../../store/commands.ts";
import { decodeOnceEnvelope, encodeOnceEnvelope } from "../../../store/once_codec.ts";
import { mutateBytes } from "../../support/mutate_bytes.ts";
import { storageRng } from "../../support/storage_rng.ts";

const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const cbor = new Decoder({ useRecords: false, mapsAsObjects: false });
const set = (k: string, v: string): WriteCommand => ({ type: "set", pairs: [[k, v]] });

/** What decodeCommand makes of `b`: the command, or its error's message (CommandError wording). */
function outcome(b: Uint8Array): unknown {
  try {
    return decodeCommand(b);
  } catch (e) {
    return (e as Error).message;
  }
}

const stamps = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 1_764_000_000_000, Number.MAX_SAFE_INTEGER];
const idLengths = [1, 23, 24, 255, 256, 512];
const writes = [
  encodeCommand(set("k", "v")),
  encodeCommand(set("w-1-12345", "vvvvvvvvvvvvvvvv")),
  encodeCommand({ type: "delete", key: "d".repeat(300) }),
  encodeCommand(set("k", "x".repeat(70_000))),
];

describe("the once envelope written and read directly", () => {
  test("written as cbor-x writes it, at every head size; read back as cbor-x reads it", () => {
    for (const stamp of stamps) {
      for (const n of idLengths) {
        for (const write of writes) {
          const id = `alice:${"i".repeat(n)}`.slice(0, n);
          const want = new Uint8Array(encoder.encode([3, stamp, id, write]));
          const got = encodeOnceEnvelope(stamp, id, write);
          expect(got).toEqual(want);
          expect(decodeOnceEnvelope(want)).toEqual({ stamp, id, write });
        }
      }
    }
  });

  test("a command with an Idempotency-Key: the same bytes, command and digest as through cbor-x", () => {
    const write = set("w-1-7", "vvvvvvvvvvvvvvvv");
    const bytes = encodeOnceCommand(1_764_000_000_123, ":w-1-7", write);
    expect(bytes).toEqual(new Uint8Array(encoder.encode([3, 1_764_000_000_123, ":w-1-7", encodeCommand(write)])));
    const command = onceCommand(1_764_000_000_123, ":w-1-7", write);
    expect(decodeCommand(bytes)).toEqual(command);
    expect(command.digest).toBe(createHash("sha256").update(encodeCommand(write)).digest("base64"));
  });

  test("what the direct reader leaves (a non-ASCII id, a long id) goes through cbor-x as before", () => {
    for (const id of ["bob:ключ", `:${"x".repeat(5000)}`]) {
      const bytes = new Uint8Array(encoder.encode([3, 7, id, encodeCommand(set("a", "1"))]));
      expect(decodeOnceEnvelope(bytes)).toBeNull();
      // The writer writes any ASCII id (the callers check its length first), as cbor-x would.
      expect(encodeOnceEnvelope(7, id, encodeCommand(set("a", "1")))).toEqual(id.startsWith("bob") ? null : bytes);
      expect(outcome(bytes)).toEqual(id.length > 512 ? "once id is not a string of 1 to 512 characters" : onceCommand(7, id, set("a", "1")));
    }
    expect(encodeOnceCommand(7, "bob:ключ", set("a", "1"))).toEqual(new Uint8Array(encoder.encode([3, 7, "bob:ключ", encodeCommand(set("a", "1"))])));
  });

  test("reading an entry leaves its bytes as they were: no buffer of their own made for a view of them", () => {
    // JSC keeps a small typed array's bytes in the object until something asks for its buffer
    // (a view of it does); then it copies them out of line, and the log holds that copy too.
    const entries = Array.from({ length: 20_000 }, (_, i) => encodeOnceCommand(1_764_000_000_000 + i, `:w-1-${i}`, set(`w-1-${i}`, "vvvvvvvvvvvvvvvv")));
    Bun.gc(true);
    const before = heapStats().extraMemorySize;
    for (const bytes of entries) decodeCommand(bytes);
    Bun.gc(true);
    // ~130 bytes an entry when each one's bytes are moved out of line; nothing otherwise.
    expect(heapStats().extraMemorySize - before).toBeLessThan(20_000 * 16);
    expect(entries.length).toBe(20_000);
  });

  test("mutated envelopes: whatever is read directly, cbor-x reads the same, and decodeCommand answers the same", () => {
    const rng = storageRng(1616);
    const bases = [
      encodeOnceCommand(1_764_000_000_000, ":w-1-1", set("w-1-1", "vvvvvvvvvvvvvvvv")),
      encodeOnceCommand(9, "u:k", { type: "delete", key: "a" }),
      encodeOnceCommand(70_000, `:${"k".repeat(40)}`, { type: "set", pairs: [["a", "1"]], condition: { type: "absent" } }),
    ];
    let direct = 0;
    let other = 0;
    for (let round = 0; round < 20_000; round++) {
      const bytes = mutateBytes(rng, bases[rng.int(bases.length)]!);
      const got = decodeOnceEnvelope(bytes);
      if (got === null) {
        other++;
        continue;
      }
      direct++;
      // decodeCommand checks the parts the same way whoever read them (commands.ts onceOf).
      const want = cbor.decode(bytes) as unknown[];
      expect(want.length).toBe(4);
      expect([want[0], want[1], want[2]]).toEqual([3, got.stamp, got.id]);
      expect(want[3]).toBeInstanceOf(Uint8Array);
      expect([...got.write]).toEqual([...(want[3] as Uint8Array)]);
    }
    expect(direct).toBeGreaterThan(1000);
    expect(other).toBeGreaterThan(1000);
  });
});
