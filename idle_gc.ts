// A hint to the runtime's garbage collector once the node goes quiet after work. JavaScriptCore
// collects as the heap grows, but after a burst of writes (request bodies, encoded frames,
// snapshot chunks) an idle node otherwise keeps that garbage, and the pages under it, for as
// long as it stays idle. Measured at a million keys: resident memory 378 MB idle for minutes;
// 267 MB a few seconds after one hint. The hint itself costs about a millisecond (the work
// runs concurrently), and never happens while requests keep coming. Under Bun 1.4.5 it is an
// eden collection: it frees what was allocated since the last collection, not garbage an
// earlier collection already promoted (measured: 286 MB of dead objects promoted by a full
// collection stay after Bun.gc(false), 2 ms a call; Bun.gc(true) frees them but stops the loop,
// 80 ms there and 120-173 ms on a member holding 10 M keys, so a full one is not used).

import { unrefInterval } from "./raft/real_time.ts";

/** Options of startIdleGc. */
export interface IdleGcOptions {
  /** How often to look; a quiet period is one whole period without progress. */
  readonly periodMs: number;
  /** A counter that grows with work done (e.g. the last applied log index). */
  readonly progress: () => number;
  /** The hint: Bun.gc(false) under Bun. */
  readonly collect: () => void;
}

/** A running idle collector. */
export interface IdleGc {
  stop(): void;
}

/**
 * Calls `collect` once per quiet spell: when `progress` moved during one period and then did
 * not move during the next. Returns a handle to stop it; its timer never keeps the process alive.
 */
export function startIdleGc(options: IdleGcOptions): IdleGc {
  let last = options.progress();
  let workedSinceCollect = false;
  const stop = unrefInterval(() => {
    const now = options.progress();
    if (now !== last) {
      last = now;
      workedSinceCollect = true;
      return;
    }
    if (!workedSinceCollect) return;
    workedSinceCollect = false;
    options.collect();
  }, options.periodMs);
  return { stop };
}

/** The runtime's collector hint, or null where there is none (Deno without --v8-flags). */
export function runtimeGcHint(): (() => void) | null {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  return bun === undefined ? null : () => bun.gc(false);
}
