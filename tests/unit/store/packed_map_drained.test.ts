// Goal (issue 18: no event-loop pause above 20 ms while snapshotting ten million keys): going
// through a map that was drained from its front (PackedMap.shift) costs nothing for the entries
// it gave up. A snapshot's capture folds its overlay back a slice at a time by shifting it
// empty (Capture.foldSome), then folds what is left at once (Capture.fold, in
// KvStateMachine's release of the capture). A capture taken at the start of a ten-million-key
// load held every key written meanwhile, millions of them; the final fold then stepped over
// every one of their dead ids in one turn: traced in a member (bench/stall_snapshot.ts,
// perf with the JIT's map) and in-process (1.9 M overlay keys: 25-50 ms, the longest turn of
// the whole snapshot).
// Method: the production PackedMap and Capture; packedMapScans counts the ids an iteration
// steps over (alive or dead), so the cost is read without timing anything.

import { describe, expect, test } from "bun:test";
import { Capture } from "../../../store/capture.ts";
import { PackedMap, packedMapScans } from "../../../store/packed_map.ts";

const n = 20_000;

/** A map of n keys, then `shifted` of them taken from its front. */
function drained(shifted: number): PackedMap {
  const m = new PackedMap();
  for (let i = 0; i < n; i++) m.set(`k${i}`, `v${i}`, i + 1);
  for (let i = 0; i < shifted; i++) m.shift();
  return m;
}

/** Ids stepped over by `go`. */
function scanned(go: () => void): number {
  const before = packedMapScans.ids;
  go();
  return packedMapScans.ids - before;
}

describe("a PackedMap drained from its front", () => {
  test("is iterated without stepping over the ids it gave up", () => {
    const empty = drained(n);
    expect(scanned(() => expect([...empty.entries()]).toEqual([]))).toBe(0);
    expect(scanned(() => expect([...empty.entriesVersioned()]).toEqual([]))).toBe(0);
    expect(scanned(() => expect(empty.visitUnits(0, () => true)).toBe(-1))).toBe(0);
  });

  test("still gives every entry it holds, in order, stepping over those alone", () => {
    const m = drained(n - 3);
    const want = [n - 3, n - 2, n - 1].map((i): [string, string, number] => [`k${i}`, `v${i}`, i + 1]);
    expect(scanned(() => expect([...m.entriesVersioned()]).toEqual(want))).toBe(3);
    expect(scanned(() => expect([...m.entries()]).toEqual(want.map(([k, v]) => [k, v])))).toBe(3);
    const keys: string[] = [];
    const visit = (units: Uint8Array | string, at: number, length: number): boolean => {
      keys.push(typeof units === "string" ? units : Buffer.from(units.subarray(at, at + length)).toString("latin1"));
      return true;
    };
    expect(scanned(() => expect(m.visitUnits(0, visit)).toBe(-1))).toBe(3);
    expect(keys).toEqual(want.map(([k]) => k));
  });
});

describe("a capture whose overlay was folded back a slice at a time", () => {
  test("folds the rest without stepping over the overlay's dead ids", () => {
    const base = new PackedMap();
    for (let i = 0; i < 1000; i++) base.set(`k${i}`, "base", i + 1);
    const capture = new Capture(base);
    // Overwrites (the overlay's changed keys) and new keys (its added ones), as under load.
    for (let i = 0; i < 1000; i++) capture.set(`k${i}`, "new", 2000 + i);
    for (let i = 0; i < n; i++) capture.set(`n${i}`, "added", 5000 + i);
    while (!capture.foldSome(2048));
    expect(scanned(() => expect(capture.fold()).toBe(base))).toBe(0);
    expect(base.size).toBe(1000 + n);
    expect(base.get("k7")).toBe("new");
    expect(base.get(`n${n - 1}`)).toBe("added");
  });
});
