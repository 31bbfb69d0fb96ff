// Goal: the ordered index of listing (issue 16 item 3) holds exactly the keys inserted and not
// deleted, scans them in JS string order (UTF-16 code units) from any starting key, and stays
// compact: leaves split when full and merge when emptied, so it never degrades into one
// object per key.
// Method: the production OrderedKeys against a sorted array of the same keys, under seeded
// random inserts and deletes (short, long, non-ASCII and surrogate keys, common prefixes).

import { describe, expect, test } from "bun:test";
import { leafKeysMax, OrderedKeys } from "../../../store/ordered_keys.ts";
import { createSimRng, type SimRng } from "../../sim/prng.ts";

function sortedInsert(sorted: string[], key: string): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  if (sorted[lo] === key) return false;
  sorted.splice(lo, 0, key);
  return true;
}

function drawKey(rng: SimRng): string {
  const alphabets = ["ab", "abc/", "xyz", "é€😀\u0000", "k"];
  const alphabet = [...rng.pick(alphabets)];
  const length = rng.chance(0.02) ? rng.range(100, 3000) : rng.range(1, 6);
  let key = rng.chance(0.5) ? "user/" : "";
  for (let i = 0; i < length; i++) key += rng.pick(alphabet);
  return key;
}

describe("OrderedKeys", () => {
  for (const seed of [1, 2, 3, 4]) {
    test(`seed ${seed}: the same keys in the same order as a sorted array, through inserts and deletes`, () => {
      const rng = createSimRng(seed);
      const keys = new OrderedKeys();
      const sorted: string[] = [];
      for (let step = 0; step < 6000; step++) {
        // First mostly inserts, then mostly deletes, so leaves split, empty and merge.
        const deleting = step > 3500 ? rng.chance(0.8) : rng.chance(0.25);
        if (deleting && sorted.length > 0) {
          const key = rng.chance(0.9) ? rng.pick(sorted) : drawKey(rng);
          const at = sorted.indexOf(key);
          expect(keys.delete(key)).toBe(at >= 0);
          if (at >= 0) sorted.splice(at, 1);
        } else {
          const key = drawKey(rng);
          expect(keys.insert(key)).toBe(sortedInsert(sorted, key));
        }
        if (step % 500 === 0 || step === 5999) {
          expect(keys.size).toBe(sorted.length);
          expect([...keys.scan("")]).toEqual(sorted);
          const from = drawKey(rng);
          expect([...keys.scan(from)]).toEqual(sorted.filter((k) => k >= from));
          expect([...keys.scan(from, true)]).toEqual(sorted.filter((k) => k > from));
          if (sorted.length > 0) {
            const present = rng.pick(sorted);
            expect(keys.has(present)).toBe(true);
            expect([...keys.scan(present, true)]).toEqual(sorted.filter((k) => k > present));
          }
        }
      }
      for (const key of [...sorted]) expect(keys.delete(key)).toBe(true);
      expect([keys.size, keys.leafCount, [...keys.scan("")]]).toEqual([0, 1, []]);
    });
  }

  test("leaves stay dense: ascending, descending and random inserts use at most twice the minimum leaves", () => {
    const n = 20_000;
    const orders: string[][] = [
      Array.from({ length: n }, (_, i) => `k${String(i).padStart(6, "0")}`),
      Array.from({ length: n }, (_, i) => `k${String(n - i).padStart(6, "0")}`),
      createSimRng(9).shuffle(Array.from({ length: n }, (_, i) => `r${i}`)),
    ];
    for (const order of orders) {
      const keys = OrderedKeys.from(order);
      expect(keys.size).toBe(n);
      expect(keys.leafCount).toBeLessThanOrEqual(Math.ceil((2 * n) / leafKeysMax) + 1);
      // Deleting 99 keys in 100 merges leaves back (else ~100 leaves of a key or two).
      order.forEach((key, i) => {
        if (i % 100 !== 0) keys.delete(key);
      });
      expect(keys.size).toBe(n / 100);
      expect(keys.leafCount).toBeLessThanOrEqual(Math.ceil(n / 100 / 16) + 1);
      expect([...keys.scan("")]).toEqual(order.filter((_, i) => i % 100 === 0).sort());
    }
  });

  test("a scan starts at its key without walking the keys before it", () => {
    const keys = OrderedKeys.from(Array.from({ length: 50_000 }, (_, i) => `k${i}`));
    const scan = keys.scan("k49990");
    expect(scan.next().value).toBe("k49990");
    expect(scan.next().value).toBe("k49991");
    expect(keys.scan("zzz").next().done).toBe(true);
    expect(keys.scan("").next().value).toBe("k0");
  });
});

test("fromSorted builds the same set as inserts, and takes inserts and deletes after", () => {
  const rng = createSimRng(5);
  const keys = [...new Set(Array.from({ length: 5000 }, () => drawKey(rng)))].sort();
  const built = OrderedKeys.fromSorted(keys);
  expect([built.size, [...built.scan("")]]).toEqual([keys.length, keys]);
  const sorted = [...keys];
  for (let i = 0; i < 3000; i++) {
    const key = drawKey(rng);
    if (rng.chance(0.5)) expect(built.insert(key)).toBe(sortedInsert(sorted, key));
    else {
      const at = sorted.indexOf(key);
      expect(built.delete(key)).toBe(at >= 0);
      if (at >= 0) sorted.splice(at, 1);
    }
  }
  expect([...built.scan("")]).toEqual(sorted);
  expect([...OrderedKeys.fromSorted([]).scan("")]).toEqual([]);
});
