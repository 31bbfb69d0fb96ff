// Goal: linearizable reads arriving in one driver turn cost one timer between them, not one
// each (issue 18: a timer per read was ~5% of a loaded leader's samples), and still time out,
// fail and succeed together, each exactly once.
// Method: raft/requests.ts's Reads on counting timers (the Timers seam).

import { expect, test } from "bun:test";
import type { Timers } from "../../../raft/host.ts";
import { Reads, RequestCounts, RequestError } from "../../../raft/requests.ts";

class CountingTimers implements Timers {
  readonly live = new Map<number, () => void>();
  set = 0;
  #next = 1;
  setTimeout(fn: () => void): unknown {
    this.set++;
    this.live.set(this.#next, fn);
    return this.#next++;
  }
  clearTimeout(handle: unknown): void {
    this.live.delete(handle as number);
  }
  fireAll(): void {
    const fns = [...this.live.values()];
    this.live.clear();
    for (const fn of fns) fn();
  }
}

function outcomes(): { done: (e: RequestError | null) => void; seen: (string | null)[] } {
  const seen: (string | null)[] = [];
  return { seen, done: (e) => seen.push(e === null ? null : e.reason) };
}

test("reads of one turn share one timer, and are served together once applied", () => {
  const timers = new CountingTimers();
  const reads = new Reads({ timers, timeoutMs: 100, waitingMax: 1000, ctxPrefix: "n1/x" });
  const o = outcomes();
  for (let i = 0; i < 100; i++) reads.readThen(o.done);
  expect(timers.set).toBe(1);
  const ctx = reads.takeOpen()!;
  reads.confirmed(ctx, 7, 5);
  expect(o.seen).toEqual([]);
  expect(reads.size).toBe(100);
  reads.applied(7);
  expect(o.seen).toEqual(Array(100).fill(null));
  expect(reads.size).toBe(0);
  expect(timers.live.size).toBe(0);
  // The next turn's reads get a batch (and a timer) of their own.
  reads.readThen(o.done);
  expect(timers.set).toBe(2);
});

test("a batch's timeout fails each of its reads once, and counts one failed request", () => {
  const timers = new CountingTimers();
  const counts = new RequestCounts();
  const reads = new Reads({ timers, timeoutMs: 100, waitingMax: 1000, ctxPrefix: "n1/x", counts });
  const asked = outcomes();
  for (let i = 0; i < 3; i++) reads.readThen(asked.done);
  const ctx = reads.takeOpen()!;
  const lease = outcomes();
  reads.atIndexThen(9, lease.done);
  timers.fireAll();
  expect(asked.seen).toEqual(["timeout", "timeout", "timeout"]);
  expect(lease.seen).toEqual(["timeout"]);
  expect([counts.readIndexRounds, counts.readIndexFailed]).toEqual([1, 1]);
  expect(reads.size).toBe(0);
  // A late answer for the expired request changes nothing.
  reads.confirmed(ctx, 1, 10);
  reads.applied(10);
  expect(asked.seen.length + lease.seen.length).toBe(4);
});

test("a dropped request fails its batch; the bound refuses at once", () => {
  const timers = new CountingTimers();
  const reads = new Reads({ timers, timeoutMs: 100, waitingMax: 2, ctxPrefix: "n1/x" });
  const o = outcomes();
  for (let i = 0; i < 3; i++) reads.readThen(o.done);
  expect(o.seen).toEqual(["full"]);
  reads.dropped(reads.takeOpen()!);
  expect(o.seen).toEqual(["full", "noLeader", "noLeader"]);
  expect(timers.live.size).toBe(0);
});
