// The real Ticker: a timer that turns monotonic time (performance.now) into Raft ticks.
// If the event loop was blocked, missed ticks are delivered late, but at most a few at once,
// so a long pause cannot fire several election timeouts in a row.

import type { Ticker } from "./host.ts";

/** Ticks delivered at most per timer callback, however long the loop was stalled. */
const catchUpTicksMax = 3;

/** A Ticker firing every `tickMs` milliseconds of monotonic time. */
export function createTicker(tickMs: number): Ticker {
  let timer: ReturnType<typeof setInterval> | null = null;
  return {
    start(onTick: () => void): void {
      let next = performance.now() + tickMs;
      timer = setInterval(() => {
        const now = performance.now();
        let count = 0;
        while (now >= next && count < catchUpTicksMax) {
          onTick();
          next += tickMs;
          count++;
        }
        // After a stall longer than the catch-up allowance, resynchronise with the clock.
        if (now >= next) next = now + tickMs;
      }, Math.max(1, Math.floor(tickMs / 2)));
    },
    stop(): void {
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}
