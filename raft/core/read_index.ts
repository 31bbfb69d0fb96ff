// ReadIndex (thesis §6.4): linearizable reads without writing to the log. The leader
// records its commit index, confirms it still leads with one heartbeat round acknowledged
// by a majority (batched across every read pending at that round), then releases the reads.
// The same rounds time the leader's lease (raft/lease.ts): every leader tick opens a round,
// so the newest round a majority acknowledged says how recently they heard from the leader.
// The queue itself is read_queue.ts; core.ts sends a round's heartbeats (startReadRound).

import type { ReadIndexReply, ReadIndexRequest } from "./messages.ts";
import { quorumSize } from "./quorum.ts";
import type { PendingRead, Round } from "./read_queue.ts";
import type { RaftState } from "./state.ts";
import type { LogIndex, NodeId } from "./types.ts";

/** §6.4 step 1: a leader serves reads only once an entry of its term has committed. */
function hasCommittedInTerm(r: RaftState): boolean {
  return r.log.term(r.log.commitIndex) === r.term;
}

/**
 * The newest round of this leadership acknowledged by a majority of voters (self counts
 * with the latest round), or 0: not leader, no CheckQuorum (then no stickiness either), a
 * transfer begun, or no such round yet. Every message carrying round k left the leader
 * after round k began, so each of those voters heard from this leader no earlier than that.
 * Infinity when this leader alone is a majority: no one else can lead without a change of
 * configuration it would have to append itself.
 */
export function quorumRound(r: RaftState): number {
  const reads = r.reads;
  if (r.role !== "leader" || !r.cfg.checkQuorum || !r.cfg.quietAfterRestart || reads.isLeaseForfeited) return 0;
  const isVoter = r.config.isVoter(r.id);
  const q = quorumSize(r.config.voters.length);
  if (isVoter && q === 1) return Number.POSITIVE_INFINITY;
  const acks: number[] = [];
  if (isVoter) acks.push(reads.latestRound);
  for (const [id, pr] of r.progress) if (r.config.isVoter(id)) acks.push(pr.readAck);
  if (acks.length < q) return 0;
  acks.sort((x, y) => y - x);
  const round = acks[q - 1] as number;
  return round > reads.termBase ? round : 0;
}

/** The leader committed: reads waiting for its first commit of the term may proceed. */
export function readsOnCommit(r: RaftState): void {
  if (hasCommittedInTerm(r)) r.reads.releaseWaiting();
}

/** True if flushReads would start a round or forward reads (hasReady looks here). */
export function readsDue(r: RaftState): boolean {
  if (r.role === "leader") return r.reads.canStartRound();
  return r.reads.hasToForward() && r.leader !== null;
}

/**
 * Leader: opens one round at the commit index for all batched reads, if one may start, or
 * returns null. Opened before the Ready's appends are sent, so that every AppendEntries of
 * that flush carries it (it left after the round began, as a heartbeat of the round would):
 * askReadRound then sends heartbeats only where no append went.
 */
export function openReadRound(r: RaftState): Round | null {
  if (r.role !== "leader" || !r.reads.canStartRound()) return null;
  return r.reads.startRound(r.log.commitIndex);
}

/**
 * The voters `round` asks (see roundPeers) that still need a heartbeat, once the appends of
 * its flush have left: a voter an AppendEntries carrying the round went to is asked already
 * (its acknowledgement echoes the round as a heartbeat's would, and the append brings it the
 * commit index a forwarded read waits for), so under a mixed load a round costs no message of
 * its own. The voters asked are roundPeers' choice whatever the appends: an append to a voter
 * that has stopped answering (a probe) stands in for no one. The caller sends the heartbeats
 * and calls releaseReads (a leader alone a majority releases at once).
 */
export function askReadRound(r: RaftState, round: Round): NodeId[] {
  const carried: NodeId[] = [];
  for (const m of r.msgs) if (m.type === "AppendEntries" && m.readRound >= round.id) carried.push(m.to);
  const peers = roundPeers(r, round.reads);
  round.sentTo.push(...peers);
  for (const id of carried) if (r.config.isVoter(id) && !round.sentTo.includes(id)) round.sentTo.push(id);
  return carried.length === 0 ? peers : peers.filter((id) => !carried.includes(id));
}

/**
 * The voters a round asks at first: every voter that forwarded one of its reads (the heartbeat
 * brings it the commit index its read waits for), then as many more as a majority needs beside
 * this leader, those that acknowledged the newest round first (the likeliest to answer soon).
 * §6.4 needs a majority's acknowledgement of a round begun after the read arrived, not
 * everyone's: asking the others too only costs them and the leader a message each per round,
 * and under load a round costs the leader as much as a few dozen reads. If those asked do not
 * answer, widenReadRound asks everyone two ticks later (a crashed or partitioned voter costs
 * its reads 10–20 ms once: its acknowledgements stop, so the next round asks another).
 */
function roundPeers(r: RaftState, reads: readonly PendingRead[]): NodeId[] {
  const asked: NodeId[] = [];
  for (const read of reads) {
    if (read.from !== null && !asked.includes(read.from) && r.config.isVoter(read.from) && r.progress.has(read.from)) asked.push(read.from);
  }
  const need = quorumSize(r.config.voters.length) - (r.config.isVoter(r.id) ? 1 : 0) - asked.length;
  if (need <= 0) return asked;
  const others: [NodeId, number][] = [];
  for (const [id, pr] of r.progress) if (r.config.isVoter(id) && !asked.includes(id)) others.push([id, pr.readAck]);
  if (others.length > need) others.sort((a, b) => b[1] - a[1]); // stable: ties keep their order
  for (let i = 0; i < need && i < others.length; i++) asked.push(others[i]![0]);
  return asked;
}

/**
 * A leader tick: a round still waiting at its second tick asks every voter it has not asked.
 * Their heartbeats carry the latest round, which counts for every round out, so each of those
 * counts as asked by all of them (no round asks them again). Returns those voters.
 */
export function widenReadRound(r: RaftState): NodeId[] {
  if (r.role !== "leader") return [];
  const rounds = r.reads.roundsOut();
  let isDue = false;
  for (const round of rounds) if (++round.ticks === 2) isDue = true;
  if (!isDue) return [];
  const more: NodeId[] = [];
  for (const id of r.progress.keys()) {
    if (r.config.isVoter(id) && rounds.some((round) => !round.sentTo.includes(id))) more.push(id);
  }
  for (const round of rounds) for (const id of more) if (!round.sentTo.includes(id)) round.sentTo.push(id);
  return more;
}

/** Follower: sends queued reads to the leader in one ReadIndex request. */
export function forwardReads(r: RaftState): void {
  if (!r.reads.hasToForward() || r.role === "leader" || r.leader === null) return;
  const m: ReadIndexRequest = { type: "ReadIndex", from: r.id, to: r.leader, term: r.term, ctxs: r.reads.takeToForward() };
  r.send(m, false);
}

/** A follower acknowledged heartbeats up to round `round`. */
export function ackRead(r: RaftState, from: NodeId, round: number): void {
  if (round <= r.reads.termBase) return;
  const pr = r.progress.get(from);
  if (pr === undefined || round <= pr.readAck) return;
  pr.readAck = round;
  releaseReads(r);
}

/** Releases, in order, every round acknowledged by a majority of voters. */
export function releaseReads(r: RaftState): void {
  const q = quorumSize(r.config.voters.length);
  for (let round = r.reads.oldestRound(); round !== undefined; round = r.reads.oldestRound()) {
    let acks = r.config.isVoter(r.id) ? 1 : 0;
    for (const [id, pr] of r.progress) if (pr.readAck >= round.id && r.config.isVoter(id)) acks++;
    if (acks < q) return;
    r.reads.shiftRound();
    answer(r, round.reads, round.index);
  }
}

/** Leadership is lost: fail every leader-side read (§6.4: the read index is void). */
export function dropLeaderReads(r: RaftState): void {
  answer(r, r.reads.takeLeaderReads(), -1);
}

/** The leader changed: reads forwarded to the old one will never be answered. */
export function dropForwardedReads(r: RaftState): void {
  for (const ctx of r.reads.takeForwarded()) r.droppedReads.push(ctx);
}

/** Hands reads their read index (-1: dropped), replying once per forwarding follower. */
function answer(r: RaftState, reads: readonly PendingRead[], readIndex: LogIndex): void {
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
export function requestRead(r: RaftState, ctx: string, from: NodeId | null): void {
  const full = r.reads.size() >= r.cfg.pendingReadsMax;
  if (r.role === "leader") {
    if (full) answer(r, [{ ctx, from }], -1);
    else r.reads.enqueue({ ctx, from }, hasCommittedInTerm(r));
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

export function handleReadIndexRequest(r: RaftState, m: ReadIndexRequest): void {
  for (const ctx of m.ctxs) requestRead(r, ctx, m.from);
}

/**
 * A read index counts only from the leader we follow, in our current term (step() has already
 * matched the term): from anyone else it may predate writes that leader acknowledged. Contexts
 * carry the asking process's incarnation (store/store.ts), so an answer meant for an earlier
 * life of this node matches nothing outstanding and is ignored as well. Unknown contexts
 * (duplicates) are ignored.
 */
export function handleReadIndexReply(r: RaftState, m: ReadIndexReply): void {
  if (r.role === "leader" || m.from !== r.leader || m.term !== r.term) return;
  for (const ctx of m.ctxs) {
    if (!r.reads.settleForwarded(ctx)) continue;
    if (m.readIndex < 0) r.droppedReads.push(ctx);
    else r.readStates.push({ ctx, readIndex: m.readIndex });
  }
}
