// Log replication (§5.3): AppendEntries sending with batching and pipelining, the
// follower's consistency check and conflict hints, and commit by majority (Figure 8).

import type { Raft } from "./core.ts";
import { maybePromoteLearners, maybeReleaseDeparting, onCommitted } from "./membership.ts";
import type { AppendEntries, AppendEntriesReply } from "./messages.ts";
import type { Progress } from "./progress.ts";
import { majorityIndex } from "./quorum.ts";
import { sendSnapshotChunk } from "./snapshot.ts";
import { maybeSendTimeoutNow } from "./transfer.ts";
import type { Entry, LogIndex, NodeId } from "./types.ts";

/** Heartbeat rounds without any acknowledgement before a pipelined follower is re-probed. */
const STALLED_HEARTBEATS_MAX = 2;

/** Leader appends its own entries; followers get them at the next flush, batched. */
export function appendAsLeader(r: Raft, entries: readonly Entry[]): void {
  r.appendEntries(entries);
  for (const e of entries) r.uncommittedBytes += e.data.length;
  r.needBroadcast = true;
}

/**
 * Sends one AppendEntries to `id` from its nextIndex: as many entries as fit in
 * appendBytesMax, or an empty one if `sendIfEmpty`. Falls back to InstallSnapshot when the
 * entries it needs were compacted. Returns true if something was sent.
 */
export function sendAppend(r: Raft, id: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
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
  const last = r.log.lastIndex();
  const entries = pr.nextIndex <= last ? r.log.slice(pr.nextIndex, last, r.cfg.appendBytesMax) : [];
  if (entries.length === 0 && !sendIfEmpty) return false;
  const m: AppendEntries = {
    type: "AppendEntries", from: r.id, to: id, term: r.term, prevLogIndex: prev, prevLogTerm: prevTerm,
    entries, leaderCommit: r.log.commitIndex, readRound: r.reads.latestRound,
  };
  r.send(m, false);
  pr.commitSent = Math.max(pr.commitSent, Math.min(r.log.commitIndex, prev + entries.length));
  if (entries.length > 0) pr.sentEntries((entries[entries.length - 1] as Entry).index);
  else if (pr.state === "probe") pr.probeSent = true;
  return true;
}

/** Sends every follower what it lacks (pipelined up to the in-flight window) and new commits. */
export function broadcastAppend(r: Raft): void {
  for (const [id, pr] of r.progress) {
    let sent = false;
    // A follower in probe state that is not waiting on a probe needs one, even if empty.
    while (sendAppend(r, id, pr, pr.state === "probe")) {
      sent = true;
      if (pr.state !== "replicate") break;
    }
    if (!sent && r.commitNoticeDue && pr.state !== "snapshot" && Math.min(r.log.commitIndex, pr.matchIndex) > pr.commitSent) {
      sendHeartbeat(r, id, pr);
    }
  }
}

/**
 * A heartbeat is an empty AppendEntries at the follower's matchIndex, which always passes the
 * consistency check, carrying the commit index and the latest ReadIndex round (§5.2, §6.4).
 */
export function sendHeartbeat(r: Raft, id: NodeId, pr: Progress): void {
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

export function broadcastHeartbeat(r: Raft): void {
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
export function handleAppendEntries(r: Raft, m: AppendEntries): void {
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

/** Replies leave only after the appended entries persist (an ack promises durability). */
function replyAppend(
  r: Raft, m: AppendEntries, success: boolean, matchIndex: LogIndex, conflictIndex: LogIndex, conflictTerm: number,
): void {
  const reply: AppendEntriesReply = {
    type: "AppendEntriesReply", from: r.id, to: m.from, term: r.term, success, matchIndex,
    conflictIndex, conflictTerm, readRound: m.readRound,
  };
  r.send(reply, true);
}

/** Leader side: advance or back off the follower's progress; commit; keep the pipe full. */
export function handleAppendReply(r: Raft, m: AppendEntriesReply): void {
  if (r.role !== "leader") return;
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  if (m.readRound > 0) r.reads.ack(r, m.from, m.readRound);
  if (!m.success) {
    if (m.conflictIndex === 0) return; // a stale-term rejection carries no hint
    if (m.conflictTerm === 0 && m.conflictIndex <= pr.matchIndex && m.matchIndex >= pr.matchIndex && pr.state !== "snapshot") {
      // "My log ends before what I acknowledged": a late rejection or a lost log.
      pr.resendFrom(m.conflictIndex - 1);
      sendAppend(r, m.from, pr, true);
      return;
    }
    if (pr.maybeDecrTo(m.matchIndex, hintNext(r, m))) sendAppend(r, m.from, pr, true);
    return;
  }
  if (pr.maybeUpdate(m.matchIndex)) {
    if (r.departing.has(m.from)) {
      maybeReleaseDeparting(r, m.from, pr.matchIndex);
      if (!r.progress.has(m.from)) return;
    }
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.matchIndex >= pr.pendingSnapshot) pr.becomeProbe();
    maybeCommit(r);
    if (r.role !== "leader") return;
    maybeSendTimeoutNow(r, m.from, pr);
    maybePromoteLearners(r);
  } else {
    pr.onHeartbeat();
  }
  // A follower in probe state that still lacks entries needs a probe even when there is
  // nothing new to send; otherwise an idle leader would only ever heartbeat it at its
  // matchIndex and it would never catch up (found by the simulator, seeds 275/296/419).
  const needsProbe = pr.state === "probe" && pr.matchIndex < r.log.lastIndex();
  while (sendAppend(r, m.from, pr, needsProbe)) {
    if (pr.state !== "replicate") break;
  }
}

/**
 * Where to probe next after a rejection. If we hold entries of the follower's conflicting
 * term, resume after our last one; otherwise skip the follower's whole run of that term.
 */
function hintNext(r: Raft, m: AppendEntriesReply): LogIndex {
  if (m.conflictTerm === 0) return m.conflictIndex;
  const idx = r.log.lastIndexAtOrBeforeTerm(m.conflictTerm, m.matchIndex);
  if (idx >= r.log.firstIndex && r.log.term(idx) === m.conflictTerm) return idx + 1;
  return m.conflictIndex;
}

/**
 * Figure 8 / §5.4.2: the commit index moves to the highest index a majority of voters hold,
 * but only if that entry is of the current term (earlier ones commit with it).
 */
export function maybeCommit(r: Raft): void {
  const idx = majorityIndex(r.config.voters, (id) =>
    id === r.id ? r.log.persistedIndex : (r.progress.get(id)?.matchIndex ?? 0),
  );
  if (idx <= r.log.commitIndex || r.log.term(idx) !== r.term) return;
  commitTo(r, idx);
}

function commitTo(r: Raft, idx: LogIndex): void {
  const old = r.log.commitIndex;
  r.log.commitIndex = idx;
  if (r.uncommittedBytes > 0) {
    for (let i = Math.max(old + 1, r.log.firstIndex); i <= idx; i++) {
      r.uncommittedBytes = Math.max(0, r.uncommittedBytes - r.log.entry(i).data.length);
    }
  }
  r.needBroadcast = true;
  onCommitted(r, old);
  if (r.role === "leader") r.reads.onCommit(r);
}
