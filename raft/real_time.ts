// The real clock, timers and scheduler: the only code outside main.ts that reads the time or
// sets a timer (tests/unit/arch.test.ts holds everything else to that). The simulator swaps
// in its own (tests/sim/world/sim_process.ts), so the same node runs under simulated time.

import type { Clock, Scheduler, Timers } from "./host.ts";

/** Monotonic milliseconds (never wall time: timeouts must not jump with the calendar). */
export const realClock: Clock = {
  now: () => performance.now(),
};

/**
 * Wall-clock milliseconds since 1970 that never go back within a process: the time origin
 * (read once, at process start) plus monotonic time. Only for stamps that must be comparable
 * across processes (store/sessions.ts's log clock), never for timeouts.
 */
export const realWallClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
};

/** The runtime's timers. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Work for right after the current turn of the event loop. */
export const realScheduler: Scheduler = {
  defer: (fn) => {
    setImmediate(fn);
  },
};

/**
 * Runs `fn` once the current synchronous run is over, before any I/O (a microtask): the TCP
 * transport gathers the frames one Ready sends into one socket write this way.
 */
export function endOfTurn(fn: () => void): void {
  queueMicrotask(fn);
}

/**
 * A repeating timer that never keeps the process alive (the idle collector's), stopped by
 * the returned function.
 */
export function unrefInterval(fn: () => void, ms: number): () => void {
  const timer = setInterval(fn, ms);
  (timer as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
}

/** Wall-clock time as ISO 8601 UTC, for log lines only (never for timeouts). */
export function wallClockIso(): string {
  return new Date().toISOString();
}
