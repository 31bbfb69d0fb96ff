// A hint to the runtime's garbage collector once the node goes quiet after work. JavaScriptCore
// collects as the heap grows, but after a burst of writes (request bodies, encoded frames,
// snapshot chunks) an idle node otherwise keeps that garbage, and the pages under it, for as
// long as it stays idle. Measured at a million keys: resident memory 378 MB idle for minutes;
// 267 MB a few seconds after one hint. The hint itself costs about a millisecond (the work
// runs concurrently), and never happens while requests keep coming.

import { unrefInterval } from "./raft/real_time.ts";

/** Options of startIdleGc. */
export interface IdleGcOptions {
  /** How often to look; a quiet period is one whole period without progress. */
  readonly periodMs: number;
  /** A counter that grows with work done (e.g. the last applied log index). */
  readonly progress: () => number;
  /** The hint: Bun.gc(false) under Bun. */
  readonly collect: () => void;
  /**
   * A full, synchronous collection that also hands freed memory back (Bun.gc(true)), with the
   * process's size (resident bytes) to decide when it is worth its pause: taken instead of the
   * hint when the size grew by `fullAfterGrowthBytes` since the last full one. Why: after a
   * bulk load the hint left about half of a node's resident memory as garbage for tens of
   * seconds (3 M keys: 443-590 MiB on one member 10 s after, ~285 once collected), but a full
   * collection costs ~25-30 ms at ten million keys even with no garbage, so it is not taken
   * after every quiet spell, only after growth: once after a burst.
   */
  readonly full?: { readonly size: () => number; readonly collect: () => void; readonly afterGrowthBytes: number };
}

/** A running idle collector. */
export interface IdleGc {
  stop(): void;
}

/**
 * Calls `collect` (or `full.collect`, see IdleGcOptions.full) once per quiet spell: when
 * `progress` moved during one period and then did not move during the next. Returns a handle to stop it; its timer never keeps the process alive.
 */
export function startIdleGc(options: IdleGcOptions): IdleGc {
  let last = options.progress();
  let workedSinceCollect = false;
  const full = options.full;
  let sizeAfterFull = full?.size() ?? 0;
  const stop = unrefInterval(() => {
    const now = options.progress();
    if (now !== last) {
      last = now;
      workedSinceCollect = true;
      return;
    }
    if (!workedSinceCollect) return;
    workedSinceCollect = false;
    if (full !== undefined && full.size() - sizeAfterFull >= full.afterGrowthBytes) {
      full.collect();
      sizeAfterFull = full.size();
    } else {
      options.collect();
    }
  }, options.periodMs);
  return { stop };
}

/** The runtime's collector hint, or null where there is none (Deno without --v8-flags). */
export function runtimeGcHint(): (() => void) | null {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  return bun === undefined ? null : () => bun.gc(false);
}

/** The runtime's full, synchronous collection, or null where there is none. */
export function runtimeFullGc(): (() => void) | null {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  return bun === undefined ? null : () => bun.gc(true);
}
