// The leader's lease (thesis §6.4.1): how a leader may answer a read from its own state
// machine, without a heartbeat round, and still never return a value older than a write some
// other leader acknowledged.
//
// Why it is safe here. A voter that has heard from its leader within the lease window L
// (RaftConfig.leaseTicks, half an election timeout by default) grants no vote, not even a
// PreVote, in every case (raft/core/election.ts inLease; it needs CheckQuorum, on by default).
// Voters refuse longer, a whole election timeout (stickiness), unless they saw their leader's
// connection close: then they may elect a successor after L, which is what makes a failover
// after a crash fast, and is why the lease counts only on L. A successor needs the votes of a
// majority, and any majority shares a voter with the majority that acknowledged the leader's
// round k. That voter received a message of round k no earlier than the moment the leader
// first handed a round-k message to the network (observe() below records that moment, before
// the send), and from receiving it counts more than L - 1 of its own ticks before it will vote
// (for itself too: it campaigns no sooner); a tick is never delivered early (raft/ticker.ts).
// So no successor exists before
//   start(k) + (L - 1) * tickMs, as measured on that voter's clock.
// The leader measures on its own monotonic clock, from start(k), and gives up a fraction
// (driftFraction) of that span to cover the two clocks running at different rates. Message
// delay needs no margin: the span is counted from the send, not from the acknowledgement.
// A restarted voter grants nothing for a whole election timeout (≥ L), so its acknowledgement
// from before the restart still counts. A transfer's TimeoutNow overrides stickiness, so a
// leader that began one holds no lease for the rest of its term (ReadQueue.forfeitLease).
// Heartbeats renew the lease: L is at least two heartbeat intervals (raft/core/config.ts).
//
// What it assumes, beyond Raft's own model: clock rates differ by less than driftFraction, and
// the leader's monotonic clock keeps running while its process is paused (true of SIGSTOP, GC
// and scheduling stalls; not of a host suspended with a clock that stops, as CLOCK_MONOTONIC
// does across a Linux suspend). The check reads the clock at the moment of the read, and the
// read index it returns is fixed at that moment, so a pause after the check only delays the
// answer: the state served is at least as new as every write acknowledged before the check.

import type { Clock } from "./host.ts";

/** The clock a lease is measured on; its window in ticks comes from the core (RaftCore.leaseTicks). */
export interface LeaseOptions {
  /** Monotonic time in milliseconds (performance.now in the real node). */
  readonly clock: Clock;
  readonly tickMs: number;
  /** Share of the span given up to clock drift (default 0.1: rates may differ by 10%). */
  readonly driftFraction?: number;
}

/** Default driftFraction: generous, as heartbeats renew the lease every few ticks anyway. */
export const driftFractionDefault = 0.1;

/** When each heartbeat round began, and whether a round acknowledged by a majority is recent. */
export class LeaderLease {
  readonly clock: Clock;
  /** How long after a round began a majority's acknowledgement of it lets the leader serve. */
  readonly durationMs: number;
  /** Rounds observed, ascending, with the time each was first seen (parallel arrays). */
  private rounds: number[] = [];
  private times: number[] = [];
  /** Rounds up to this one were dropped as expired: they can never hold again. */
  private expiredThrough = 0;

  /** `leaseTicks`: the window L every voter refuses votes for (RaftCore.leaseTicks). */
  constructor(o: LeaseOptions, leaseTicks: number) {
    const drift = o.driftFraction ?? driftFractionDefault;
    if (!(o.tickMs > 0) || !Number.isSafeInteger(leaseTicks) || leaseTicks < 2 || !(drift >= 0 && drift < 1)) {
      throw new RangeError(`bad lease timing: tickMs ${o.tickMs}, leaseTicks ${leaseTicks}, driftFraction ${drift}`);
    }
    this.clock = o.clock;
    this.durationMs = (leaseTicks - 1) * o.tickMs * (1 - drift);
  }

  /**
   * The core's newest round is `round`. Call before any message carrying it is sent: a round
   * first seen now began no later than now, so rounds between the previous observation and
   * this one are dated now as well, which is no later than any of their messages left.
   */
  observe(round: number): void {
    const n = this.rounds.length;
    if (round <= (n > 0 ? this.rounds[n - 1]! : this.expiredThrough)) return;
    const now = this.clock.now();
    this.rounds.push(round);
    this.times.push(now);
    this.expire(now);
  }

  /**
   * True if a majority's acknowledgement of `round` still covers this moment; Infinity (the
   * leader alone is a majority, RaftCore.quorumRound) always holds.
   */
  holds(round: number): boolean {
    if (round === Number.POSITIVE_INFINITY) return true;
    if (round <= 0 || round <= this.expiredThrough) return false;
    // The first observation at or after `round` dates it (rounds are observed in order).
    let lo = 0;
    let hi = this.rounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.rounds[mid]! < round) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.rounds.length) return false; // never observed: nothing of it was sent
    return this.clock.now() - this.times[lo]! < this.durationMs;
  }

  /** Drops observations too old to ever hold again (keeps the newest). */
  private expire(now: number): void {
    let cut = 0;
    while (cut < this.rounds.length - 1 && now - this.times[cut]! >= this.durationMs) cut++;
    if (cut === 0) return;
    this.expiredThrough = this.rounds[cut - 1]!;
    this.rounds = this.rounds.slice(cut);
    this.times = this.times.slice(cut);
  }
}
