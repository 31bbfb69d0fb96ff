// Goal (issue 18, restart time): a snapshot's pair chunks in the encoder's plain form (ASCII
// text strings, small unsigned versions) are read straight into the map without cbor-x making
// a string per key and value, and every chunk gives exactly the state the cbor-x path gave:
// any string (non-ASCII, lone surrogates, long, empty values), any version encoding, odd but
// valid CBOR (non-shortest heads), and broken chunks still fail as a SnapshotError.
// Method: snapshots built with cbor-x's own encoder (and some bytes by hand) restored by the
// production KvStateMachine (restore and restoreAsync); the expected state is cbor-x's
// decoding of each chunk (the library as the oracle). Decoder.prototype.decode is counted to
// see that the plain form never goes through cbor-x per chunk.

import { describe, expect, test } from "bun:test";
import { Decoder, Encoder } from "../../../raft/cbor.ts";
import { SnapshotError } from "../../../store/errors.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";

const raw = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const oracle = new Decoder({ useRecords: false, mapsAsObjects: false });

/** A format-3 snapshot (versions) with these chunks, each a CBOR byte string. */
function snapshotOf(pairCount: number, chunks: readonly Uint8Array[]): Uint8Array {
  return raw.encode([3, pairCount, [0], ...chunks]);
}

/** The state cbor-x's decoding of the chunks gives: [key, value, version] in map order. */
function expected(chunks: readonly Uint8Array[]): [string, string, number][] {
  const m = new Map<string, [string, number]>();
  for (const c of chunks) {
    const flat = oracle.decode(c) as unknown[];
    for (let i = 0; i < flat.length; i += 3) m.set(flat[i] as string, [flat[i + 1] as string, flat[i + 2] as number]);
  }
  return [...m].map(([k, [v, ver]]) => [k, v, ver]);
}

function stateOf(sm: KvStateMachine): [string, string, number][] {
  return [...sm.entries()].map(([k, v]) => [k, v, sm.versionOf(k)!]);
}

async function bothRestores(bytes: Uint8Array): Promise<KvStateMachine[]> {
  const sync = new KvStateMachine();
  sync.restore(bytes);
  const async = new KvStateMachine();
  await async.restoreAsync(bytes, () => Promise.resolve());
  return [sync, async];
}

describe("snapshot chunks read straight into the map", () => {
  test("every kind of string and version gives what cbor-x gives", async () => {
    const keys = ["a", "key-1", "\u007f", "é", "🚀/ключ", "\ud800", "\udfff x", "k".repeat(63), "k".repeat(64), "k".repeat(65), "m".repeat(300), "L".repeat(9_000), "__proto__"];
    const values = ["", "v", "value-0123456789", "ü", "\ud83d", "w".repeat(100), "big".repeat(4_000), "\u0000", "q".repeat(8_191)];
    const versions = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 2 ** 53 - 1];
    const flat: unknown[] = [];
    for (let i = 0; i < keys.length * 3; i++) flat.push(`${keys[i % keys.length]}${i}`, values[i % values.length], versions[i % versions.length]);
    const chunks = [raw.encode(flat.slice(0, 18)), raw.encode(flat.slice(18))].map((c) => new Uint8Array(c));
    for (const sm of await bothRestores(snapshotOf(keys.length * 3, chunks))) expect(stateOf(sm)).toEqual(expected(chunks));
  });

  test("the plain form is read without cbor-x decoding any chunk; a round trip is exact", async () => {
    const source = new KvStateMachine();
    source.loadPairs(Array.from({ length: 5_000 }, (_, i) => [`key-${i}`, i % 7 === 0 ? "" : `value-${i}`] as const), Array.from({ length: 5_000 }, (_, i) => i + 1));
    const bytes = source.snapshot();
    const originalDecode = Decoder.prototype.decode;
    let decodes = 0;
    Decoder.prototype.decode = function (this: Decoder, ...args: Parameters<Decoder["decode"]>) {
      decodes++;
      return originalDecode.apply(this, args);
    };
    try {
      const sm = new KvStateMachine();
      sm.restore(bytes);
      expect(decodes).toBe(1); // the outer array only
      expect(stateOf(sm)).toEqual(stateOf(source));
    } finally {
      Decoder.prototype.decode = originalDecode;
    }
    const [, again] = await bothRestores(bytes);
    expect(stateOf(again!)).toEqual(stateOf(source));
  });

  test("non-shortest heads and bytes that are not UTF-8 give what cbor-x gives", async () => {
    // [ "abc" with a one-byte length head, "ok", 5 as a two-byte head, "k2", "\xff\xfe" (not UTF-8), 7 ]
    const odd = Uint8Array.of(0x86, 0x78, 3, 0x61, 0x62, 0x63, 0x62, 0x6f, 0x6b, 0x19, 0, 5, 0x62, 0x6b, 0x32, 0x62, 0xff, 0xfe, 0x07);
    for (const sm of await bothRestores(snapshotOf(2, [odd]))) expect(stateOf(sm)).toEqual(expected([odd]));
  });

  test("broken chunks still fail as a SnapshotError, whichever pair is broken", async () => {
    const good = new Uint8Array(raw.encode(["k1", "v1", 1, "k2", "v2", 2]));
    const cases: [string, Uint8Array, number][] = [
      ["truncated", good.subarray(0, good.length - 3), 2],
      ["an empty key", new Uint8Array(raw.encode(["k1", "v1", 1, "", "v2", 2])), 2],
      ["a number for a value", new Uint8Array(raw.encode(["k1", "v1", 1, "k2", 5, 2])), 2],
      ["a negative version", new Uint8Array(raw.encode(["k1", "v1", 1, "k2", "v2", -2])), 2],
      ["not pairs", new Uint8Array(raw.encode(["k1", "v1", 1, "k2"])), 2],
      ["a duplicated key", new Uint8Array(raw.encode(["k1", "v1", 1, "k1", "v2", 2])), 2],
      ["not an array", new Uint8Array(raw.encode("k1")), 1],
    ];
    for (const [why, chunk, count] of cases) {
      const sm = new KvStateMachine();
      expect(() => sm.restore(snapshotOf(count, [chunk])), why).toThrow(SnapshotError);
      const later = new KvStateMachine();
      await expect(later.restoreAsync(snapshotOf(count, [chunk]), () => Promise.resolve()), why).rejects.toThrow(SnapshotError);
    }
  });
});
