// The real Ticker: a timer that turns monotonic time (performance.now) into Raft ticks.
// If the event loop was blocked, missed ticks are delivered late, but at most a few at once,
// so a long pause cannot fire several election timeouts in a row.
//
// One timer per tick, each set for the moment the next tick is due: an interval of half a
// tick (the earlier design, to bound lateness) woke every process 200 times a second, and an
// idle 3-node cluster spent ~2.5% of a core per node on wake-ups alone.

import type { Clock, Ticker, Timers } from "./host.ts";
import { realClock, realTimers } from "./real_time.ts";

/** Ticks delivered at most per timer callback, however long the loop was stalled. */
const catchUpTicksMax = 3;

/**
 * A Ticker firing every `tickMs` milliseconds of `clock`'s time, on `timers` (the real ones by
 * default; the simulator passes its own, so its nodes tick exactly as real ones do).
 */
export function createTicker(tickMs: number, clock: Clock = realClock, timers: Timers = realTimers): Ticker {
  let timer: unknown = null;
  let isRunning = false;
  return {
    start(onTick: () => void): void {
      isRunning = true;
      let next = clock.now() + tickMs;
      const fire = (): void => {
        timer = null;
        if (!isRunning) return;
        const now = clock.now();
        let count = 0;
        while (now >= next && count < catchUpTicksMax) {
          onTick();
          if (!isRunning) return;
          next += tickMs;
          count++;
        }
        // After a stall longer than the catch-up allowance, resynchronise with the clock.
        if (now >= next) next = now + tickMs;
        // Timers may fire a little early; the next call then simply finds no tick due yet.
        timer = timers.setTimeout(fire, Math.max(1, Math.ceil(next - now)));
      };
      timer = timers.setTimeout(fire, tickMs);
    },
    stop(): void {
      isRunning = false;
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
    },
  };
}
