// Leadership transfer (thesis §3.10): the leader stops taking proposals, brings the target
// up to date, then sends TimeoutNow so the target starts an election at once. It gives up
// after one election timeout. The target's side (TimeoutNow: campaign at once) is in election.ts.

import type { TimeoutNow } from "./messages.ts";
import type { Progress } from "./progress.ts";
import type { RaftState } from "./state.ts";
import type { NodeId } from "./types.ts";

/**
 * Starts a transfer to voter `id`: null if we are not leader or `id` cannot lead; "started"
 * if under way (TimeoutNow sent, or an earlier transfer to it); "catchUp" if the target
 * lacks entries: the caller sends it an append now (probing from its match).
 */
export function startTransfer(r: RaftState, id: NodeId): "started" | "catchUp" | null {
  if (r.role !== "leader" || id === r.id || !r.config.isVoter(id)) return null;
  const pr = r.progress.get(id);
  if (pr === undefined) return null;
  if (r.transferee === id) return "started";
  r.transferee = id;
  r.transferElapsed = 0;
  if (pr.matchIndex === r.log.lastIndex()) {
    sendTimeoutNow(r, id);
    return "started";
  }
  // Pipelined appends to the target may have been lost: probe from its match to be sure.
  if (pr.state === "replicate") pr.becomeProbe();
  return "catchUp";
}

/** Called when the target acknowledged entries: send TimeoutNow once it holds our whole log. */
export function maybeSendTimeoutNow(r: RaftState, id: NodeId, pr: Progress): void {
  if (r.transferee === id && pr.matchIndex === r.log.lastIndex()) sendTimeoutNow(r, id);
}

function sendTimeoutNow(r: RaftState, id: NodeId): void {
  const m: TimeoutNow = { type: "TimeoutNow", from: r.id, to: id, term: r.term };
  r.send(m, false);
}

/** Leader tick: a transfer that did not finish within an election timeout is abandoned (§3.10). */
export function tickTransfer(r: RaftState): void {
  if (r.transferee === null) return;
  r.transferElapsed++;
  if (r.transferElapsed >= r.cfg.electionTicks) {
    r.transferee = null;
    r.transferElapsed = 0;
  }
}
