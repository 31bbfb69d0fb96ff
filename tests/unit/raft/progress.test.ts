// Goal: Progress transitions (probe / replicate / snapshot) and the in-flight window.
// Method: drive one Progress through each transition and check flow control.
import { expect, test } from "bun:test";
import { Progress } from "../../../raft/core/progress.ts";

test("probe sends one append at a time; a success moves to pipelined replicate", () => {
  const pr = new Progress(11, 3);
  expect(pr.isPaused()).toBe(false);
  pr.sentEntries(12);
  expect(pr.isPaused()).toBe(true);
  expect(pr.maybeUpdate(12)).toBe(true);
  pr.becomeReplicate();
  expect(pr.nextIndex).toBe(13);
  pr.sentEntries(14);
  pr.sentEntries(16);
  pr.sentEntries(18);
  expect(pr.nextIndex).toBe(19);
  expect(pr.isPaused()).toBe(true); // window of 3 full
  pr.maybeUpdate(15);
  expect(pr.inflightCount()).toBe(2);
  expect(pr.isPaused()).toBe(false);
});

test("rejections: stale ones are ignored; a real one falls back to probe at the hint", () => {
  const pr = new Progress(11, 8);
  pr.maybeUpdate(10);
  pr.becomeReplicate();
  pr.sentEntries(20);
  expect(pr.maybeDecrTo(9, 5)).toBe(false); // below match: stale
  expect(pr.maybeDecrTo(15, 13)).toBe(true);
  expect(pr.state).toBe("probe");
  expect(pr.nextIndex).toBe(13);
  expect(pr.maybeDecrTo(20, 1)).toBe(false); // probe: only the outstanding probe counts
  expect(pr.maybeDecrTo(12, 1)).toBe(true);
  expect(pr.nextIndex).toBe(11); // never below match + 1
});

test("snapshot state pauses appends until the snapshot is acknowledged", () => {
  const pr = new Progress(5, 8);
  pr.becomeSnapshot(100);
  expect(pr.isPaused()).toBe(true);
  expect(pr.maybeDecrTo(4, 1)).toBe(false);
  pr.becomeProbe();
  expect(pr.nextIndex).toBe(101);
});
