// Where an incoming message goes: the term rules every message passes first (§5.1, with
// PreVote and leader stickiness, thesis §9.6/§4.2.3), then the rule file that owns its type.
// The replies a leader receives also chain one rule into the next (an ack may release a
// departing server, commit, complete a transfer, promote a learner), and so does a commit.
// Like the rule files, this file sees the server only as the RaftState type: core.ts calls
// it and it never imports core.ts.

import { unreachable } from "./assert.ts";
import { handleRequestVote, handleTimeoutNow, handleVoteReply, inLease } from "./election.ts";
import { isDepartingDone, maybePromoteLearners, noticeOutsider, onCommitted, releaseDeparting } from "./membership.ts";
import type { AppendEntriesReply, InstallSnapshotReply, Message } from "./messages.ts";
import { ackRead, handleReadIndexReply, handleReadIndexRequest, readsOnCommit } from "./read_index.ts";
import {
  deferPipe,
  handleAppendEntries,
  handleAppendReply,
  handleSnapshotReply,
  maybeCommit,
  sendAppend, sendHeartbeat,
  spareReads,
} from "./replication.ts";
import { handleInstallSnapshot } from "./snapshot.ts";
import type { RaftState } from "./state.ts";
import { maybeSendTimeoutNow } from "./transfer.ts";

/** Handles one message addressed to `r`: term rules first, then the rule that owns its type. */
export function step(r: RaftState, m: Message): void {
  if (m.to !== r.id || m.from === r.id) return;
  if (m.from === r.goneLeader) r.goneLeader = null; // it is back (its connection was re-dialled)
  if (m.type === "RequestVote" && r.role === "leader") noticeOutsider(r, m.from);
  if (m.term > r.term) {
    if (!stepHigherTerm(r, m)) return;
  } else if (m.term < r.term) {
    stepLowerTerm(r, m);
    return;
  }
  dispatch(r, m);
}

/** §5.1: a higher term makes us a follower, except for PreVote traffic and sticky leases. */
function stepHigherTerm(r: RaftState, m: Message): boolean {
  if (m.type === "RequestVote") {
    // Leader stickiness (thesis §4.2.3/§9.6): ignore disruptive requests while a leader lives.
    if (!m.transfer && inLease(r)) return false;
    if (m.preVote) return true;
    r.becomeFollower(m.term, null);
    return true;
  }
  if (m.type === "RequestVoteReply" && m.preVote && m.voteGranted) return true;
  const fromLeader = m.type === "AppendEntries" || m.type === "InstallSnapshot" || m.type === "TimeoutNow";
  r.becomeFollower(m.term, fromLeader ? m.from : null);
  return true;
}

/** Stale-term messages: tell an old leader or candidate our term; drop the rest. */
function stepLowerTerm(r: RaftState, m: Message): void {
  if (m.type === "AppendEntries" || m.type === "InstallSnapshot") {
    r.send(
      { type: "AppendEntriesReply", from: r.id, to: m.from, term: r.term, success: false,
        matchIndex: 0, conflictIndex: 0, conflictTerm: 0, readRound: 0 },
      true,
    );
  } else if (m.type === "RequestVote") {
    r.send(
      { type: "RequestVoteReply", from: r.id, to: m.from, term: r.term, preVote: m.preVote, voteGranted: false },
      true,
    );
  }
}

function dispatch(r: RaftState, m: Message): void {
  switch (m.type) {
    case "RequestVote":
      return handleRequestVote(r, m);
    case "RequestVoteReply":
      return handleVoteReply(r, m);
    case "AppendEntries":
      return handleAppendEntries(r, m);
    case "AppendEntriesReply":
      return stepAppendReply(r, m);
    case "InstallSnapshot":
      return handleInstallSnapshot(r, m);
    case "InstallSnapshotReply":
      return stepSnapshotReply(r, m);
    case "TimeoutNow":
      return handleTimeoutNow(r, m);
    case "ReadIndex":
      spareReads(r);
      return handleReadIndexRequest(r, m);
    case "ReadIndexReply":
      return handleReadIndexReply(r, m);
    default:
      return unreachable(m);
  }
}

/**
 * Leader: a follower answered an append. Its read round counts toward pending reads; if
 * its matchIndex grew, that may release it (departing), commit, complete a transfer or
 * promote a learner, in that order; the pipe to it is refilled at the next flush.
 */
function stepAppendReply(r: RaftState, m: AppendEntriesReply): void {
  if (r.role !== "leader") return;
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  if (m.readRound > 0) ackRead(r, m.from, m.readRound);
  if (!handleAppendReply(r, m, pr)) return;
  if (r.departing.has(m.from) && isDepartingDone(r, m.from, pr.matchIndex)) {
    // Its last word from us: the commit that covers its removal, so it stops campaigning.
    sendHeartbeat(r, m.from, pr);
    releaseDeparting(r, m.from);
    return;
  }
  commit(r);
  if (r.role !== "leader") return;
  maybeSendTimeoutNow(r, m.from, pr);
  maybePromoteLearners(r);
  deferPipe(r, m.from);
}

/** Leader: a follower answered a snapshot chunk; once it holds it all, commit and go on. */
function stepSnapshotReply(r: RaftState, m: InstallSnapshotReply): void {
  if (r.role !== "leader") return;
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  const matchGrew = handleSnapshotReply(r, m, pr);
  if (matchGrew === null) return;
  if (matchGrew) commit(r);
  if (r.role === "leader" && pr.state !== "snapshot") sendAppend(r, m.from, pr, true);
}

/**
 * Leader: Figure 8's commit rule, then the consequences of a commit: a leader whose
 * removal committed steps down, learners may be promoted (membership.ts), and reads
 * waiting for the term's first commit may proceed (read_index.ts).
 */
export function commit(r: RaftState): void {
  const old = r.log.commitIndex;
  if (!maybeCommit(r)) return;
  onCommitted(r, old);
  if (r.role === "leader") readsOnCommit(r);
}
