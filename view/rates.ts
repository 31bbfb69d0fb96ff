// Write and read rates with latency percentiles, one point per second over the last five
// minutes, for the cluster view's charts. Read from the HTTP latency histograms the node keeps
// anyway (metrics/http_metrics.ts): a point is the difference between two readings of their
// cumulative bucket counts, so no request pays anything for it.
//
// The sampler's timer runs only while a page watches (issue 17: "costs the node nothing when
// nobody watches"): the first watcher takes a baseline reading and starts it, the last one to
// leave stops it; the points already taken stay until they age out of the window.

import type { Clock, Timers } from "../raft/host.ts";
import type { UiRatePoint } from "../ui/view_types.ts";
import { bucketQuantile } from "./quantile.ts";

/** Cumulative counts of one kind of request: per bucket (seconds), plus the slot above every bound. */
export interface LatencyCounts {
  readonly bounds: readonly number[];
  readonly counts: ArrayLike<number>;
  readonly count: number;
}

/** The histograms of one kind of request (e.g. POST /key and DELETE /key/:k are writes); absent ones are skipped. */
export type LatencySource = () => readonly (LatencyCounts | undefined)[];

/** One second, as the page's contract has it (`at`: wall-clock ms at the end of the second). */
export type RatePoint = UiRatePoint;

export interface RateSamplerOptions {
  readonly writes: LatencySource;
  readonly reads: LatencySource;
  readonly timers: Timers;
  /** Monotonic ms: the length of each interval. */
  readonly clock: Clock;
  /** Wall-clock ms: each point's `at`. */
  readonly wallClock: Clock;
  readonly intervalMs?: number;
  /** Points kept; default five minutes of seconds. */
  readonly pointsMax?: number;
}

/** One reading: every bucket summed over a kind's histograms. */
interface Reading {
  readonly bounds: readonly number[];
  readonly counts: Float64Array;
  readonly count: number;
}

export class RateSampler {
  readonly #o: RateSamplerOptions;
  readonly #intervalMs: number;
  readonly #pointsMax: number;
  readonly #points: RatePoint[] = [];
  #watchers = 0;
  #timer: unknown = null;
  #baseline: { at: number; writes: Reading | null; reads: Reading | null } | null = null;

  constructor(options: RateSamplerOptions) {
    this.#o = options;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#pointsMax = options.pointsMax ?? 300;
  }

  /** A page starts watching; call the returned function once when it stops. */
  watch(): () => void {
    this.#watchers++;
    if (this.#watchers === 1) {
      this.#baseline = this.#read();
      this.#arm();
    }
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      this.#watchers--;
      if (this.#watchers === 0 && this.#timer !== null) {
        this.#o.timers.clearTimeout(this.#timer);
        this.#timer = null;
        this.#baseline = null;
      }
    };
  }

  get watchers(): number {
    return this.#watchers;
  }

  /** The points of the window, oldest first. */
  points(): readonly RatePoint[] {
    return this.#points;
  }

  #arm(): void {
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = null;
      if (this.#watchers === 0) return;
      this.#sample();
      this.#arm();
    }, this.#intervalMs);
  }

  #sample(): void {
    const before = this.#baseline;
    const now = this.#read();
    this.#baseline = now;
    if (before === null) return;
    const seconds = (now.at - before.at) / 1000;
    if (!(seconds > 0)) return;
    const writes = difference(now.writes, before.writes);
    const reads = difference(now.reads, before.reads);
    this.#points.push({
      at: Math.round(this.#o.wallClock.now()),
      writesPerS: round(writes.count / seconds),
      readsPerS: round(reads.count / seconds),
      writeP50Ms: quantileMs(writes, 0.5),
      writeP99Ms: quantileMs(writes, 0.99),
      readP50Ms: quantileMs(reads, 0.5),
      readP99Ms: quantileMs(reads, 0.99),
    });
    if (this.#points.length > this.#pointsMax) this.#points.splice(0, this.#points.length - this.#pointsMax);
  }

  #read(): { at: number; writes: Reading | null; reads: Reading | null } {
    return { at: this.#o.clock.now(), writes: sum(this.#o.writes()), reads: sum(this.#o.reads()) };
  }
}

function sum(sources: readonly (LatencyCounts | undefined)[]): Reading | null {
  const first = sources.find((s) => s !== undefined);
  if (first === undefined) return null;
  const counts = new Float64Array(first.counts.length);
  let count = 0;
  for (const s of sources) {
    // Histograms of one family share their bounds; another's would not add up bucket by bucket.
    if (s === undefined || (s.bounds !== first.bounds && s.bounds.join() !== first.bounds.join())) continue;
    for (let i = 0; i < counts.length; i++) counts[i] = counts[i]! + s.counts[i]!;
    count += s.count;
  }
  return { bounds: first.bounds, counts, count };
}

/** now − before, bucket by bucket (a histogram that appeared meanwhile counts from zero). */
function difference(now: Reading | null, before: Reading | null): { bounds: readonly number[]; counts: Float64Array; count: number } {
  if (now === null) return { bounds: [], counts: new Float64Array(0), count: 0 };
  const counts = Float64Array.from(now.counts);
  if (before !== null && before.counts.length === counts.length) for (let i = 0; i < counts.length; i++) counts[i]! -= before.counts[i]!;
  return { bounds: now.bounds, counts, count: now.count - (before?.count ?? 0) };
}

function quantileMs(d: { bounds: readonly number[]; counts: Float64Array; count: number }, q: number): number | null {
  const seconds = bucketQuantile(d.bounds, d.counts, q);
  return seconds === null ? null : round(seconds * 1000);
}

/** Three significant decimals are plenty for a chart. */
function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
