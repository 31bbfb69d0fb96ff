// Builds the Ready batch from the core's outbox and applies advance(): the only place
// where "handed out" becomes "persisted / applied". core.ts flushes batched work into the
// outbox before ready() and commits after advance().

import { assert } from "./assert.ts";
import type { Ready } from "./ready.ts";
import type { RaftState } from "./state.ts";

/** Upper bound on the bytes of committed entries handed out in one Ready. */
const COMMITTED_BYTES_MAX = 64 * 1024 * 1024;

function hardChanged(r: RaftState): boolean {
  return r.prevHard.currentTerm !== r.term || r.prevHard.votedFor !== r.votedFor;
}

function softChanged(r: RaftState): boolean {
  return r.prevSoft.role !== r.role || r.prevSoft.leader !== r.leader || r.prevSoft.term !== r.term ||
    r.prevSoft.removed !== r.isRemoved();
}

/**
 * True if the outbox or the log holds something for a Ready (false while a Ready is
 * outstanding). Only looks: batched work not yet flushed is core.ts's to report.
 */
export function hasReady(r: RaftState): boolean {
  if (r.outstanding !== null) return false;
  return (
    r.msgs.length > 0 ||
    r.msgsAfterPersist.length > 0 ||
    r.log.unstableFrom <= r.log.lastIndex() ||
    r.log.commitIndex > r.log.handedOut ||
    r.readStates.length > 0 ||
    r.droppedReads.length > 0 ||
    r.snapshotToInstall !== null ||
    hardChanged(r) ||
    softChanged(r)
  );
}

/** Drains the outbox into one Ready. At most one Ready may be outstanding. */
export function buildReady(r: RaftState): Ready {
  assert(r.outstanding === null, "ready() called again before advance()");
  const log = r.log;
  const committed =
    log.commitIndex > log.handedOut ? log.slice(log.handedOut + 1, log.commitIndex, COMMITTED_BYTES_MAX) : [];
  const ready: Ready = {
    hardState: hardChanged(r) ? { currentTerm: r.term, votedFor: r.votedFor } : null,
    snapshot: r.snapshotToInstall,
    entries: log.unstable(),
    messages: r.msgs,
    messagesAfterPersist: r.msgsAfterPersist,
    committed,
    readStates: r.readStates,
    droppedReads: r.droppedReads,
    softState: softChanged(r) ? { role: r.role, leader: r.leader, term: r.term, removed: r.isRemoved() } : null,
  };
  log.unstableFrom = log.lastIndex() + 1;
  const lastCommitted = committed[committed.length - 1];
  if (lastCommitted !== undefined) log.handedOut = lastCommitted.index;
  if (ready.hardState !== null) r.prevHard = ready.hardState;
  if (ready.softState !== null) r.prevSoft = ready.softState;
  r.msgs = [];
  r.msgsAfterPersist = [];
  r.readStates = [];
  r.droppedReads = [];
  r.snapshotToInstall = null;
  r.outstanding = ready;
  return ready;
}

/**
 * The driver carried `ready` out: its entries and snapshot are durable (they now count
 * toward the leader's own match, §10.2.1 of the thesis, so core.ts then tries to commit)
 * and its committed entries applied.
 */
export function advanceReady(r: RaftState, ready: Ready): void {
  assert(r.outstanding === ready, "advance() with a Ready that is not the outstanding one");
  r.outstanding = null;
  const log = r.log;
  if (ready.snapshot !== null) {
    const idx = ready.snapshot.meta.lastIncludedIndex;
    if (log.firstIndex - 1 === idx) log.persistedIndex = Math.max(log.persistedIndex, idx);
    log.lastApplied = Math.max(log.lastApplied, idx);
  }
  // Entries truncated while this Ready was out are not ours any more: count only the
  // prefix that still matches (Log Matching: one matching entry implies all before it).
  for (let i = ready.entries.length - 1; i >= 0; i--) {
    const e = ready.entries[i];
    if (e !== undefined && log.term(e.index) === e.term) {
      if (e.index > log.persistedIndex) log.persistedIndex = e.index;
      break;
    }
  }
  const lastCommitted = ready.committed[ready.committed.length - 1];
  if (lastCommitted !== undefined) log.lastApplied = Math.max(log.lastApplied, lastCommitted.index);
}
