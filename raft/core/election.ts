// Elections: randomized timeouts (§5.2), PreVote (thesis §9.6), vote granting with the
// up-to-date check (§5.4.1), leader stickiness and CheckQuorum (thesis §6.2, §9.6), and the
// refusal the leader's lease rests on (thesis §6.4.1, raft/lease.ts).

import type { RequestVote, RequestVoteReply, TimeoutNow } from "./messages.ts";
import { quorumSize, voteResult } from "./quorum.ts";
import type { RaftState } from "./state.ts";
import type { NodeId } from "./types.ts";

/** Largest value electionElapsed grows to while a node cannot campaign (keeps it bounded). */
const ELAPSED_CAP_TICKS = 1 << 30;

/**
 * True while this node refuses (pre)votes, so that a partitioned or removed server cannot
 * depose a live leader (stickiness, thesis §4.2.3/§9.6) and so that a leader's lease holds
 * (raft/lease.ts). Two windows after the last word from our leader:
 * - the lease window L (leaseTicks), in every case: a leader's lease lasts less than L ticks
 *   from a round it sent, and counts on every voter that acknowledged the round refusing for L;
 * - the whole minimum election timeout, unless this follower saw its leader's connection close
 *   (goneLeader, below): a voter still hearing its leader never has goneLeader set (any message
 *   from it clears it), so a live leader keeps every voter that hears it, and stays in office
 *   while a majority does.
 * Also true for the first election timeout after the process started (≥ L): a restarted node
 * has forgotten when it last heard from the leader, and may have acknowledged a heartbeat just
 * before it went down.
 */
export function inLease(r: RaftState): boolean {
  if (!r.cfg.checkQuorum) return false;
  if (r.startTicksLeft > 0) return true;
  if (r.leader === null) return false;
  return r.electionElapsed < (r.goneLeader === r.leader ? r.cfg.leaseTicks : r.cfg.electionTicks);
}

/** Counts down the quiet period after a start (see inLease); every role, every tick. */
export function tickStart(r: RaftState): void {
  if (r.startTicksLeft > 0) r.startTicksLeft--;
}

/** Follower/candidate tick: campaign once the randomized election timeout passes (§5.2). */
export function tickElection(r: RaftState): void {
  r.electionElapsed = Math.min(r.electionElapsed + 1, ELAPSED_CAP_TICKS);
  if (!r.isPromotable()) return;
  // A lone voter has no one to wait for: it elects itself on its first tick.
  const alone = r.config.voters.length === 1;
  if (alone || r.electionElapsed >= r.randomizedElectionTimeout || (r.goneLeader !== null && r.goneLeader === r.leader && r.electionElapsed >= r.goneLeaderTimeout)) {
    campaign(r, false);
  }
}

/**
 * A follower's connection from its leader closed. A SIGKILLed or crashed process closes its
 * sockets, so its followers learn at once what the election timeout would tell them only
 * 500–1000 ms later; a partition or a paused process closes nothing and still waits that out.
 * From now on this follower refuses votes only for the lease window after its last word from
 * the leader (inLease), and campaigns once the other voters, who saw the same close, may grant:
 * they refuse for leaseTicks after their own last word, which arrived at about the time ours
 * did, so one tick later, plus a slot per rank (below) so that two followers who both saw the
 * close rarely split the vote. The lease (raft/lease.ts) never counted on more than leaseTicks
 * of refusal, so it holds even for a leader still alive behind a closed connection; such a
 * leader is not deposed while a majority still hears it (they refuse for electionTicks). A
 * connection closed by accident is re-dialled and the leader's next message cancels this
 * (step.ts); until then the cost is an early PreVote, which disrupts no one.
 */
export function noteLeaderDisconnected(r: RaftState, from: NodeId): void {
  if (r.role !== "follower" || r.leader !== from) return;
  // Followers take turns by their rank among the surviving voters, a slot apart, and draw
  // within their slot: every follower hears the close at once, so with a shared window two of
  // them often asked together and split the vote (a second, randomized timeout lost).
  const rank = Math.max(0, r.config.voters.filter((id) => id !== from).sort().indexOf(r.id));
  const slotTicks = Math.max(1, Math.floor(r.cfg.electionTicks / 16));
  r.goneLeader = from;
  r.goneLeaderTimeout = r.cfg.leaseTicks + 1 + rank * slotTicks + r.cfg.rng.int(slotTicks);
}

/**
 * Leader tick, after the elapsed counters moved: CheckQuorum every electionTicks (§6.2).
 * Returns false if the leader stepped down (no majority was heard from).
 */
export function tickCheckQuorum(r: RaftState): boolean {
  if (r.electionElapsed < r.cfg.electionTicks) return true;
  r.electionElapsed = 0;
  if (r.cfg.checkQuorum && !checkQuorumActive(r)) {
    r.becomeFollower(r.term, null);
    return false;
  }
  return true;
}

/** Did a majority of voters (self included, if a voter) talk to us since the last check? */
function checkQuorumActive(r: RaftState): boolean {
  let active = r.config.isVoter(r.id) ? 1 : 0;
  for (const [id, pr] of r.progress) {
    if (pr.recentActive && r.config.isVoter(id)) active++;
    pr.recentActive = false;
  }
  return active >= quorumSize(r.config.voters.length);
}

/**
 * Starts an election. With PreVote and no transfer, first a PreVote round (thesis §9.6);
 * a transfer (TimeoutNow) skips it and marks its RequestVotes to bypass stickiness (§3.10).
 */
export function campaign(r: RaftState, transfer: boolean): void {
  if (!r.isPromotable() || r.role === "leader") return;
  if (!r.cfg.preVote || transfer) {
    campaignReal(r, transfer);
    return;
  }
  r.becomePreCandidate();
  r.votes.set(r.id, true);
  if (tallyAndAdvance(r)) return;
  // PreVote changes no persistent state, so it may leave at once; it asks for term + 1.
  requestVotes(r, { term: r.term + 1, preVote: true, transfer: false, afterPersist: false });
}

/** Sends RequestVote (or its PreVote form) to every other voter, with our last log entry. */
function requestVotes(
  r: RaftState,
  opts: { readonly term: number; readonly preVote: boolean; readonly transfer: boolean; readonly afterPersist: boolean },
): void {
  const lastLogIndex = r.log.lastIndex();
  const lastLogTerm = r.log.lastTerm();
  for (const id of r.config.voters) {
    if (id === r.id) continue;
    const m: RequestVote = {
      type: "RequestVote", from: r.id, to: id, term: opts.term, preVote: opts.preVote, lastLogIndex, lastLogTerm,
      transfer: opts.transfer,
    };
    r.send(m, opts.afterPersist);
  }
}

/** Acts on the tally; returns true if the (pre)election is decided. */
function tallyAndAdvance(r: RaftState): boolean {
  const result = voteResult(r.config.voters, r.votes);
  if (result === "pending") return false;
  if (result === "lost") {
    r.becomeFollower(r.term, null);
    return true;
  }
  if (r.role === "precandidate") campaignReal(r, false);
  else r.becomeLeader();
  return true;
}

/** §5.2: a real election in term + 1; RequestVotes leave only after the term and self-vote persist. */
function campaignReal(r: RaftState, transfer: boolean): void {
  r.becomeCandidate();
  r.votes.set(r.id, true);
  if (tallyAndAdvance(r)) return;
  requestVotes(r, { term: r.term, preVote: false, transfer, afterPersist: true });
}

/**
 * §5.2, §5.4.1: grant a vote if we have not voted for someone else this term (and follow
 * no leader in it) and the candidate's log is at least as up-to-date as ours. A PreVote is
 * granted on the same log check for a term above ours, without recording anything.
 */
export function handleRequestVote(r: RaftState, m: RequestVote): void {
  const upToDate = r.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
  let grant: boolean;
  if (m.preVote) {
    grant = m.term > r.term && upToDate;
  } else {
    const canVote = r.votedFor === m.from || (r.votedFor === null && r.leader === null);
    grant = canVote && upToDate;
    if (grant) {
      r.votedFor = m.from;
      // Granting a vote resets the election timer (§5.2, Figure 2 "Followers").
      r.electionElapsed = 0;
    }
  }
  const reply: RequestVoteReply = {
    type: "RequestVoteReply", from: r.id, to: m.from, term: grant && m.preVote ? m.term : r.term,
    preVote: m.preVote, voteGranted: grant,
  };
  // A real vote must be on disk before it is announced (persist before you speak).
  r.send(reply, !m.preVote);
}

/** Counts a (pre)vote reply for the round we are in; stale rounds are ignored. */
export function handleVoteReply(r: RaftState, m: RequestVoteReply): void {
  if (m.preVote) {
    if (r.role !== "precandidate") return;
    if (m.voteGranted && m.term !== r.term + 1) return;
  } else if (r.role !== "candidate") {
    return;
  }
  r.votes.set(m.from, m.voteGranted);
  tallyAndAdvance(r);
}

/** The target of a transfer (§3.10): campaign now, skipping PreVote and overriding stickiness. */
export function handleTimeoutNow(r: RaftState, _m: TimeoutNow): void {
  if (r.role === "leader" || !r.isPromotable()) return;
  campaign(r, true);
}
