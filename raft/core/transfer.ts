// Leadership transfer (thesis §3.10): the leader stops taking proposals, brings the target
// up to date, then sends TimeoutNow so the target starts an election at once. It gives up
// after one election timeout.

import type { Raft } from "./core.ts";
import { campaign } from "./election.ts";
import type { TimeoutNow } from "./messages.ts";
import type { Progress } from "./progress.ts";
import { sendAppend } from "./replication.ts";
import type { NodeId } from "./types.ts";

/** Starts a transfer to voter `id`; false if we are not leader or `id` cannot lead. */
export function transferLeadership(r: Raft, id: NodeId): boolean {
  if (r.role !== "leader" || id === r.id || !r.config.isVoter(id)) return false;
  const pr = r.progress.get(id);
  if (pr === undefined) return false;
  if (r.transferee === id) return true;
  r.transferee = id;
  r.transferElapsed = 0;
  if (pr.matchIndex === r.log.lastIndex()) {
    sendTimeoutNow(r, id);
    return true;
  }
  // Pipelined appends to the target may have been lost: probe from its match to be sure.
  if (pr.state === "replicate") pr.becomeProbe();
  sendAppend(r, id, pr, true);
  return true;
}

/** Called when the target acknowledged entries: send TimeoutNow once it holds our whole log. */
export function maybeSendTimeoutNow(r: Raft, id: NodeId, pr: Progress): void {
  if (r.transferee === id && pr.matchIndex === r.log.lastIndex()) sendTimeoutNow(r, id);
}

function sendTimeoutNow(r: Raft, id: NodeId): void {
  const m: TimeoutNow = { type: "TimeoutNow", from: r.id, to: id, term: r.term };
  r.send(m, false);
}

/** A transfer that did not finish within an election timeout is abandoned (§3.10). */
export function abortTransferIfExpired(r: Raft): void {
  if (r.transferee !== null && r.transferElapsed >= r.cfg.electionTicks) {
    r.transferee = null;
    r.transferElapsed = 0;
  }
}

/** The target: campaign now, skipping PreVote and overriding stickiness (transfer=true). */
export function handleTimeoutNow(r: Raft, _m: TimeoutNow): void {
  if (r.role === "leader" || !r.isPromotable()) return;
  campaign(r, true);
}
