// Goal (issue 17: "costs the node nothing when nobody watches"): the rates sampler sets no
// timer while no page watches, takes one point per second while one does, with rates and
// percentiles from the growth of the HTTP histograms, keeps five minutes of points, and stops
// when the last page leaves.
// Method: RateSampler (view/rates.ts) on a real metrics HistogramChild and hand-moved time.

import { expect, test } from "bun:test";
import { exponentialBuckets, HistogramChild } from "../../../metrics/histogram.ts";
import { RateSampler } from "../../../view/rates.ts";
import { ManualTime } from "./manual_time.ts";

function sampler(time: ManualTime, writes: HistogramChild, reads: HistogramChild): RateSampler {
  return new RateSampler({ writes: () => [writes, undefined], reads: () => [reads], timers: time, clock: time, wallClock: time });
}

test("no timer while no page watches; one point per second while one does; none after it leaves", () => {
  const time = new ManualTime();
  const writes = new HistogramChild(exponentialBuckets(0.0001, 2, 18));
  const reads = new HistogramChild(exponentialBuckets(0.0001, 2, 18));
  const s = sampler(time, writes, reads);
  for (let i = 0; i < 100; i++) writes.observe(0.001);
  time.advance(10_000);
  expect(time.set).toBe(0);
  expect(s.points()).toEqual([]);
  const leave = s.watch();
  for (let i = 0; i < 50; i++) writes.observe(0.0005);
  for (let i = 0; i < 20; i++) reads.observe(0.0002);
  time.advance(1_000);
  expect(s.points().length).toBe(1);
  const p = s.points()[0]!;
  expect(p.writesPerS).toBe(50);
  expect(p.readsPerS).toBe(20);
  expect(p.writeP50Ms).toBeGreaterThan(0.4);
  expect(p.writeP50Ms).toBeLessThanOrEqual(0.8);
  expect(p.readP99Ms).toBeLessThanOrEqual(0.2);
  time.advance(4_000);
  expect(s.points().length).toBe(5);
  expect(s.points()[4]!.writesPerS).toBe(0);
  expect(s.points()[4]!.writeP50Ms).toBeNull();
  leave();
  leave();
  expect(s.watchers).toBe(0);
  expect(time.pending).toBe(0);
  const setBefore = time.set;
  time.advance(60_000);
  expect(time.set).toBe(setBefore);
  expect(s.points().length).toBe(5);
});

test("two pages share one timer; the window keeps the last five minutes of points", () => {
  const time = new ManualTime();
  const s = sampler(time, new HistogramChild([1]), new HistogramChild([1]));
  const a = s.watch();
  const b = s.watch();
  expect(time.pending).toBe(1);
  a();
  time.advance(400_000);
  expect(s.points().length).toBe(300);
  b();
  expect(time.pending).toBe(0);
});
