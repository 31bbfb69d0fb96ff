// Goal: the real Ticker delivers about one tick per tickMs of monotonic time, catches up after
// a blocked event loop with at most three ticks at once, and stops at once (also from inside a
// tick). Timings are loose bounds for a busy machine, checked on counts and spacing only.

import { expect, test } from "bun:test";
import { createTicker } from "../../../raft/ticker.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("about one tick per tickMs", async () => {
  const ticker = createTicker(10);
  const at: number[] = [];
  ticker.start(() => at.push(performance.now()));
  await sleep(305);
  ticker.stop();
  const count = at.length;
  expect(count).toBeGreaterThanOrEqual(20);
  expect(count).toBeLessThanOrEqual(31);
  await sleep(50);
  expect(at.length).toBe(count); // nothing after stop
});

test("a blocked loop is followed by at most three catch-up ticks in one go", async () => {
  const ticker = createTicker(10);
  const at: number[] = [];
  ticker.start(() => at.push(performance.now()));
  await sleep(35);
  const blockedFrom = performance.now();
  while (performance.now() - blockedFrom < 200); // 20 ticks' worth of a stalled loop
  const before = at.length;
  await sleep(1);
  const burst = at.filter((t) => t >= blockedFrom).length;
  expect(burst).toBeLessThanOrEqual(3);
  await sleep(100);
  ticker.stop();
  // Afterwards it ticks on from the present, not 20 ticks in arrears.
  expect(at.length - before).toBeLessThanOrEqual(3 + 12);
});

test("stop from inside a tick ends the ticks", async () => {
  const ticker = createTicker(5);
  let n = 0;
  ticker.start(() => {
    n++;
    if (n === 2) ticker.stop();
  });
  await sleep(100);
  expect(n).toBe(2);
});

test("one timer wake-up per tick, not more (an idle node must stay cheap)", async () => {
  const realSetTimeout = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    timers++;
    return realSetTimeout(fn, ms);
  }) as typeof setTimeout;
  const ticker = createTicker(10);
  let ticks = 0;
  try {
    ticker.start(() => ticks++);
    await new Promise((resolve) => realSetTimeout(resolve, 200));
  } finally {
    ticker.stop();
    globalThis.setTimeout = realSetTimeout;
  }
  expect(ticks).toBeGreaterThanOrEqual(10);
  expect(timers).toBeLessThanOrEqual(ticks + 3);
});
