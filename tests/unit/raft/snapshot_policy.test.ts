// Goal: the local snapshot trigger. Small states snapshot every `threshold` entries; past the
// floor, the log must also have grown by a share of the last snapshot, so snapshot work stays
// proportional to bytes written rather than to the state's size.

import { describe, expect, test } from "bun:test";
import { logEntryCostBytes, SnapshotPolicy, snapshotBytesFloor, snapshotGrowthShare, snapshotLogBytesMax } from "../../../raft/snapshot_policy.ts";

test("below the floor, the entry threshold alone decides", () => {
  const p = new SnapshotPolicy({ thresholdEntries: 100, startBytes: 0 });
  expect(p.isDue(99)).toBe(false);
  expect(p.isDue(100)).toBe(true);
  p.taken(snapshotBytesFloor - 1, 0);
  expect(p.isDue(100)).toBe(true);
});

test("past the floor, a snapshot waits for log bytes of a share of the last one", () => {
  const last = 40 * 1024 * 1024;
  const p = new SnapshotPolicy({ thresholdEntries: 100, startBytes: last });
  const needed = last * snapshotGrowthShare;
  p.applied(needed - 1);
  expect(p.isDue(1_000_000)).toBe(false);
  p.applied(1);
  expect(p.isDue(99)).toBe(false);
  expect(p.isDue(100)).toBe(true);
});

test("bytes applied after the capture count toward the next snapshot", () => {
  const p = new SnapshotPolicy({ thresholdEntries: 1, startBytes: 0 });
  p.applied(500);
  const atCapture = p.appliedBytes;
  p.applied(300);
  p.taken(8 * 1024 * 1024, p.appliedBytes - atCapture);
  expect(p.appliedBytes).toBe(300);
  expect(p.isDue(10)).toBe(false);
  p.applied(2 * 1024 * 1024 - 300);
  expect(p.isDue(10)).toBe(true);
});

describe("the interval between snapshots (hashicorp/raft's SnapshotInterval)", () => {
  const ticked = (p: SnapshotPolicy, n: number): SnapshotPolicy => {
    for (let i = 0; i < n; i++) p.tick();
    return p;
  };

  test("entries past the threshold wait until the interval has passed since the last snapshot", () => {
    const p = new SnapshotPolicy({ thresholdEntries: 10, startBytes: 0, intervalTicks: 100 });
    expect(ticked(p, 99).isDue(1_000)).toBe(false);
    expect(ticked(p, 1).isDue(1_000)).toBe(true);
    expect(p.isDue(9)).toBe(false);
    p.taken(1000, 0);
    expect(p.isDue(1_000)).toBe(false);
    expect(ticked(p, 100).isDue(1_000)).toBe(true);
  });

  test("each wait is drawn from [t, 2t), and so is the log's bound from [max / 2, max)", () => {
    const draws = [0, 2 ** 31, 2 ** 32 - 1];
    const p = new SnapshotPolicy({ thresholdEntries: 1, startBytes: 0, intervalTicks: 100, logBytesMax: 1000, random: () => draws.shift()! });
    expect(ticked(p, 99).isDue(1)).toBe(false);
    expect(ticked(p, 1).isDue(1)).toBe(true);
    p.taken(10, 0);
    expect(ticked(p, 149).isDue(1)).toBe(false);
    expect(ticked(p, 1).isDue(1)).toBe(true);
    p.taken(10, 0);
    expect(ticked(p, 198).isDue(1)).toBe(false);
    expect(ticked(p, 1).isDue(1)).toBe(true);
  });

  test("a log past its byte bound (data and a cost per entry) ends the wait", () => {
    const p = new SnapshotPolicy({ thresholdEntries: 1, startBytes: 0, intervalTicks: 1_000_000, logBytesMax: 100_000 });
    // No draw: the bound is max / 2.
    p.applied(50_000 - 10 * logEntryCostBytes - 1);
    expect(p.isDue(10)).toBe(false);
    p.applied(1);
    expect(p.isDue(10)).toBe(true);
    expect(snapshotLogBytesMax).toBe(32 * 1024 * 1024);
  });

  test("the growth rule of a large state still holds when the interval has passed", () => {
    const last = 40 * 1024 * 1024;
    const p = new SnapshotPolicy({ thresholdEntries: 1, startBytes: last, intervalTicks: 10 });
    expect(ticked(p, 10).isDue(100)).toBe(false);
    p.applied(last * snapshotGrowthShare);
    expect(p.isDue(100)).toBe(true);
  });

  test("no interval: no draw from the random source, ticks change nothing", () => {
    let draws = 0;
    const p = new SnapshotPolicy({ thresholdEntries: 10, startBytes: 0, random: () => draws++ });
    expect(p.isDue(10)).toBe(true);
    p.taken(10, 0);
    expect(p.isDue(10)).toBe(true);
    expect(draws).toBe(0);
  });
});
