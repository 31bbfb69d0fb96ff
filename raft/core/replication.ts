// Log replication (§5.3): AppendEntries sending with batching and pipelining, the
// follower's consistency check and conflict hints, the leader's side of sending a snapshot
// to a follower behind the log's start (§7), and commit by majority (Figure 8). What a
// follower's progress or a commit makes possible next (releasing a departing server,
// promotion, transfer, reads) is chained by core.ts.

import type { AppendEntries, AppendEntriesReply, InstallSnapshot, InstallSnapshotReply } from "./messages.ts";
import type { Progress } from "./progress.ts";
import { majorityIndex, quorumSize } from "./quorum.ts";
import type { RaftState } from "./state.ts";
import type { Entry, LogIndex, NodeId } from "./types.ts";

/** Heartbeat rounds without any acknowledgement before a pipelined follower is re-probed. */
const STALLED_HEARTBEATS_MAX = 2;

/**
 * A spare follower is sent new entries once this many are waiting for it, tick or not: a
 * bound for bursts far above what a bench rate brings in SPARE_TICKS ticks (1,024 entries at
 * 25,000 writes/s), so in steady state a spare takes one batch every SPARE_TICKS ticks. It was
 * 64, on the reasoning that a batch that large costs a follower little per entry: measured, it
 * does not. A spare's batch costs it a receive, a WAL write and sync and an ack, ~150-250 us of
 * CPU on this machine, as much as 30-40 entries' own work, and at 64 connections the 64-entry
 * bound sent each spare a batch every few milliseconds (issue 18, five nodes against three:
 * two spares' CPU per write at 64 connections 19-40 us with 64, 12-24 us with 1,024, and at 16
 * connections 31-57 against 25-36 us, every one of six interleaved rounds lower; /tmp/h7/five.ts).
 * History: with 512 and three eager followers of four (before SPARE_TICKS), 64 connections ran
 * slower than with every follower eager; 16 sent the spares nearly every batch at 16 connections.
 */
const SPARE_LAG_ENTRIES_MAX = 1024;

/**
 * Spares are sent what they lack every this many leader ticks (40 ms at the default 10 ms
 * tick, about 60 writes at one connection): each batch costs a follower the same receive,
 * write, fdatasync and ack whatever its size, and at every tick a spare took a batch of a
 * few writes. Sooner when commits stop (tickSpares), when one asks for a read index
 * (spareReads) or once SPARE_LAG_ENTRIES_MAX entries wait; a spare's state machine, and so
 * its stale reads and watches, lags by at most this much meanwhile.
 */
const SPARE_TICKS = 4;

/**
 * A spare follower (issue 18, five nodes against three): a commit needs quorum − 1
 * followers; with five or more voters the leader sends each new entry at once to that many,
 * and the voters beyond them take what they lack every SPARE_TICKS ticks (r.sparesDue), or
 * sooner (see tickSpares). Each batch costs a follower a receive, a WAL write, an
 * fdatasync and an ack whatever its size; on a shared machine a third and a fourth follower's
 * batches took CPU from the two a commit waited for and added nothing to it (measured with
 * one eager spare against none: at 1 connection the cluster's CPU per write fell by a quarter
 * and writes/s rose in every round; the commit now waits for the slower of two followers
 * rather than the second of three, which the freed CPU more than paid for here).
 * Followers are ranked by match index (then id): one that falls silent drops below a spare
 * that acknowledges its batch, which then takes its place (a commit meanwhile waits at most
 * two ticks: see tickSpares). Only voters in replicate state are ever spares: probes,
 * snapshots, learners and a transfer's target are as before; three or four voters have none.
 * Safety needs nothing of this (when an append leaves is the leader's choice, §5.3).
 */
export function isSpare(r: RaftState, id: NodeId, pr: Progress): boolean {
  return !r.sparesDue && ranksAsSpare(r, id, pr);
}

/** isSpare whether or not spares are due at this flush: the follower's rank and state alone. */
function ranksAsSpare(r: RaftState, id: NodeId, pr: Progress): boolean {
  if (pr.state !== "replicate" || id === r.transferee) return false;
  const voters = r.config.voters;
  const eager = quorumSize(voters.length) - 1; // the followers a commit needs
  if (voters.length < 5 || voters.length - 1 <= eager || r.log.lastIndex() - pr.nextIndex + 1 >= SPARE_LAG_ENTRIES_MAX) return false;
  let above = 0;
  let isVoter = false;
  for (const v of voters) {
    if (v === id) isVoter = true;
    if (v === id || v === r.id) continue;
    const o = r.progress.get(v);
    if (o === undefined || o.state !== "replicate" || o.isPaused()) continue;
    if (o.matchIndex > pr.matchIndex || (o.matchIndex === pr.matchIndex && v < id)) above++;
  }
  return isVoter && above >= eager;
}

/**
 * Leader tick: spares lacking entries are sent them at the next flush (see isSpare) every
 * SPARE_TICKS ticks, or at this one if the commit index has not moved since the previous
 * tick while entries the log held then wait: a follower a commit needs is silent, and a
 * spare's acknowledgement is needed (it then ranks above the silent one and takes its place).
 * A commit that moves, however slowly, is left alone: on a loaded machine every commit may
 * take over a tick, and spares sent a batch at each tick then added the CPU they are there
 * to save (measured: 1 connection, cluster WAL syncs per write 3.26-3.43 -> 3.20-3.25).
 */
export function tickSpares(r: RaftState): void {
  const last = r.log.lastIndex();
  const commit = r.log.commitIndex;
  const isCommitStuck = commit < r.lastAtSpareTick && commit === r.commitAtSpareTick;
  r.lastAtSpareTick = last;
  r.commitAtSpareTick = commit;
  r.spareTicksElapsed++;
  if (!isCommitStuck && r.spareTicksElapsed < SPARE_TICKS) return;
  r.spareTicksElapsed = 0;
  for (const pr of r.progress.values()) {
    if (pr.state === "replicate" && pr.nextIndex <= last) {
      r.sparesDue = true;
      // At their own tick, spares take the committed entries only (see appendEnd); when the
      // commit is stuck they are wanted for it, and take everything.
      r.sparesCommittedOnly = !isCommitStuck;
      r.needBroadcast = true;
      return;
    }
  }
}

/**
 * A follower asked for a read index: it answers once it has applied up to it, so spares are
 * sent what they lack at the next flush rather than at the next tick (see isSpare).
 */
export function spareReads(r: RaftState): void {
  if (r.role !== "leader") return;
  r.sparesDue = true;
  r.sparesCommittedOnly = false;
  r.needBroadcast = true;
}

/**
 * The last index to send `id` now: the log's end, except for a spare at its own tick (not a
 * stuck commit, not a read index), which is sent the committed entries only. Its batch then
 * carries a commit index covering all of it, so the spare applies the batch at once and the
 * leader owes it no commit notice a tick later (tickHeartbeat): sent the log's end, it
 * acknowledged entries the commit then passed, and each batch cost a spare a second message,
 * a wake, a Ready and an ack for the notice (issue 18, five nodes against three). The entries
 * held back are committed by the next spare tick, so a spare's state lags as before.
 */
function appendEnd(r: RaftState, id: NodeId, pr: Progress): LogIndex {
  const last = r.log.lastIndex();
  if (!r.sparesDue || !r.sparesCommittedOnly || !ranksAsSpare(r, id, pr)) return last;
  return Math.min(last, r.log.commitIndex);
}

/** Would sendAppend send something? Mirrors its checks without acting (for hasReady). */
function appendDue(r: RaftState, id: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
  if (pr.state === "snapshot") return r.snapshot !== null && !pr.chunkSent;
  if (pr.isPaused()) return false;
  if (r.log.term(pr.nextIndex - 1) === undefined) return r.snapshot !== null;
  return sendIfEmpty || pr.nextIndex <= appendEnd(r, id, pr);
}

/**
 * Sends one AppendEntries to `id` from its nextIndex: as many entries as fit in
 * appendBytesMax, or an empty one if `sendIfEmpty`. Falls back to InstallSnapshot when the
 * entries it needs were compacted. Returns true if something was sent.
 */
export function sendAppend(r: RaftState, id: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
  if (pr.state === "snapshot") return sendSnapshotChunk(r, id, pr);
  if (pr.isPaused()) return false;
  const prev = pr.nextIndex - 1;
  const prevTerm = r.log.term(prev);
  if (prevTerm === undefined) {
    // The entries this follower needs are gone: it must take a snapshot (§7).
    if (r.snapshot === null) return false;
    pr.becomeSnapshot(r.snapshot.meta.lastIncludedIndex);
    return sendSnapshotChunk(r, id, pr);
  }
  const last = appendEnd(r, id, pr);
  const entries = pr.nextIndex <= last ? r.log.slice(pr.nextIndex, last, r.cfg.appendBytesMax) : [];
  if (entries.length === 0 && !sendIfEmpty) return false;
  const m: AppendEntries = {
    type: "AppendEntries", from: r.id, to: id, term: r.term, prevLogIndex: prev, prevLogTerm: prevTerm,
    entries, leaderCommit: r.log.commitIndex, readRound: r.reads.latestRound,
  };
  r.send(m, false);
  pr.commitSent = Math.max(pr.commitSent, Math.min(r.log.commitIndex, prev + entries.length));
  if (entries.length > 0) pr.sentEntries((entries[entries.length - 1] as Entry).index, pr.state === "replicate" ? dataBytes(entries) : 0);
  else if (pr.state === "probe") pr.probeSent = true;
  return true;
}

/** Bytes of the entries' data: what Progress counts in flight (inflightBytesMax). */
function dataBytes(entries: readonly Entry[]): number {
  let bytes = 0;
  for (const e of entries) bytes += e.data.length;
  return bytes;
}

/** Sends every follower what it lacks (pipelined up to the in-flight window) and new commits. */
export function broadcastAppend(r: RaftState): void {
  for (const [id, pr] of r.progress) {
    let sent = false;
    // A follower in probe state that is not waiting on a probe needs one, even if empty.
    while (!isSpare(r, id, pr) && sendAppend(r, id, pr, pr.state === "probe")) {
      sent = true;
      if (pr.state !== "replicate") break;
    }
    if (!sent && r.commitNoticeDue && pr.state !== "snapshot" && Math.min(r.log.commitIndex, pr.matchIndex) > pr.commitSent) {
      sendHeartbeat(r, id, pr);
    }
  }
}

/** Would broadcastAppend send anything? Mirrors it without acting (hasReady only looks). */
export function broadcastDue(r: RaftState): boolean {
  for (const [id, pr] of r.progress) {
    if (appendDue(r, id, pr, pr.state === "probe") && !isSpare(r, id, pr)) return true;
    if (r.commitNoticeDue && pr.state !== "snapshot" && Math.min(r.log.commitIndex, pr.matchIndex) > pr.commitSent) {
      return true;
    }
  }
  return false;
}

/**
 * A heartbeat is an empty AppendEntries at the follower's matchIndex, which always passes the
 * consistency check, carrying the commit index and the latest ReadIndex round (§5.2, §6.4).
 */
export function sendHeartbeat(r: RaftState, id: NodeId, pr: Progress): void {
  let prev: LogIndex = pr.matchIndex;
  let prevTerm = r.log.term(prev);
  if (prevTerm === undefined) {
    prev = 0;
    prevTerm = 0;
  }
  const leaderCommit = Math.min(r.log.commitIndex, prev);
  r.send(
    { type: "AppendEntries", from: r.id, to: id, term: r.term, prevLogIndex: prev, prevLogTerm: prevTerm,
      entries: [], leaderCommit, readRound: r.reads.latestRound },
    false,
  );
  pr.commitSent = Math.max(pr.commitSent, leaderCommit);
}

/**
 * Leader tick, after CheckQuorum: heartbeats every heartbeatTicks (§5.2); in between, a
 * follower still behind on the commit index hears it within a tick, not a heartbeat.
 */
export function tickHeartbeat(r: RaftState): void {
  if (r.heartbeatElapsed >= r.cfg.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    broadcastHeartbeat(r);
    return;
  }
  for (const pr of r.progress.values()) {
    if (Math.min(r.log.commitIndex, pr.matchIndex) > pr.commitSent) {
      r.commitNoticeDue = true;
      r.needBroadcast = true;
      return;
    }
  }
}

export function broadcastHeartbeat(r: RaftState): void {
  for (const [id, pr] of r.progress) {
    // A pipelined follower that acknowledged nothing for a while probably lost an append.
    if (pr.state === "replicate" && pr.inflightCount() > 0 && pr.matchIndex === pr.matchAtHeartbeat) {
      pr.stalledHeartbeats++;
      if (pr.stalledHeartbeats >= STALLED_HEARTBEATS_MAX) pr.becomeProbe();
    } else {
      pr.stalledHeartbeats = 0;
    }
    pr.matchAtHeartbeat = pr.matchIndex;
    sendHeartbeat(r, id, pr);
  }
}

/** Follower side of AppendEntries (§5.3, Figure 2 receiver rules 1-5). */
export function handleAppendEntries(r: RaftState, m: AppendEntries): void {
  if (r.role === "leader") return; // impossible: one leader per term (§5.2)
  if (r.role !== "follower" || r.leader !== m.from) r.becomeFollower(r.term, m.from);
  r.electionElapsed = 0;
  const log = r.log;
  const commit = log.commitIndex;
  let prev = m.prevLogIndex;
  let prevTerm = m.prevLogTerm;
  let entries = m.entries;
  if (prev < commit) {
    // Entries up to our commit index are committed and so match the leader's (§5.4.3).
    const skip = commit - prev;
    if (entries.length <= skip) return replyAppend(r, m, true, commit, 0, 0);
    entries = entries.slice(skip);
    prev = commit;
    prevTerm = log.term(commit) ?? 0;
  }
  const ourTerm = log.term(prev);
  if (ourTerm === undefined || ourTerm !== prevTerm) {
    // Conflict hint (§5.3): the first index of our conflicting term, or our end.
    if (ourTerm === undefined) return replyAppend(r, m, false, m.prevLogIndex, log.lastIndex() + 1, 0);
    const conflictIndex = Math.max(log.firstIndexAtOrAfterTerm(ourTerm, prev), commit + 1);
    return replyAppend(r, m, false, m.prevLogIndex, conflictIndex, ourTerm);
  }
  const firstWritten = log.appendFromLeader(entries);
  if (firstWritten > 0) {
    if (r.config.truncateFrom(firstWritten)) r.onMembershipChanged();
    r.noteConfigs(entries, firstWritten);
  }
  const lastNew = prev + entries.length;
  const newCommit = Math.min(m.leaderCommit, lastNew);
  if (newCommit > log.commitIndex) log.commitIndex = newCommit;
  replyAppend(r, m, true, lastNew, 0, 0);
}

/**
 * Replies leave only after the appended entries persist (an ack promises durability). Two
 * acknowledgements to the same leader in one Ready leave as one (issue 18): a follower that
 * took several AppendEntries in one turn (they arrived while it synced) acknowledges the
 * highest match and round of them, which says all the separate ones said, since both are
 * true once the Ready persists and a leader reads an ack of round k as one of every round up
 * to k; the leader then reads, and the follower writes, one ack per batch and not one per
 * message. A rejection is never merged: it carries a hint of its own.
 */
function replyAppend(
  r: RaftState, m: AppendEntries, success: boolean, matchIndex: LogIndex, conflictIndex: LogIndex, conflictTerm: number,
): void {
  const queued = r.msgsAfterPersist;
  const last = queued[queued.length - 1];
  if (success && last !== undefined && last.type === "AppendEntriesReply" && last.success && last.to === m.from && last.term === r.term) {
    queued[queued.length - 1] = {
      ...last, matchIndex: Math.max(last.matchIndex, matchIndex), readRound: Math.max(last.readRound, m.readRound),
    };
    return;
  }
  const reply: AppendEntriesReply = {
    type: "AppendEntriesReply", from: r.id, to: m.from, term: r.term, success, matchIndex,
    conflictIndex, conflictTerm, readRound: m.readRound,
  };
  r.send(reply, true);
}

/**
 * Leader side of an AppendEntriesReply from a follower it tracks (`pr`): back off after a
 * rejection, or take an acknowledgement. Returns true when the follower's matchIndex grew:
 * the caller (step.ts) then acts on what that makes possible (a departing server released, a
 * commit, a transfer, a promotion) and calls deferPipe. Otherwise this has already sent (or
 * deferred) what the follower needs.
 */
export function handleAppendReply(r: RaftState, m: AppendEntriesReply, pr: Progress): boolean {
  pr.recentActive = true;
  if (!m.success) {
    if (m.conflictIndex === 0) return false; // a stale-term rejection carries no hint
    if (m.conflictTerm === 0 && m.conflictIndex <= pr.matchIndex && m.matchIndex >= pr.matchIndex && pr.state !== "snapshot") {
      // "My log ends before what I acknowledged": a late rejection or a lost log.
      pr.resendFrom(m.conflictIndex - 1);
      sendAppend(r, m.from, pr, true);
      return false;
    }
    if (pr.maybeDecrTo(m.matchIndex, hintNext(r, m))) sendAppend(r, m.from, pr, true);
    return false;
  }
  if (pr.maybeUpdate(m.matchIndex)) {
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.matchIndex >= pr.pendingSnapshot) pr.becomeProbe();
    return true;
  }
  pr.onHeartbeat();
  deferPipe(r, m.from);
  return false;
}

/**
 * After a reply: the follower is sent what it lacks at the next flush (ready()), with every
 * entry appended by then, not at once with those appended so far. Replies reach a loaded
 * leader while clients keep proposing (its own fdatasync runs off the loop meanwhile), and the
 * next Ready sends everything anyway: filled at each reply, a follower was sent the entries
 * proposed before its reply in one AppendEntries and those after it in another, in the same
 * Ready (issue 18: twice the messages, decodes, log appends and acks per batch on every
 * follower, for the same entries and the same fsync). Nothing leaves sooner either way.
 */
export function deferPipe(r: RaftState, id: NodeId): void {
  r.pipesDue.add(id);
}

/** Would fillPipes send anything? Mirrors it without acting (hasReady only looks). */
export function pipesDue(r: RaftState): boolean {
  for (const id of r.pipesDue) {
    const pr = r.progress.get(id);
    if (pr !== undefined && appendDue(r, id, pr, needsProbe(r, pr)) && !isSpare(r, id, pr)) return true;
  }
  return false;
}

/** At a flush: refills the pipe of every follower that replied since the last one. */
export function fillPipes(r: RaftState): void {
  for (const id of r.pipesDue) {
    // Gone since its reply (removed from the configuration, or we stepped down): nothing to fill.
    const pr = r.progress.get(id);
    if (pr !== undefined) fillPipe(r, id, pr);
  }
  r.pipesDue.clear();
}

/**
 * A follower in probe state that still lacks entries needs a probe even when there is
 * nothing new to send; otherwise an idle leader would only ever heartbeat it at its
 * matchIndex and it would never catch up (found by the simulator, seeds 275/296/419).
 */
function needsProbe(r: RaftState, pr: Progress): boolean {
  return pr.state === "probe" && pr.matchIndex < r.log.lastIndex();
}

/** Sends the follower what it lacks, pipelined up to the in-flight window. */
function fillPipe(r: RaftState, id: NodeId, pr: Progress): void {
  const sendIfEmpty = needsProbe(r, pr);
  while (!isSpare(r, id, pr) && sendAppend(r, id, pr, sendIfEmpty)) {
    if (pr.state !== "replicate") break;
  }
}

/**
 * Where to probe next after a rejection. If we hold entries of the follower's conflicting
 * term, resume after our last one; otherwise skip the follower's whole run of that term.
 */
function hintNext(r: RaftState, m: AppendEntriesReply): LogIndex {
  if (m.conflictTerm === 0) return m.conflictIndex;
  const idx = r.log.lastIndexAtOrBeforeTerm(m.conflictTerm, m.matchIndex);
  if (idx >= r.log.firstIndex && r.log.term(idx) === m.conflictTerm) return idx + 1;
  return m.conflictIndex;
}

/**
 * Figure 8 / §5.4.2: the commit index moves to the highest index a majority of voters hold,
 * but only if that entry is of the current term (earlier ones commit with it). Returns true
 * if it moved; the consequences of a commit (membership, reads) are core.ts's to chain.
 */
export function maybeCommit(r: RaftState): boolean {
  const idx = majorityIndex(r.config.voters, (id) =>
    id === r.id ? r.log.persistedIndex : (r.progress.get(id)?.matchIndex ?? 0),
  );
  if (idx <= r.log.commitIndex || r.log.term(idx) !== r.term) return false;
  const old = r.log.commitIndex;
  r.log.commitIndex = idx;
  if (r.uncommittedBytes > 0) {
    for (let i = Math.max(old + 1, r.log.firstIndex); i <= idx; i++) {
      r.uncommittedBytes = Math.max(0, r.uncommittedBytes - r.log.entry(i).data.length);
    }
  }
  r.needBroadcast = true;
  return true;
}

/** Sends the next chunk of our snapshot to a follower in snapshot state (one in flight). */
function sendSnapshotChunk(r: RaftState, id: NodeId, pr: Progress): boolean {
  const snap = r.snapshot;
  if (snap === null || pr.chunkSent) return false;
  // A newer snapshot replaced the one being sent: start over with it.
  if (snap.meta.lastIncludedIndex !== pr.pendingSnapshot) pr.becomeSnapshot(snap.meta.lastIncludedIndex);
  const offset = Math.min(pr.snapshotOffset, snap.data.length);
  const end = Math.min(offset + r.cfg.snapshotChunkBytes, snap.data.length);
  const m: InstallSnapshot = {
    type: "InstallSnapshot", from: r.id, to: id, term: r.term, meta: snap.meta, offset,
    data: snap.data.subarray(offset, end), done: end === snap.data.length,
  };
  r.send(m, false);
  pr.chunkSent = true;
  return true;
}

/**
 * Leader: a follower reported how much of the snapshot it holds. Sends the next chunk if it
 * wants one and returns null; once it holds the whole snapshot, returns whether its
 * matchIndex grew (the caller then commits and sends the entries after the snapshot).
 */
export function handleSnapshotReply(r: RaftState, m: InstallSnapshotReply, pr: Progress): boolean | null {
  pr.recentActive = true;
  if (m.done) {
    if (pr.state === "snapshot" && m.lastIncludedIndex >= pr.pendingSnapshot) pr.becomeProbe();
    return pr.maybeUpdate(m.lastIncludedIndex);
  }
  if (pr.state !== "snapshot" || m.lastIncludedIndex !== pr.pendingSnapshot || !pr.chunkSent) return null;
  pr.snapshotOffset = m.nextOffset < 0 ? 0 : m.nextOffset;
  pr.chunkSent = false;
  sendSnapshotChunk(r, m.from, pr);
  return null;
}
