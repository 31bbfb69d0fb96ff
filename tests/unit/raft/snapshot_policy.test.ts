// Goal: the local snapshot trigger. Small states snapshot every `threshold` entries; past the
// floor, the log must also have grown by a share of the last snapshot, so snapshot work stays
// proportional to bytes written rather than to the state's size.

import { expect, test } from "bun:test";
import { SnapshotPolicy, snapshotBytesFloor, snapshotGrowthShare } from "../../../raft/snapshot_policy.ts";

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
