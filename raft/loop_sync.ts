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
// next sync on the loop probes the disk again. Durability is untouched: either way the entries
// are acknowledged only once synced.

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

  /** Counts a sync that would have run on the loop but for this rule. */
  sentOff(): void {
    this.sentOffLoop++;
  }

  /** Runs `sync` (a blocking sync on the loop), closing the gate if it was slow. */
  timed(sync: () => void): void {
    if (this.clock === null) return sync();
    const start = this.clock.now();
    sync();
    const end = this.clock.now();
    if (end - start <= loopSyncSlowMs) return;
    this.slow++;
    this.#closedUntil = end + loopSyncQuietMs;
  }
}
