// Structural invariants of one core, checked after every step by tests and the simulator.
// Each check names the rule it guards so a failure points at the broken promise.

import type { RaftCore } from "./api.ts";
import { assert, InvariantError } from "./assert.ts";
import { Raft } from "./core.ts";

/** Entries checked at each end of the log per call unless a full check is asked for. */
const WINDOW_ENTRIES = 128;

/**
 * Throws InvariantError if `core` is internally inconsistent. By default the log is checked
 * at both ends (a bounded window, so the simulator can call this after every step);
 * `full` checks every held entry, O(log length).
 */
export function checkInvariants(core: RaftCore, full = false): void {
  if (!(core instanceof Raft)) throw new InvariantError("checkInvariants: not a core made by createRaft");
  const r = core;
  const log = r.log;
  const last = log.lastIndex();
  assert(log.commitIndex <= last, `commitIndex ${log.commitIndex} > lastLogIndex ${last}`);
  assert(log.lastApplied <= log.handedOut, `lastApplied ${log.lastApplied} > handedOut ${log.handedOut}`);
  assert(log.handedOut <= log.commitIndex, `handedOut ${log.handedOut} > commitIndex ${log.commitIndex}`);
  assert(log.commitIndex >= log.firstIndex - 1, "commitIndex below the compaction point");
  assert(log.persistedIndex <= last, `persistedIndex ${log.persistedIndex} > lastLogIndex ${last}`);
  const snapIndex = r.snapshot?.meta.lastIncludedIndex ?? 0;
  assert(snapIndex <= log.commitIndex, `snapshot ${snapIndex} beyond commitIndex ${log.commitIndex}`);
  const n = log.length;
  if (full || n <= 2 * WINDOW_ENTRIES) {
    checkRange(r, log.firstIndex, last);
  } else {
    checkRange(r, log.firstIndex, log.firstIndex + WINDOW_ENTRIES - 1);
    checkRange(r, last - WINDOW_ENTRIES + 1, last);
  }
  assert(log.lastTerm() <= r.term, `last log term ${log.lastTerm()} > currentTerm ${r.term}`);
  checkRoles(r);
  const ids = r.config.current.members.map((m) => m.id);
  for (let i = 1; i < ids.length; i++) {
    assert((ids[i - 1] as string) < (ids[i] as string), "membership not sorted by unique id");
  }
}

/** Indexes contiguous, terms non-decreasing, membership iff config, over [lo, hi]. */
function checkRange(r: Raft, lo: number, hi: number): void {
  const log = r.log;
  let prevTerm = log.term(lo - 1);
  assert(prevTerm !== undefined || lo > log.firstIndex, `no term before ${lo}`);
  for (let i = lo; i <= hi; i++) {
    const e = log.entry(i);
    if (prevTerm !== undefined) assert(e.term >= prevTerm, `terms decrease at ${i}`);
    assert((e.kind === "config") === (e.membership !== undefined), `entry ${i}: membership iff config`);
    prevTerm = e.term;
  }
}

function checkRoles(r: Raft): void {
  switch (r.role) {
    case "leader":
      assert(r.leader === r.id, "leader does not name itself");
      assert(r.votedFor === r.id, "leader did not vote for itself");
      for (const [id, pr] of r.progress) {
        assert(id !== r.id, "leader tracks progress of itself");
        // Pipelining sends from after match; a probe (or a snapshot it turned into) that
        // resends to a follower claiming a shorter log may start at or below match.
        assert(pr.matchIndex < pr.nextIndex || pr.state !== "replicate", `progress ${id}: match ${pr.matchIndex} ≥ next ${pr.nextIndex} (${pr.state})`);
        assert(pr.nextIndex >= 1, `progress ${id}: nextIndex ${pr.nextIndex} < 1`);
        assert(pr.matchIndex <= r.log.lastIndex(), `progress ${id}: match beyond our log`);
      }
      break;
    case "candidate":
      assert(r.votedFor === r.id, "candidate did not vote for itself");
      assert(r.leader === null, "candidate follows a leader");
      break;
    case "precandidate":
      assert(r.leader === null, "precandidate follows a leader");
      break;
    case "follower":
      assert(r.leader !== r.id, "follower names itself leader");
      assert(r.progress.size === 0, "follower keeps leader progress");
      break;
  }
}
