// ReadIndex (thesis §6.4): linearizable reads without writing to the log. The leader
// records its commit index, confirms it still leads with one heartbeat round acknowledged
// by a majority (batched across every read pending at that round), then releases the reads.
// The same rounds time the leader's lease (raft/lease.ts): every leader tick opens a round,
// so the newest round a majority acknowledged says how recently they heard from the leader.

import type { Raft } from "./core.ts";
import type { ReadIndexReply, ReadIndexRequest } from "./messages.ts";
import { quorumSize } from "./quorum.ts";
import { sendHeartbeat } from "./replication.ts";
import type { LogIndex, NodeId } from "./types.ts";

/**
 * Heartbeat rounds awaiting acknowledgement at once. Reads arriving while a round is out
 * join the next one, so under load each round carries many reads and the leader sends one
 * heartbeat per follower per round trip rather than one per batch of arrivals.
 */
const roundsInFlightMax = 1;

interface PendingRead {
  readonly ctx: string;
  /** Follower that forwarded the read, or null for a read asked on this node. */
  readonly from: NodeId | null;
}

interface Round {
  readonly id: number;
  /** The leader's commit index when the round started: the read index of its reads. */
  readonly index: LogIndex;
  readonly reads: PendingRead[];
}

/**
 * Reads waiting on this node. On a leader: before its first commit of the term, batched
 * for the next round, or in a round awaiting acknowledgements. On a follower: forwarded
 * to the leader and awaiting its ReadIndexReply.
 */
export class ReadQueue {
  /** Highest round id started by this node; ids never repeat, so old acks cannot match. */
  latestRound = 0;
  /** Rounds ≤ termBase belong to an earlier leadership of this node. */
  private termBase = 0;
  /**
   * Set once this leader began a leadership transfer: its TimeoutNow (which may arrive any
   * time later) lets the target campaign past the voters' stickiness, so no lease holds for
   * the rest of the term.
   */
  private isLeaseForfeited = false;
  private waiting: PendingRead[] = [];
  private batch: PendingRead[] = [];
  private rounds: Round[] = [];
  private toForward: string[] = [];
  private forwarded = new Set<string>();

  size(): number {
    let n = this.waiting.length + this.batch.length + this.toForward.length + this.forwarded.size;
    for (const round of this.rounds) n += round.reads.length;
    return n;
  }

  /** Something for flush() to do. */
  hasWork(): boolean {
    return (this.batch.length > 0 && this.rounds.length < roundsInFlightMax) || this.toForward.length > 0;
  }

  /** A new leadership begins: forget acknowledgements of earlier rounds. */
  startTerm(): void {
    this.termBase = this.latestRound;
    this.isLeaseForfeited = false;
  }

  /** A leader tick: messages from now on carry a new round (fresh acks renew the lease). */
  nextRound(): void {
    this.latestRound++;
  }

  /** A leadership transfer began: see isLeaseForfeited. */
  forfeitLease(): void {
    this.isLeaseForfeited = true;
  }

  /**
   * The newest round of this leadership acknowledged by a majority of voters (self counts
   * with the latest round), or 0: not leader, no CheckQuorum (then no stickiness either), a
   * transfer begun, or no such round yet. Every message carrying round k left the leader
   * after round k began, so each of those voters heard from this leader no earlier than that.
   * Infinity when this leader alone is a majority: no one else can lead without a change of
   * configuration it would have to append itself.
   */
  quorumRound(r: Raft): number {
    if (r.role !== "leader" || !r.cfg.checkQuorum || !r.cfg.quietAfterRestart || this.isLeaseForfeited) return 0;
    const isVoter = r.config.isVoter(r.id);
    const q = quorumSize(r.config.voters.length);
    if (isVoter && q === 1) return Number.POSITIVE_INFINITY;
    const acks: number[] = [];
    if (isVoter) acks.push(this.latestRound);
    for (const [id, pr] of r.progress) if (r.config.isVoter(id)) acks.push(pr.readAck);
    if (acks.length < q) return 0;
    acks.sort((x, y) => y - x);
    const round = acks[q - 1] as number;
    return round > this.termBase ? round : 0;
  }

  enqueue(r: Raft, read: PendingRead): void {
    if (r.log.term(r.log.commitIndex) === r.term) this.batch.push(read);
    else this.waiting.push(read); // §6.4 step 1: not before an entry of this term commits
  }

  forward(ctx: string): void {
    this.toForward.push(ctx);
    this.forwarded.add(ctx);
  }

  /** The leader committed: reads waiting for its first commit of the term may proceed. */
  onCommit(r: Raft): void {
    if (this.waiting.length > 0 && r.log.term(r.log.commitIndex) === r.term) {
      for (const read of this.waiting) this.batch.push(read);
      this.waiting = [];
    }
  }

  /** Starts one round for all batched reads, or forwards queued reads to the leader. */
  flush(r: Raft): void {
    if (r.role === "leader" && this.batch.length > 0 && this.rounds.length < roundsInFlightMax) {
      const id = ++this.latestRound;
      this.rounds.push({ id, index: r.log.commitIndex, reads: this.batch });
      this.batch = [];
      for (const [peer, pr] of r.progress) {
        if (r.config.isVoter(peer)) sendHeartbeat(r, peer, pr);
      }
      this.release(r);
    }
    if (this.toForward.length > 0 && r.role !== "leader" && r.leader !== null) {
      const m: ReadIndexRequest = { type: "ReadIndex", from: r.id, to: r.leader, term: r.term, ctxs: this.toForward };
      r.send(m, false);
      this.toForward = [];
    }
  }

  /** A follower acknowledged heartbeats up to round `round`. */
  ack(r: Raft, from: NodeId, round: number): void {
    if (round <= this.termBase) return;
    const pr = r.progress.get(from);
    if (pr === undefined || round <= pr.readAck) return;
    pr.readAck = round;
    this.release(r);
  }

  /** Releases, in order, every round acknowledged by a majority of voters. */
  private release(r: Raft): void {
    const q = quorumSize(r.config.voters.length);
    while (this.rounds.length > 0) {
      const round = this.rounds[0] as Round;
      let acks = r.config.isVoter(r.id) ? 1 : 0;
      for (const [id, pr] of r.progress) if (pr.readAck >= round.id && r.config.isVoter(id)) acks++;
      if (acks < q) return;
      this.rounds.shift();
      answer(r, round.reads, round.index);
    }
  }

  /** Leadership is lost: fail every leader-side read (§6.4: the read index is void). */
  dropLeaderReads(r: Raft): void {
    const all: PendingRead[] = [...this.waiting, ...this.batch];
    for (const round of this.rounds) all.push(...round.reads);
    this.waiting = [];
    this.batch = [];
    this.rounds = [];
    answer(r, all, -1);
  }

  /** The leader changed: reads forwarded to the old one will never be answered. */
  dropForwarded(r: Raft): void {
    for (const ctx of this.forwarded) r.droppedReads.push(ctx);
    this.forwarded.clear();
    this.toForward = [];
  }

  /** A ReadIndexReply for forwarded reads; unknown ctxs (duplicates) are ignored. */
  onReply(r: Raft, m: ReadIndexReply): void {
    for (const ctx of m.ctxs) {
      if (!this.forwarded.delete(ctx)) continue;
      if (m.readIndex < 0) r.droppedReads.push(ctx);
      else r.readStates.push({ ctx, readIndex: m.readIndex });
    }
  }
}

/** Hands reads their read index (-1: dropped), replying once per forwarding follower. */
function answer(r: Raft, reads: readonly PendingRead[], readIndex: LogIndex): void {
  const remote = new Map<NodeId, string[]>();
  for (const read of reads) {
    if (read.from === null) {
      if (readIndex < 0) r.droppedReads.push(read.ctx);
      else r.readStates.push({ ctx: read.ctx, readIndex });
    } else {
      const list = remote.get(read.from);
      if (list === undefined) remote.set(read.from, [read.ctx]);
      else list.push(read.ctx);
    }
  }
  for (const [to, ctxs] of remote) {
    r.send({ type: "ReadIndexReply", from: r.id, to, term: r.term, ctxs, readIndex }, false);
  }
}

/** A read asked locally (`from` null) or forwarded by follower `from`. */
export function requestRead(r: Raft, ctx: string, from: NodeId | null): void {
  const full = r.reads.size() >= r.cfg.pendingReadsMax;
  if (r.role === "leader") {
    if (full) answer(r, [{ ctx, from }], -1);
    else r.reads.enqueue(r, { ctx, from });
    return;
  }
  if (from !== null) {
    answer(r, [{ ctx, from }], -1);
  } else if (r.leader === null || full) {
    r.droppedReads.push(ctx);
  } else {
    r.reads.forward(ctx);
  }
}

export function handleReadIndexRequest(r: Raft, m: ReadIndexRequest): void {
  for (const ctx of m.ctxs) requestRead(r, ctx, m.from);
}

/**
 * A read index counts only from the leader we follow, in our current term (step() has already
 * matched the term): from anyone else it may predate writes that leader acknowledged. Contexts
 * carry the asking process's incarnation (store/store.ts), so an answer meant for an earlier
 * life of this node matches nothing outstanding and is ignored as well.
 */
export function handleReadIndexReply(r: Raft, m: ReadIndexReply): void {
  if (r.role === "leader" || m.from !== r.leader || m.term !== r.term) return;
  r.reads.onReply(r, m);
}

export function dropAllReads(r: Raft): void {
  r.reads.dropLeaderReads(r);
}
