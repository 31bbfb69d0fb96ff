// Goal (issue 18, memory at 10 M keys): PackedMap keeps a string whose code units are all
// below 256 (ASCII and Latin-1, almost every key and value) in one byte per unit, and any
// other string in two, while every JS string still round-trips exactly: lone surrogates,
// U+0080–U+00FF (where "latin1" decoders disagree), U+0100 and up, empty strings, strings
// held large; through overwrites, deletes, compaction, shift() and visitUnits.
// Method: bytesHeld (the bytes the map's arrays hold) bounded per pair of the bench's shape;
// seeded random strings of every kind checked against a plain Map.

import { describe, expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { PackedMap } from "../../../store/packed_map.ts";

/** A random string of `length` units from one of the kinds the encoding distinguishes, or a mix. */
function randomString(rng: ReturnType<typeof createRng>, length: number): string {
  const kind = rng.int(5);
  const units: number[] = [];
  for (let i = 0; i < length; i++) {
    const k = kind === 4 ? rng.int(4) : kind;
    if (k === 0) units.push(0x20 + rng.int(0x5f)); // ASCII
    else if (k === 1) units.push(0x80 + rng.int(0x80)); // U+0080–U+00FF, C1 controls included
    else if (k === 2) units.push(0x100 + rng.int(0xd700)); // wide, below the surrogates
    else units.push(0xd800 + rng.int(0x800)); // surrogates, mostly lone
  }
  return String.fromCharCode(...units);
}

/** The entries visitUnits passes, rebuilt as strings from the units it hands out. */
function visited(m: PackedMap): [string, string, number][] {
  const out: [string, string, number][] = [];
  const text = (units: Uint8Array | string, at: number, length: number): string =>
    typeof units === "string" ? units : String.fromCharCode(...units.subarray(at, at + length));
  m.visitUnits(0, (ku, ka, kl, vu, va, vl, version) => {
    out.push([text(ku, ka, kl), text(vu, va, vl), version]);
    return true;
  });
  return out;
}

describe("PackedMap holds one byte per unit below 256", () => {
  test("200,000 pairs of the bench's shape hold at most 64 bytes each", () => {
    const m = new PackedMap();
    const n = 200_000;
    for (let i = 0; i < n; i++) m.set(`key-${i}`, "value-0123456789", i + 1);
    // Per pair: 25 bytes of entry (hash, starts, lengths: 20; a version below 2^32: 4; alive:
    // 1), 8-16 of index, 26 units of key and value: 59-67 at one byte a unit (29 bytes of
    // entry with float64 versions: 63-71), 85-93 at two.
    expect(m.bytesHeld / n).toBeLessThanOrEqual(64);
    expect(m.get("key-199999")).toBe("value-0123456789");
  });

  test("Latin-1 strings take one byte a unit, wider ones two", () => {
    const narrow = new PackedMap();
    const wide = new PackedMap();
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      narrow.set(`\u00e9\u0080\u009f-${i}`.padEnd(40, "\u00ff"), "\u00fc".repeat(40));
      wide.set(`\u0100\u0080\u009f-${i}`.padEnd(40, "\u00ff"), "\u0101".repeat(40));
    }
    expect(narrow.get(`\u00e9\u0080\u009f-7`.padEnd(40, "\u00ff"))).toBe("\u00fc".repeat(40));
    expect(wide.get(`\u0100\u0080\u009f-7`.padEnd(40, "\u00ff"))).toBe("\u0101".repeat(40));
    // 80 units a pair: ≥ 160 bytes of chars in two bytes a unit, 80 in one.
    expect(narrow.bytesHeld).toBeLessThan(wide.bytesHeld - 60 * n);
  });

  test("a narrow and a wide string of the same length never match each other", () => {
    const m = new PackedMap();
    m.set("\u0000\u0001", "narrow");
    m.set("\u0100", "wide");
    m.set("\u0001\u0000", "narrow too");
    expect(m.get("\u0100")).toBe("wide");
    expect(m.get("\u0000\u0001")).toBe("narrow");
    expect(m.get("\u0001")).toBeUndefined();
    expect(m.get("\u0001\u0000")).toBe("narrow too");
    expect(m.has("\u0000")).toBe(false);
    const bytes = new Uint8Array([0, 1, 0x41]);
    m.setAscii(bytes, 0, 2, 2, 1, 9);
    expect(m.get("\u0000\u0001")).toBe("A");
    expect(m.size).toBe(3);
  });

  test("versions of every size round-trip, also past 2^32 (a segment widened) and through compaction", () => {
    const rng = createRng(7);
    const sizes = [0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 1.7e12, 2 ** 53 - 1];
    const m = new PackedMap();
    const plain = new Map<string, number>();
    for (let i = 0; i < 60_000; i++) {
      // Mostly small, so most segments stay uint32 and a few are widened by one large version.
      const version = rng.int(500) === 0 ? sizes[rng.int(sizes.length)]! : rng.int(1000);
      const key = `k${rng.int(40_000)}`;
      m.set(key, "v", version);
      plain.set(key, version);
      if (rng.int(3) === 0) {
        const gone = `k${rng.int(40_000)}`;
        m.delete(gone);
        plain.delete(gone);
      }
    }
    for (const [k, v] of plain) expect(m.versionOf(k)).toBe(v);
    const got = new Map([...m.entriesVersioned()].map(([k, , v]) => [k, v]));
    expect(got).toEqual(plain);
    expect(new Map(visited(m).map(([k, , v]) => [k, v]))).toEqual(plain);
  });

  for (const seed of [11, 12, 13, 14]) {
    test(`seeded strings of every kind round-trip (seed ${seed}) through overwrites, deletes, compaction, shift and visitUnits`, () => {
      const rng = createRng(seed);
      const m = new PackedMap();
      const plain = new Map<string, [string, number]>();
      const keys: string[] = [];
      for (let op = 0; op < 30_000; op++) {
        const r = rng.int(10);
        if (r < 6 || keys.length === 0) {
          const key = randomString(rng, rng.int(12));
          const value = rng.int(200) === 0 ? randomString(rng, 8192 + rng.int(100)) : randomString(rng, rng.int(30));
          m.set(key, value, op);
          if (!plain.has(key)) keys.push(key);
          plain.delete(key); // mirror: a new key goes to the end, an overwrite keeps its place
          plain.set(key, [value, op]);
        } else if (r < 9) {
          const key = keys[rng.int(keys.length)]!;
          expect(m.delete(key)).toBe(plain.delete(key));
        } else {
          const key = keys[rng.int(keys.length)]!;
          expect(m.get(key)).toBe(plain.get(key)?.[0]);
        }
      }
      // An overwrite keeps the position in PackedMap, so compare as sets of triples, then order of first writes.
      const want = [...plain.entries()].map(([k, [v, ver]]) => [k, v, ver] as [string, string, number]);
      const got = [...m.entriesVersioned()];
      expect(got.length).toBe(want.length);
      expect(new Map(got.map(([k, v, ver]) => [k, [v, ver]]))).toEqual(new Map(want.map(([k, v, ver]) => [k, [v, ver]])));
      expect(visited(m)).toEqual(got);
      for (const [k, v] of got) expect(m.get(k)).toBe(v);
      const shifted: [string, string, number][] = [];
      for (let t = m.shift(); t !== undefined; t = m.shift()) shifted.push(t);
      expect(shifted).toEqual(got);
      expect(m.size).toBe(0);
    });
  }
});
