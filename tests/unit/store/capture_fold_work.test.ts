// Goal (issue 18, pauses while snapshotting at ten million keys): a slice of a snapshot
// capture's fold (Capture.foldSome, one per turn of the event loop) does a bounded amount of
// work in the map it folds into, not a bounded number of writes alone. Traced at 10 M keys
// (bench/stall_snapshot.ts 10000000 with STALL_CPU_PROF=1): the fold was the first cause of
// the members' stalls over 20 ms while they snapshotted, slices of 2,048 writes taking 20-60
// ms, most of it the map's incremental rehash (#migrateSome: every write moves 64 slots of the
// old index, each a random access at that size) and its lookups.
// Method: the production PackedMap, grown until a rehash is under way, under a Capture whose
// overlay holds overwrites of its keys; PackedMap.work (elements copied, allocated or visited)
// read around each slice; no timing.

import { expect, test } from "bun:test";
import { Capture } from "../../../store/capture.ts";
import { PackedMap } from "../../../store/packed_map.ts";
import { captureFoldSliceEntries, captureFoldSliceWork } from "../../../store/state_machine.ts";

/**
 * A map whose index is being rehashed (the last insert moved old slots and allocated nothing
 * big), under a capture holding keys written while it was encoded: some overwritten (folded in
 * place), more new (folded as inserts, each moving the rehash on), as while a growing store
 * snapshots. The same every call, so a twin shows what each write of the fold costs alone.
 */
function captureMidRehash(overwritten: number, added: number): { map: PackedMap; capture: Capture<PackedMap>; keys: number } {
  const map = new PackedMap();
  let keys = 0;
  for (let i = 0; keys === 0; i++) {
    const before = map.work;
    map.set(`key-${i}`, "value-0123456789", i + 1);
    const work = map.work - before;
    if (i > 100_000 && work >= 64 && work < 4096) keys = i + 1;
  }
  const capture = new Capture(map);
  for (let i = 0; i < overwritten; i++) capture.set(`key-${i}`, `new-${i}`, keys + i + 1);
  for (let i = 0; i < added; i++) capture.set(`added-${i}`, `a-${i}`, keys + overwritten + i + 1);
  return { map, capture, keys };
}

/** Runs `fold` until the overlay is empty; the slices and the most work one did in `map`. */
function foldAll(map: PackedMap, fold: () => boolean): { slices: number; worst: number } {
  let slices = 0;
  let worst = 0;
  for (let done = false; !done; slices++) {
    const before = map.work;
    done = fold();
    worst = Math.max(worst, map.work - before);
  }
  return { slices, worst };
}

test("a fold slice stops once it has done captureFoldSliceWork in the map, even mid-rehash; the fold still ends with the map a plain Map's", () => {
  const overwritten = captureFoldSliceEntries;
  const added = 4 * captureFoldSliceEntries;
  // The twin, a write at a time: the most one write of this fold costs (its rehash step, and at
  // times an index page or entry segment it allocates, or a rehash it starts).
  const twin = captureMidRehash(overwritten, added);
  const oneWrite = foldAll(twin.map, () => twin.capture.foldSome(1)).worst;

  const { map, capture, keys } = captureMidRehash(overwritten, added);
  const { slices, worst } = foldAll(map, () => capture.foldSome(captureFoldSliceEntries, captureFoldSliceWork));
  // A slice ends at most one write past the budget.
  expect(worst).toBeLessThanOrEqual(captureFoldSliceWork + oneWrite);
  // The rehash made slices smaller than captureFoldSliceEntries writes.
  expect(slices).toBeGreaterThan((overwritten + added) / captureFoldSliceEntries + 1);

  expect(map.size).toBe(keys + added);
  for (let i = 0; i < keys; i++) {
    expect(map.get(`key-${i}`)).toBe(i < overwritten ? `new-${i}` : "value-0123456789");
  }
  let at = 0;
  for (const [k, v] of map.entries()) {
    // Overwrites keep their places; new keys follow in the order they were written.
    if (at < keys) expect(k).toBe(`key-${at}`);
    else expect([k, v]).toEqual([`added-${at - keys}`, `a-${at - keys}`]);
    at++;
  }
});
