// ReadQueue: the reads waiting on one node and the heartbeat rounds that confirm them
// (thesis §6.4). A data structure only: the rules that fill and release it, with the
// server's state at hand, are in read_index.ts.

import type { LogIndex, NodeId } from "./types.ts";

/**
 * Heartbeat rounds awaiting acknowledgement at once: one. Reads arriving while it is out wait
 * for its acknowledgement (they cannot use it: it began before they arrived), then all share
 * the next round, which starts in the driver turn of that acknowledgement. With up to four out
 * (7a2f946) a busy leader started a round in nearly every driver turn, and each round costs the
 * leader a heartbeat written and an acknowledgement read and wakes a follower. Measured (issue
 * 18, 3 nodes, wrk -c64 linearizable, loaded machine): a probe build confirming reads with no
 * round at all cost the leader's main thread 1.9-7.8 µs less per read in 7 of 8 paired runs
 * (13.3-19.5 µs against 16.1-24.1), so rounds, not the wait, are most of what a linearizable
 * read costs over a stale one; with one round out it spent 0.3-1.3 µs less per read than with
 * four in 7 of 8 paired runs. What a read waits for grows by at most the round out's
 * remaining round trip. Nor does a leader with no round out gain by holding a new batch for one
 * more event-loop turn, so that the next I/O pass's reads share its round: in 26 paired runs
 * (wrk -c64 linearizable, loaded and quiet machine) it cut rounds per read by 5-25% (0.034-0.037
 * to 0.025-0.033) but neither the leader's CPU per read (mean 29.8 against 28.9 µs loaded, 23.3
 * against 22.2 quiet) nor the rate (17,698 against 18,329/s; 38,052 against 37,704/s), and a
 * round's timed trip grew: the extra turn and the wait cost what the rounds saved.
 */
export const roundsInFlightMax = 1;

export interface PendingRead {
  readonly ctx: string;
  /** Follower that forwarded the read, or null for a read asked on this node. */
  readonly from: NodeId | null;
}

export interface Round {
  readonly id: number;
  /** The leader's commit index when the round started: the read index of its reads. */
  readonly index: LogIndex;
  readonly reads: PendingRead[];
  /** The voters its heartbeats went to: at first only as many as a majority needs. */
  readonly sentTo: NodeId[];
  /** Leader ticks seen while it waited; at the second, its heartbeats go to every voter. */
  ticks: number;
}

/**
 * Reads waiting on this node. On a leader: before its first commit of the term, batched
 * for the next round, or in a round awaiting acknowledgements. On a follower: forwarded
 * to the leader and awaiting its ReadIndexReply.
 */
export class ReadQueue {
  /** Highest round id started by this node; ids never repeat, so old acks cannot match. */
  private latest = 0;
  /** Rounds ≤ termBase belong to an earlier leadership of this node. */
  private base = 0;
  /**
   * Set once this leader began a leadership transfer: its TimeoutNow (which may arrive any
   * time later) lets the target campaign past the voters' stickiness, so no lease holds for
   * the rest of the term.
   */
  private isForfeited = false;
  private waiting: PendingRead[] = [];
  private batch: PendingRead[] = [];
  private rounds: Round[] = [];
  private toForward: string[] = [];
  private readonly forwarded = new Set<string>();

  /** Highest round id started by this node. */
  get latestRound(): number {
    return this.latest;
  }

  /** Rounds ≤ termBase belong to an earlier leadership of this node. */
  get termBase(): number {
    return this.base;
  }

  /** A transfer began this term: no lease holds (see isForfeited). */
  get isLeaseForfeited(): boolean {
    return this.isForfeited;
  }

  size(): number {
    let n = this.waiting.length + this.batch.length + this.toForward.length + this.forwarded.size;
    for (const round of this.rounds) n += round.reads.length;
    return n;
  }

  /** A new leadership begins: forget acknowledgements of earlier rounds. */
  startTerm(): void {
    this.base = this.latest;
    this.isForfeited = false;
  }

  /** A leader tick: messages from now on carry a new round (fresh acks renew the lease). */
  nextRound(): void {
    this.latest++;
  }

  /** A leadership transfer began: see isForfeited. */
  forfeitLease(): void {
    this.isForfeited = true;
  }

  /** Queues a leader-side read: for the next round, or (§6.4 step 1) until this term commits. */
  enqueue(read: PendingRead, hasCommittedInTerm: boolean): void {
    if (hasCommittedInTerm) this.batch.push(read);
    else this.waiting.push(read);
  }

  /** The leader committed an entry of its term: waiting reads may join the next round. */
  releaseWaiting(): void {
    if (this.waiting.length === 0) return;
    for (const read of this.waiting) this.batch.push(read);
    this.waiting = [];
  }

  /** True if batched reads may start a round now. */
  canStartRound(): boolean {
    return this.batch.length > 0 && this.rounds.length < roundsInFlightMax;
  }

  /** Starts one round at read index `index` for every batched read; returns it (sentTo empty). */
  startRound(index: LogIndex): Round {
    const round: Round = { id: ++this.latest, index, reads: this.batch, sentTo: [], ticks: 0 };
    this.rounds.push(round);
    this.batch = [];
    return round;
  }

  /** Every round awaiting a majority, oldest first. */
  roundsOut(): readonly Round[] {
    return this.rounds;
  }

  /** The oldest round still awaiting a majority, if any. */
  oldestRound(): Round | undefined {
    return this.rounds[0];
  }

  /** Removes the oldest round (released). */
  shiftRound(): void {
    this.rounds.shift();
  }

  /** Every leader-side read (waiting, batched, in rounds), now removed: leadership is lost. */
  takeLeaderReads(): PendingRead[] {
    const all: PendingRead[] = [...this.waiting, ...this.batch];
    for (const round of this.rounds) all.push(...round.reads);
    this.waiting = [];
    this.batch = [];
    this.rounds = [];
    return all;
  }

  /** A follower-side read to send to the leader at the next flush. */
  forward(ctx: string): void {
    this.toForward.push(ctx);
    this.forwarded.add(ctx);
  }

  /** True if reads wait to be sent to the leader. */
  hasToForward(): boolean {
    return this.toForward.length > 0;
  }

  /** The contexts to send to the leader now; they stay outstanding until answered. */
  takeToForward(): string[] {
    const ctxs = this.toForward;
    this.toForward = [];
    return ctxs;
  }

  /** Every forwarded context, now forgotten: the leader changed and will never answer. */
  takeForwarded(): string[] {
    const ctxs = [...this.forwarded];
    this.forwarded.clear();
    this.toForward = [];
    return ctxs;
  }

  /** Removes an answered forwarded context; false if it was not outstanding (a duplicate). */
  settleForwarded(ctx: string): boolean {
    return this.forwarded.delete(ctx);
  }
}
