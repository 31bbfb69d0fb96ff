// Goal (issue 18, memory at 10 M keys): the listing index keeps keys whose code units are all
// below 256 one byte a unit, and still orders every key as JS does (UTF-16 code units) when
// wide keys (U+0100 and up, lone surrogates) arrive among narrow ones, including U+0080–U+00FF,
// and leaves that widen then split, merge and shrink.
// Method: OrderedKeys' bytes bounded for ASCII keys; seeded mixes of every kind against a
// sorted array (Array.prototype.sort's default order).

import { describe, expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { OrderedKeys } from "../../../store/ordered_keys.ts";

function drawKey(rng: ReturnType<typeof createRng>): string {
  const length = rng.int(7);
  let key = rng.int(2) === 0 ? "k/" : "";
  for (let i = 0; i < length; i++) {
    const kind = rng.int(8);
    // Mostly narrow, so wide keys land in narrow leaves and widen them.
    if (kind < 4) key += String.fromCharCode(0x61 + rng.int(4));
    else if (kind < 6) key += String.fromCharCode(0x7e + rng.int(0x82)); // 0x7E-0xFF: DEL, C1, Latin-1
    else if (kind === 6) key += String.fromCharCode(0x100 + rng.int(0x200));
    else key += String.fromCharCode(0xd800 + rng.int(0x800));
  }
  return key;
}

describe("OrderedKeys holds one byte per unit below 256", () => {
  test("100,000 keys of the bench's shape take at most 20 bytes each", () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `key-${i}`);
    // "key-0".."key-99999": 9.9 units a key; leaves fill 3/4 (from sorted) to 1/2 (after splits) and grow by 1.25x.
    expect(OrderedKeys.fromSorted([...keys].sort()).bytes / keys.length).toBeLessThanOrEqual(20);
    expect(OrderedKeys.from(keys).bytes / keys.length).toBeLessThanOrEqual(20);
  });

  for (const seed of [21, 22, 23]) {
    test(`seed ${seed}: mixed narrow and wide keys keep JS string order through inserts, deletes and scans`, () => {
      const rng = createRng(seed);
      const keys = new OrderedKeys();
      const plain = new Set<string>();
      for (let op = 0; op < 20_000; op++) {
        const key = drawKey(rng);
        if (rng.int(3) === 0) expect(keys.delete(key)).toBe(plain.delete(key));
        else {
          expect(keys.insert(key)).toBe(!plain.has(key));
          plain.add(key);
        }
      }
      const sorted = [...plain].sort();
      expect(keys.size).toBe(sorted.length);
      expect([...keys.scan("")]).toEqual(sorted);
      for (let i = 0; i < 50; i++) {
        const from = drawKey(rng);
        expect([...keys.scan(from)]).toEqual(sorted.filter((k) => k >= from));
        expect([...keys.scan(from, true)]).toEqual(sorted.filter((k) => k > from));
      }
      for (const k of sorted) expect(keys.has(k)).toBe(true);
      expect([...OrderedKeys.fromSorted(sorted).scan("")]).toEqual(sorted);
      // Deleting down to a few keys merges widened and narrow leaves together.
      for (const k of sorted.slice(10)) keys.delete(k);
      expect([...keys.scan("")]).toEqual(sorted.slice(0, 10));
    });
  }
});
