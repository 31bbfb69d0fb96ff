// Goal: PackedMap behaves exactly like Map<string, string> for get/has/set/delete/size and
// iteration order (insertion order; an overwrite keeps the position; delete then set moves to
// the end), through its growth, index rebuilds and compactions, and keeps every string exact
// (lone surrogates, empty values, values longer than one decode chunk).
// Method: seeded random workloads checked against a plain Map after every phase, plus tables.

import { describe, expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { PackedMap } from "../../../store/packed_map.ts";

function same(packed: PackedMap, plain: Map<string, string>, where: string): void {
  expect(packed.size, where).toBe(plain.size);
  expect([...packed.entries()], where).toEqual([...plain.entries()]);
}

describe("PackedMap", () => {
  test("odd strings round-trip exactly", () => {
    const odd = ["a", "🚀/ключ", "\ud800", "\udfff", "\ud800\udc00", "__proto__", "constructor", "x".repeat(20_000), "\u0000", "é"];
    const m = new PackedMap();
    for (const [i, k] of odd.entries()) m.set(k, odd[(i + 3) % odd.length]!);
    m.set("empty", "");
    for (const [i, k] of odd.entries()) expect(m.get(k)).toBe(odd[(i + 3) % odd.length]);
    expect(m.get("empty")).toBe("");
    expect(m.has("empty")).toBe(true);
    expect(m.get("\ud801")).toBeUndefined();
    expect(m.has("missing")).toBe(false);
  });

  test("order: overwrite keeps the position, delete then set moves to the end", () => {
    const m = PackedMap.from([["a", "1"], ["b", "2"], ["c", "3"]]);
    m.set("a", "a much longer value than before");
    expect([...m].map(([k]) => k)).toEqual(["a", "b", "c"]);
    expect(m.delete("a")).toBe(true);
    expect(m.delete("a")).toBe(false);
    m.set("a", "back");
    expect([...m]).toEqual([["b", "2"], ["c", "3"], ["a", "back"]]);
  });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    test(`seeded workload ${seed} matches a Map through growth, rebuilds and compactions`, () => {
      const rng = createRng(seed);
      const packed = new PackedMap();
      const plain = new Map<string, string>();
      // Few distinct keys make overwrites and delete/re-set common; many make growth.
      const keySpace = [50, 5_000, 200_000][seed % 3]!;
      const valueOf = (): string => {
        const r = rng.int(20);
        if (r === 0) return "";
        if (r === 1) return "v".repeat(rng.int(10_000));
        if (r === 2) return String.fromCharCode(0xd800 + rng.int(0x800)); // lone surrogates
        return `v${rng.int(1_000_000)}`;
      };
      for (let phase = 0; phase < 8; phase++) {
        for (let i = 0; i < 4_000; i++) {
          const key = `k${rng.int(keySpace)}`;
          const op = rng.int(10);
          if (op < 6) {
            const v = valueOf();
            packed.set(key, v);
            plain.set(key, v);
          } else if (op < 9) {
            expect(packed.delete(key)).toBe(plain.delete(key));
          } else {
            expect(packed.get(key)).toBe(plain.get(key));
            expect(packed.has(key)).toBe(plain.has(key));
          }
        }
        same(packed, plain, `seed ${seed} phase ${phase}`);
      }
      // Delete nearly everything (compaction and a shrinking index), then refill.
      for (const key of [...plain.keys()].slice(0, Math.max(0, plain.size - 3))) {
        packed.delete(key);
        plain.delete(key);
      }
      same(packed, plain, `seed ${seed} after mass delete`);
      for (let i = 0; i < 3_000; i++) {
        packed.set(`r${i}`, `${i}`);
        plain.set(`r${i}`, `${i}`);
      }
      same(packed, plain, `seed ${seed} after refill`);
      for (const [k, v] of plain) expect(packed.get(k)).toBe(v);
    });
  }
});
