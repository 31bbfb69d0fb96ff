// Structural invariants of one core, checked after every step by tests and the simulator.
// Each check names the rule it guards so a failure points at the broken promise.

import type { RaftCore } from "./api.ts";
import { assert, InvariantError } from "./assert.ts";
import { Raft } from "./core.ts";
import type { Entry } from "./types.ts";

/** Throws InvariantError if `core` is internally inconsistent. O(log length). */
export function checkInvariants(core: RaftCore): void {
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
  let prev: Entry | undefined;
  for (const e of log.all()) {
    if (prev === undefined) {
      assert(e.index === log.firstIndex, `first entry ${e.index} ≠ firstIndex ${log.firstIndex}`);
      assert(e.term >= log.prevTerm, `term of ${e.index} below the compaction term`);
    } else {
      assert(e.index === prev.index + 1, `log gap between ${prev.index} and ${e.index}`);
      assert(e.term >= prev.term, `terms decrease at ${e.index}`);
    }
    assert((e.kind === "config") === (e.membership !== undefined), `entry ${e.index}: membership iff config`);
    prev = e;
  }
  assert(log.lastTerm() <= r.term, `last log term ${log.lastTerm()} > currentTerm ${r.term}`);
  checkRoles(r);
  const ids = r.config.current.members.map((m) => m.id);
  for (let i = 1; i < ids.length; i++) {
    assert((ids[i - 1] as string) < (ids[i] as string), "membership not sorted by unique id");
  }
}

function checkRoles(r: Raft): void {
  switch (r.role) {
    case "leader":
      assert(r.leader === r.id, "leader does not name itself");
      assert(r.votedFor === r.id, "leader did not vote for itself");
      for (const [id, pr] of r.progress) {
        assert(id !== r.id, "leader tracks progress of itself");
        assert(pr.matchIndex < pr.nextIndex, `progress ${id}: match ${pr.matchIndex} ≥ next ${pr.nextIndex}`);
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
