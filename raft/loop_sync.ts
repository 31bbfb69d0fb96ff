// When a sync may run on the event loop, as far as the disk's recent speed says (issue 18: no
// pause above 20 ms while snapshotting or installing at ten million keys).
//
// A follower syncs its appends on the loop, and a leader its lone small write (RaftNode.handle):
// on an idle disk that costs less than the thread pool's round trip. But the disk is shared: the
// other members of a cluster on one machine flush their snapshots (hundreds of MB) to it at
// about the same time, and an fdatasync, which must wait for its journal commit and the device's
// cache flush, then waited behind their writeback with the loop held: 70 and 320 ms on a follower
// whose own snapshot was already saved (perf trace, bench/stall_snapshot.ts 10000000). This node
// cannot see other processes' writes, only how long its own last sync on the loop took: one over
// loopSyncSlowMs sends every sync off the loop until loopSyncQuietMs have passed since, then the
// next sync on the loop probes the disk again. The syncs this rule sends off the loop are timed
// too (issue to completion): one over loopSyncSlowMs restarts the window, so a disk that stays
// busy keeps them off without a blocking probe each window (at ten million keys on a busy disk
// such probes held followers' loops 20-494 ms, 16-17 over 20 ms per follower in one run). An
// off-loop time also counts the thread pool's hop and the loop's delay in taking the
// completion: it can only keep syncs off the loop longer, which costs about a millisecond of
// latency each, never a pause. Durability is untouched: either way the entries are
// acknowledged only once synced.

import type { Clock } from "./host.ts";

/** A sync on the loop longer than this says the disk is busy with more than our own records. */
export const loopSyncSlowMs = 10;
/**
 * How long syncs stay off the loop after a slow one. A snapshot's writeback at ten million
 * keys lasts seconds, so a window this long costs about one slow sync on the loop per second
 * of it; on an idle disk, where slow syncs are rare, the pool's extra cost is paid seldom.
 */
export const loopSyncQuietMs = 1_000;

/** The rule above, timed on `clock` (none: never timed, every sync may run on the loop). */
export class LoopSyncGate {
  /** Syncs on the loop found slow. */
  slow = 0;
  /** Syncs sent off the loop by this rule alone. */
  sentOffLoop = 0;
  #closedUntil = -Infinity;

  constructor(private readonly clock: Clock | null) {}

  /** Whether a sync may run on the loop now. */
  isOpen(): boolean {
    return this.clock === null || this.clock.now() >= this.#closedUntil;
  }

  /**
   * Counts a sync that would have run on the loop but for this rule; returns what to call when
   * it completes, which closes the gate again if it was slow.
   */
  sentOff(): () => void {
    this.sentOffLoop++;
    if (this.clock === null) return () => undefined;
    const clock = this.clock;
    const start = clock.now();
    return () => this.#took(start, clock.now());
  }

  /** Runs `sync` (a blocking sync on the loop), closing the gate if it was slow. */
  timed(sync: () => void): void {
    if (this.clock === null) return sync();
    const start = this.clock.now();
    sync();
    this.#took(start, this.clock.now());
  }

  #took(start: number, end: number): void {
    if (end - start <= loopSyncSlowMs) return;
    this.slow++;
    this.#closedUntil = Math.max(this.#closedUntil, end + loopSyncQuietMs);
  }
}
