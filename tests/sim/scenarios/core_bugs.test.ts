// Goal: minimal reproductions of core bugs the simulator found (tests/sim/CORE_BUGS.md); each
// fails until the core is fixed. Method: a scripted story on the seeded simulator that forces
// the exact message loss the bug needs, then checks the property that broke.

import { expect, test } from "bun:test";
import { checkOneLeader, electionMs, makeCluster, one } from "../scenario_kit.ts";

// CORE_BUGS.md #1; the shape of hashicorp/raft TestRaft_AddMembership with one lost probe.
test("an idle leader catches up a new learner whose first probe was lost", () => {
  const c = makeCluster({ voters: 3, spares: 1, seed: 61, snapshotEvery: 5, trailingEntries: 0 });
  for (let i = 0; i < 20; i++) one(c, `v${i}`, 3, true);
  const leader = checkOneLeader(c);
  // Everything the leader sends n4 is lost for a while: its probe (or snapshot) included.
  c.network.blockOneWay(leader, "n4");
  const r = c.proposeConfChange(leader, { type: "addLearner", id: "n4", addr: "n4" });
  expect(r.ok).toBe(true);
  c.run(electionMs);
  c.network.unblockOneWay(leader, "n4");
  // No new proposals: heartbeats alone must lead the leader to bring n4 up to date.
  const last = c.node(leader).lastApplied;
  expect(c.runUntil(() => c.node("n4").lastApplied >= last, 5 * electionMs)).toBe(true);
});
