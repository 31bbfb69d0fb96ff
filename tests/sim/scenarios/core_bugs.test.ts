// Goal: minimal reproductions of core bugs the simulator found (tests/sim/CORE_BUGS.md); each
// fails on the core before its fix. Method: a scripted story on production nodes (openNode on
// simulated disk, wire and clock; tests/sim/harness) that forces the exact message loss the bug
// needs, then checks the property that broke.

import { expect, test } from "bun:test";
import { addrOf } from "../harness/node_cluster.ts";
import { checkOneLeader, electionMs, makeCluster, one } from "../harness/mit_kit.ts";

// CORE_BUGS.md #1; the shape of hashicorp/raft TestRaft_AddMembership with one lost probe.
test("an idle leader catches up a new learner whose first probe was lost", async () => {
  const c = await makeCluster({ voters: 3, spares: 1, seed: 61, snapshotThresholdEntries: 5, snapshotTrailingEntries: 0 });
  for (let i = 0; i < 20; i++) await one(c, `v${i}`, 3, true);
  const leader = await checkOneLeader(c);
  // Everything the leader sends n4 is lost for a while: its probe (or snapshot) included.
  c.blockOneWay(leader, "n4");
  // The join's own wait for promotion may run out meanwhile (it then names the learner left).
  c.store(leader).join("n4", addrOf("n4")).catch(() => {});
  await c.run(electionMs);
  expect(c.status(leader)!.members.some((m) => m.id === "n4")).toBe(true);
  c.unblockOneWay(leader, "n4");
  // No new writes: heartbeats alone must lead the leader to bring n4 up to date.
  const last = c.lastApplied(leader);
  expect(await c.runUntil(() => c.lastApplied("n4") >= last, 5 * electionMs)).toBe(true);
  // Caught up, the learner is promoted by itself.
  const isVoter = (): boolean => c.status(leader)!.members.some((m) => m.id === "n4" && m.suffrage === "voter");
  expect(await c.runUntil(isVoter, 2 * electionMs)).toBe(true);
  expect(c.value("n4", "x")).toBe("v19");
});
