// Goal (issue 18): the writes a capture takes while a snapshot is encoded cost the event loop
// no turn that grows with them. At ten million keys the overlay holds hundreds of thousands to
// millions of keys; kept in JS Maps, a set that grew a Map rehashed all of it in one turn
// (traced at two million keys: Capture.set 80-90 ms of CPU inside one apply slice; a fold slice
// shrinking a Map ~30 ms), and every collection marked a string per key and value.
// Method: the production Capture over a PackedMap; the heap's object count (bun:jsc) before
// and after writing 100k keys through it; its `work` counter (the overlay's elements copied,
// allocated or visited) around every write and fold slice; a plain Map as the model.

import { heapStats } from "bun:jsc";
import { describe, expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { Capture } from "../../../store/capture.ts";
import { PackedMap } from "../../../store/packed_map.ts";

/** The most work one write or fold slice may do (packed_map_bounded.test.ts's bound). */
const opWorkMax = 2 ** 20;
const foldBudget = 2048;

function baseOf(n: number): PackedMap {
  const m = new PackedMap();
  for (let i = 0; i < n; i++) m.set(`k${i}`, `base${i}`, i + 1);
  return m;
}

describe("Capture's overlay", () => {
  test("keeps no JS object per key written through it", () => {
    const capture = new Capture(baseOf(1000));
    Bun.gc(true);
    const before = heapStats().objectCount;
    for (let i = 0; i < 100_000; i++) capture.set(`new-${i}-${i * 7}`, `value-${i}`, i + 1);
    for (let i = 0; i < 500; i++) capture.set(`k${i}`, `changed-${i}`, i + 1);
    for (let i = 500; i < 1000; i++) capture.delete(`k${i}`);
    Bun.gc(true);
    const grown = heapStats().objectCount - before;
    expect(capture.size).toBe(100_500);
    expect(capture.get("new-99999-699993")).toBe("value-99999");
    // A string per key and value would be 200k objects; segments are a few dozen.
    expect(grown).toBeLessThan(5_000);
  });

  test("no write or fold slice works more than a bound, with 400k keys in the overlay", () => {
    const n = 400_000;
    const base = baseOf(1000);
    const capture = new Capture(base);
    const workOf = (op: () => void): number => {
      const before = capture.work;
      op();
      return capture.work - before;
    };
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, workOf(() => capture.set(`key-${i}`, "value-0123456789", i + 1)));
    for (let i = 0; i < n; i += 3) worst = Math.max(worst, workOf(() => capture.delete(`key-${i}`)));
    expect(worst).toBeLessThanOrEqual(opWorkMax);
    let slices = 0;
    let done = false;
    while (!done) {
      worst = Math.max(worst, workOf(() => (done = capture.foldSome(foldBudget))));
      slices++;
    }
    expect(worst).toBeLessThanOrEqual(opWorkMax);
    expect(slices).toBeGreaterThan(n / 2 / foldBudget);
    expect(base.size).toBe(1000 + n - Math.ceil(n / 3));
  }, 60_000);

  test("folds in slices with writes between them, in plain-Map order", () => {
    for (const seed of [1, 2, 3, 4]) {
      const rng = createRng(seed);
      const base = baseOf(3000);
      const model = new Map<string, [string, number]>();
      for (const [k, v, ver] of base.entriesVersioned()) model.set(k, [v, ver]);
      const capture = new Capture(base);
      let version = 10_000;
      const write = (): void => {
        const r = rng.int(5);
        const key = r < 2 ? `k${rng.int(3000)}` : `n${rng.int(4000)}`;
        if (r === 4) {
          expect(capture.delete(key)).toBe(model.delete(key));
        } else {
          version++;
          capture.set(key, `v${version}`, version);
          model.set(key, [`v${version}`, version]);
        }
      };
      for (let i = 0; i < 8000; i++) write();
      while (!capture.foldSome(1 + rng.int(700))) for (let i = 0, n = rng.int(200); i < n; i++) write();
      // Folded: the base is the live view, in a plain Map's order.
      expect([...base.entriesVersioned()]).toEqual([...model].map(([k, [v, ver]]) => [k, v, ver]));
      expect(capture.size).toBe(model.size);
    }
  });
});

describe("PackedMap.shift", () => {
  test("takes entries oldest first, through deletes, reinserts and compaction passes", () => {
    const rng = createRng(7);
    const m = new PackedMap();
    const model = new Map<string, string>();
    for (let round = 0; round < 20_000; round++) {
      const r = rng.int(10);
      if (r < 5) {
        const key = `k${rng.int(3000)}`;
        const value = "x".repeat(rng.int(40));
        m.set(key, value, round);
        model.set(key, value);
      } else if (r < 7) {
        const key = `k${rng.int(3000)}`;
        expect(m.delete(key)).toBe(model.delete(key));
      } else {
        const first = model.entries().next();
        const got = m.shift();
        if (first.done === true) expect(got).toBeUndefined();
        else {
          model.delete(first.value[0]);
          expect(got?.slice(0, 2)).toEqual(first.value);
        }
      }
      expect(m.size).toBe(model.size);
    }
    expect([...m.entries()]).toEqual([...model]);
  });
});
