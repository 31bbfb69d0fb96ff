// Goal (issue 18): no single PackedMap operation does work that grows with the map. At ten
// million keys a set() that crossed a power of two copied hundreds of MB (the chars array, the
// entry arrays) and rebuilt the whole hash index in one turn of the event loop; compaction
// copied everything at once. Now growth, rehash and compaction are spread over the operations
// that cause them, and the map still behaves exactly like a Map meanwhile (order included),
// through rehashes and compaction passes that overlap, and with strings of every size.
// Method: the production PackedMap; its `work` counter (elements copied, allocated or visited
// by growth, rehash and compaction) read before and after every operation; no timing. The
// map is ten times the bound: 400k keys of the bench's shape hold ~11 M code units and an
// index of 1 Mi slots.

import { describe, expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { PackedMap } from "../../../store/packed_map.ts";

/** The most work one operation may do: a few segments and index pages (see packed_map.ts). */
const opWorkMax = 2 ** 20;

/** Runs `op` and returns the work it did. */
function workOf(m: PackedMap, op: () => void): number {
  const before = m.work;
  op();
  return m.work - before;
}

/** Same size, same pairs in the same order, and every key found (without building huge arrays). */
function same(packed: PackedMap, plain: Map<string, string>, where: string): void {
  expect(packed.size, where).toBe(plain.size);
  const it = plain.entries();
  let mismatches = 0;
  let first = "";
  for (const [k, v] of packed.entries()) {
    const next = it.next();
    if (next.done === true || next.value[0] !== k || next.value[1] !== v) {
      if (mismatches++ === 0) first = `${k}=${v.slice(0, 20)} vs ${next.done === true ? "(end)" : `${next.value[0]}=${next.value[1].slice(0, 20)}`}`;
    }
  }
  expect(first, where).toBe("");
  let missing = 0;
  for (const [k, v] of plain) if (packed.get(k) !== v) missing++;
  expect(missing, where).toBe(0);
}

describe("PackedMap: bounded work per operation", () => {
  test("inserting, overwriting and deleting 400k keys: no operation works more than a bound ten times below the map", () => {
    const n = 400_000;
    const m = new PackedMap();
    const plain = new Map<string, string>();
    let worst = 0;
    const value = "value-0123456789";
    // 1. Insert (segments added, the index rehashed from 128 slots to 1 Mi).
    for (let i = 0; i < n; i++) {
      worst = Math.max(worst, workOf(m, () => m.set(`key-${i}`, value, i + 1)));
      plain.set(`key-${i}`, value);
    }
    expect(worst).toBeLessThanOrEqual(opWorkMax);
    same(m, plain, "after the inserts");
    // 2. Overwrite every key twice with longer values: most units die, compaction passes copy.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < n; i++) {
        const v = `${value}-${round}-${i}`;
        worst = Math.max(worst, workOf(m, () => m.set(`key-${i}`, v, n + i)));
        plain.set(`key-${i}`, v);
      }
    }
    expect(worst).toBeLessThanOrEqual(opWorkMax);
    same(m, plain, "after the overwrites");
    // 3. Delete 95% (ids compaction, the index shrinks), then insert again.
    for (let i = 0; i < n; i++) {
      if (i % 20 === 7) continue;
      worst = Math.max(worst, workOf(m, () => m.delete(`key-${i}`)));
      plain.delete(`key-${i}`);
    }
    same(m, plain, "after the deletes");
    for (let i = 0; i < n / 2; i++) {
      worst = Math.max(worst, workOf(m, () => m.set(`again-${i}`, value)));
      plain.set(`again-${i}`, value);
    }
    same(m, plain, "after inserting again");
    expect(worst).toBeLessThanOrEqual(opWorkMax);
    // The work itself is all there (the counter counts): at least the units and slots moved.
    expect(m.work).toBeGreaterThan(n * 20);
    expect(m.versionOf("key-7")).toBe(n + 7);
  }, 120_000);

  test("reserve: an empty map sized for its pairs ahead holds them with no rehash", () => {
    const n = 100_000;
    const reserved = new PackedMap();
    reserved.reserve(n);
    const grown = new PackedMap();
    for (let i = 0; i < n; i++) {
      reserved.set(`k${i}`, `v${i}`);
      grown.set(`k${i}`, `v${i}`);
    }
    // Without a rehash, the slots a rehash moves (about 2n over the doublings) are not worked.
    expect(grown.work - reserved.work).toBeGreaterThan(n);
    expect(reserved.size).toBe(n);
    for (let i = 0; i < n; i += 997) expect(reserved.get(`k${i}`)).toBe(`v${i}`);
    expect([...reserved.entries()].slice(0, 3)).toEqual([["k0", "v0"], ["k1", "v1"], ["k2", "v2"]]);
  });

  for (const seed of [11, 12, 13, 14]) {
    test(`seeded workload ${seed}: a Map's behaviour after every step while rehashes and compaction passes overlap`, () => {
      const rng = createRng(seed);
      const packed = new PackedMap();
      const plain = new Map<string, string>();
      // Sizes that cross rehashes and trigger passes often; strings up to past the large-string size.
      const keySpace = [300, 3_000, 30_000, 9_000][seed % 4]!;
      const stringOf = (prefix: string): string => {
        const r = rng.int(40);
        if (r === 0) return "";
        if (r === 1) return prefix.repeat(1 + rng.int(12_000)); // around 8,192 units: both sides of it
        if (r === 2) return String.fromCharCode(0xd800 + rng.int(0x800));
        return `${prefix}${rng.int(1_000_000)}`;
      };
      for (let step = 0; step < 60_000; step++) {
        const key = rng.int(50) === 0 ? stringOf("K") : `k${rng.int(keySpace)}`;
        const op = rng.int(10);
        if (op < 5) {
          const v = stringOf("v");
          packed.set(key, v, step);
          plain.set(key, v);
        } else if (op < 8) {
          expect(packed.delete(key)).toBe(plain.delete(key));
        } else {
          expect(packed.get(key)).toBe(plain.get(key));
          expect(packed.has(key)).toBe(plain.has(key));
        }
        if (step % 2_000 === 0) same(packed, plain, `seed ${seed} step ${step}`);
      }
      same(packed, plain, `seed ${seed} at the end`);
      // Grow from nearly empty to past the old size and back, checking as it goes.
      for (const key of [...plain.keys()]) {
        packed.delete(key);
        plain.delete(key);
      }
      same(packed, plain, `seed ${seed} emptied`);
      for (let i = 0; i < 5 * keySpace; i++) {
        packed.set(`r${i}`, `${i}`);
        plain.set(`r${i}`, `${i}`);
        if (i % 4_999 === 0) same(packed, plain, `seed ${seed} refill ${i}`);
      }
      same(packed, plain, `seed ${seed} refilled`);
    }, 60_000);
  }

  test("large keys and values (held as strings) through overwrites, deletes and compaction", () => {
    const m = new PackedMap();
    const plain = new Map<string, string>();
    const big = (c: string, n: number): string => c.repeat(n);
    for (let i = 0; i < 200; i++) {
      const k = i % 3 === 0 ? `${big("k", 9_000)}${i}` : `k${i}`;
      const v = i % 2 === 0 ? big(String.fromCharCode(97 + (i % 26)), 8_192 + i) : `small${i}`;
      m.set(k, v);
      plain.set(k, v);
    }
    for (let round = 0; round < 30; round++) {
      for (const k of [...plain.keys()]) {
        const v = (round + k.length) % 2 === 0 ? big("x", 8_191 + round) : big("y", 8_192 + round);
        m.set(k, v);
        plain.set(k, v);
      }
      for (const k of [...plain.keys()].filter((_, j) => j % 7 === round % 7)) {
        m.delete(k);
        plain.delete(k);
        m.set(k, "back");
        plain.set(k, "back");
      }
      same(m, plain, `round ${round}`);
    }
  });
});
