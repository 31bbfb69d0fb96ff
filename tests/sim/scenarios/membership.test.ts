// Goal: membership changes and leadership transfer stay safe and live, after the hashicorp/raft
// fuzzy suite. Method: scripted stories on the seeded simulator with a background writer; every
// safety checker runs after each event, and all members must converge at the end.

import { expect, test } from "bun:test";
import type { ConfChange, NodeId } from "../../../raft/core/mod.ts";
import type { Cluster } from "../cluster.ts";
import { checkOneLeader, electionMs, makeCluster, one } from "../scenario_kit.ts";

/** Proposes `change` at the current leader until it is accepted and committed; returns its index. */
function changeMembership(c: Cluster, change: ConfChange): number {
  const deadline = c.scheduler.now + 20 * electionMs;
  while (c.scheduler.now < deadline) {
    const leader = c.leader();
    if (leader !== null && c.isConnected(leader)) {
      const r = c.proposeConfChange(leader, change);
      if (r.ok) {
        const index = r.id.index;
        const done = c.runUntil(() => c.appliedLog.get(index)?.term === r.id.term, 3 * electionMs);
        if (done) return index;
        continue;
      }
      if (r.reason === "invalid") throw new Error(`conf change ${JSON.stringify(change)} refused as invalid`);
    }
    c.run(50);
  }
  throw new Error(`conf change ${JSON.stringify(change)} did not commit`);
}

function voters(c: Cluster, at: NodeId): string[] {
  return c.status(at)!.members.filter((m) => m.suffrage === "voter").map((m) => m.id).sort();
}

/** All live members applied everything the leader committed. */
function converge(c: Cluster, members: readonly NodeId[]): void {
  const last = one(c, `converge-${c.scheduler.now}`, members.length, true);
  expect(c.runUntil(() => members.every((id) => c.node(id).lastApplied >= last), 5 * electionMs)).toBe(true);
}

// hashicorp/raft fuzzy TestRaft_AddMembership
test("AddMembership: 3 → 5 voters, new servers join as learners and are promoted", () => {
  const c = makeCluster({ voters: 3, spares: 2, seed: 51, snapshotEvery: 20 });
  for (let i = 0; i < 30; i++) one(c, `pre${i}`, 3, true);
  for (const id of ["n4", "n5"]) {
    changeMembership(c, { type: "addLearner", id, addr: id });
    // Promotion is automatic once the learner catches up (DESIGN: joining as non-voters).
    expect(c.runUntil(() => { const l = c.leader(); return l !== null && voters(c, l).includes(id); }, 10 * electionMs)).toBe(true);
    one(c, `after-${id}`, 3, true);
  }
  const leader = checkOneLeader(c);
  expect(voters(c, leader)).toEqual(["n1", "n2", "n3", "n4", "n5"]);
  converge(c, c.ids);
});

// hashicorp/raft fuzzy TestRaft_AddRemoveNodesNotLeader
test("AddRemoveNodesNotLeader: remove two followers; the rest keep committing", () => {
  const c = makeCluster({ voters: 5, seed: 52 });
  one(c, "start", 5, true);
  const leader = checkOneLeader(c);
  const gone = c.ids.filter((id) => id !== leader).slice(0, 2);
  for (const id of gone) {
    changeMembership(c, { type: "remove", id });
    one(c, `after-remove-${id}`, 3, true);
  }
  const now = checkOneLeader(c);
  expect(voters(c, now)).toEqual(c.ids.filter((id) => !gone.includes(id)).sort());
  converge(c, c.ids.filter((id) => !gone.includes(id)));
});

// hashicorp/raft fuzzy TestRaft_RemoveLeader
test("RemoveLeader: the leader removes itself, steps down, and the others elect a new one", () => {
  const c = makeCluster({ voters: 3, seed: 53 });
  one(c, "start", 3, true);
  const leader = checkOneLeader(c);
  changeMembership(c, { type: "remove", id: leader });
  c.disconnect(leader); // a removed server is shut down in hashicorp's test
  const next = checkOneLeader(c);
  expect(next).not.toBe(leader);
  expect(voters(c, next)).not.toContain(leader);
  converge(c, c.ids.filter((id) => id !== leader));
});

// hashicorp/raft fuzzy TestRaft_RemovePartitionedNode
test("RemovePartitionedNode: a node removed while partitioned cannot depose the leader when it returns", () => {
  const c = makeCluster({ voters: 5, seed: 54 });
  one(c, "start", 5, true);
  const leader = checkOneLeader(c);
  const victim = c.ids.find((id) => id !== leader)!;
  c.disconnect(victim);
  changeMembership(c, { type: "remove", id: victim });
  c.run(5 * electionMs); // the victim's election timer fires again and again
  const leaderBefore = checkOneLeader(c);
  const termBefore = c.status(leaderBefore)!.term;
  c.connect(victim);
  c.run(5 * electionMs);
  const leaderAfter = checkOneLeader(c);
  expect(leaderAfter).toBe(leaderBefore);
  expect(c.status(leaderAfter)!.term).toBe(termBefore);
  converge(c, c.ids.filter((id) => id !== victim));
});

// hashicorp/raft fuzzy TestRaft_FuzzyLeadershipTransfer
test("LeadershipTransfer: repeated transfers to random followers under writes", () => {
  const c = makeCluster({ voters: 5, seed: 55, snapshotEvery: 15 });
  one(c, "start", 5, true);
  let transfers = 0;
  for (let iter = 0; iter < 10; iter++) {
    const leader = checkOneLeader(c);
    const target = c.rng.pick(c.ids.filter((id) => id !== leader));
    for (let i = 0; i < 5; i++) c.propose(leader, { type: "set", values: { x: `t${iter}-${i}` } });
    if (c.transferLeadership(leader, target)) {
      if (c.runUntil(() => c.status(target)?.role === "leader", 2 * electionMs)) transfers++;
    }
    one(c, `iter${iter}`, 5, true);
  }
  expect(transfers).toBeGreaterThanOrEqual(8);
  converge(c, c.ids);
});
