// Single-server membership changes (thesis §4.1-§4.2): one change at a time, none before
// the leader commits in its term, learners promoted automatically once caught up, and a
// removed leader stepping down when its removal commits.

import type { ConfChange, ProposeResult } from "./api.ts";
import { Progress } from "./progress.ts";
import type { RaftState } from "./state.ts";
import type { LogIndex, Member, Membership } from "./types.ts";

/** Most members a configuration may have (keeps quorum arithmetic and broadcasts cheap). */
const MEMBERS_MAX = 64;

/** True while a config entry this leader appended is uncommitted. */
export function confChangeInFlight(r: RaftState): boolean {
  return r.pendingConfIndex > r.log.commitIndex || r.log.term(r.log.commitIndex) !== r.term;
}

function refuse(r: RaftState, reason: "notLeader" | "transferring" | "confChangeInFlight" | "invalid"): ProposeResult {
  return { ok: false, reason, leader: r.leader };
}

/** The membership after `change`, or a reason to refuse; null means "already so" (no-op). */
function applyChange(current: Membership, change: ConfChange): Membership | "invalid" | null {
  const members = current.members;
  const existing = members.find((m) => m.id === change.id);
  if (typeof change.id !== "string" || change.id.length === 0) return "invalid";
  switch (change.type) {
    case "addLearner": {
      if (existing !== undefined && existing.addr === change.addr) return null;
      if (existing === undefined && members.length >= MEMBERS_MAX) return "invalid";
      const member: Member = { id: change.id, addr: change.addr, suffrage: existing?.suffrage ?? "learner" };
      const rest = members.filter((m) => m.id !== change.id);
      return { members: [...rest, member].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
    }
    case "promote": {
      if (existing === undefined) return "invalid";
      if (existing.suffrage === "voter") return null;
      return { members: members.map((m) => (m.id === change.id ? { ...m, suffrage: "voter" as const } : m)) };
    }
    case "remove": {
      if (existing === undefined) return null;
      const rest = members.filter((m) => m.id !== change.id);
      if (!rest.some((m) => m.suffrage === "voter")) return "invalid";
      return { members: rest };
    }
  }
}

/**
 * Proposes a configuration change (thesis §4.1). Refused with "confChangeInFlight" while an
 * earlier change is uncommitted or before this leader committed an entry of its term (§4.1
 * bug fix: a new leader must first commit in its term). A change that is already in force
 * succeeds with the id of the entry that carries the current configuration.
 */
export function proposeConfChange(r: RaftState, change: ConfChange): ProposeResult {
  if (r.role !== "leader") return refuse(r, "notLeader");
  if (r.transferee !== null) return refuse(r, "transferring");
  const next = applyChange(r.config.current, change);
  if (next === "invalid") return refuse(r, "invalid");
  if (next === null) {
    const index = r.config.currentIndex;
    return { ok: true, id: { index, term: r.log.term(index) ?? 0 } };
  }
  if (confChangeInFlight(r)) return refuse(r, "confChangeInFlight");
  const index = r.log.lastIndex() + 1;
  r.pendingConfIndex = index;
  r.appendAsLeader([{ index, term: r.term, kind: "config", data: new Uint8Array(0), membership: next }]);
  return { ok: true, id: { index, term: r.term } };
}

/**
 * Leader: one Progress per member other than self, in sorted id order (deterministic sends),
 * plus one per departing server: a server just removed keeps receiving the log until it holds
 * the entry that removed it, so it learns of its removal and stops campaigning, instead of
 * lingering as a voter of its own stale configuration (hashicorp/raft replicates up to the
 * removing entry the same way). Departing servers never count toward any quorum, which
 * reads only the configuration's voters.
 */
export function syncProgress(r: RaftState): void {
  const next = new Map<string, Progress>();
  const last = r.log.lastIndex();
  for (const m of r.config.current.members) {
    if (m.id === r.id) continue;
    next.set(m.id, r.progress.get(m.id) ?? new Progress(last + 1, r.cfg.inflightMessagesMax));
    r.departing.delete(m.id);
  }
  for (const [id, pr] of r.progress) {
    if (next.has(id) || id === r.id) continue;
    if (!r.departing.has(id)) r.departing.set(id, r.config.currentIndex);
    next.set(id, pr);
  }
  r.progress.clear();
  for (const [id, pr] of [...next].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) r.progress.set(id, pr);
  if (r.transferee !== null && !r.config.isVoter(r.transferee)) r.transferee = null;
}

/**
 * Leader: a server outside the configuration asked for votes, so it believes it is still a
 * voter: it was removed while down or cut off and never received its removal. Send it the
 * log until it holds the configuration that leaves it out (see syncProgress).
 */
export function noticeOutsider(r: RaftState, id: string): void {
  if (r.role !== "leader" || id === r.id || r.progress.has(id) || r.config.member(id) !== undefined) return;
  r.departing.set(id, r.config.currentIndex);
  r.progress.set(id, new Progress(r.log.lastIndex() + 1, r.cfg.inflightMessagesMax));
  r.needBroadcast = true;
}

/**
 * Leader: a departing server acknowledged `matchIndex`. It may go once it holds its removal
 * and the removal is committed: until it knows that, it may still campaign (see
 * Raft.isPromotable), so the caller sends it a last heartbeat carrying the commit first.
 */
export function isDepartingDone(r: RaftState, id: string, matchIndex: LogIndex): boolean {
  const removedAt = r.departing.get(id);
  return removedAt !== undefined && matchIndex >= removedAt && r.log.commitIndex >= removedAt;
}

/** Leader: stops sending to a departing server (see isDepartingDone). */
export function releaseDeparting(r: RaftState, id: string): void {
  r.departing.delete(id);
  r.progress.delete(id);
}

/**
 * Leader: promote one learner whose log is within promoteLagEntriesMax of ours, when no
 * change is in flight (thesis §4.2.1: new servers catch up as non-voters first).
 */
export function maybePromoteLearners(r: RaftState): void {
  if (r.role !== "leader" || r.transferee !== null || confChangeInFlight(r)) return;
  const last = r.log.lastIndex();
  for (const m of r.config.current.members) {
    if (m.suffrage !== "learner") continue;
    const pr = r.progress.get(m.id);
    // Caught up: it holds the current configuration and is within the lag of our end.
    if (pr === undefined || pr.matchIndex < r.config.currentIndex || pr.matchIndex + r.cfg.promoteLagEntriesMax < last) {
      continue;
    }
    proposeConfChange(r, { type: "promote", id: m.id });
    return;
  }
}

/**
 * Called when the commit index moved past `oldCommit`. A leader whose removal has committed
 * steps down (thesis §4.2.2), first nudging the most caught-up voter with TimeoutNow.
 */
export function onCommitted(r: RaftState, oldCommit: LogIndex): void {
  if (r.role !== "leader") return;
  if (r.config.currentIndex > oldCommit && r.config.currentIndex <= r.log.commitIndex) {
    if (r.config.member(r.id) === undefined || !r.config.isVoter(r.id)) {
      handOff(r);
      r.becomeFollower(r.term, null);
      return;
    }
  }
  maybePromoteLearners(r);
}

/** Sends TimeoutNow to a voter that holds our whole log, so a successor is elected at once. */
function handOff(r: RaftState): void {
  const last = r.log.lastIndex();
  for (const [id, pr] of r.progress) {
    if (r.config.isVoter(id) && pr.matchIndex === last) {
      r.send({ type: "TimeoutNow", from: r.id, to: id, term: r.term }, false);
      return;
    }
  }
}
