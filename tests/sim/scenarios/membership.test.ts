// Goal: membership changes and leadership transfer stay safe and live, after the hashicorp/raft
// fuzzy suite. Method: scripted stories on production nodes (openNode on simulated disk, wire
// and clock; tests/sim/harness): joins and removals go through the Store API (store.join,
// store.remove, as POST /join and /remove do), spare servers start empty as with -join; every
// safety checker runs after each event, and all members must converge at the end.

import { expect, test } from "bun:test";
import type { NodeId } from "../../../raft/core/mod.ts";
import { addrOf, type NodeCluster } from "../harness/node_cluster.ts";
import { checkOneLeader, electionMs, makeCluster, one } from "../harness/mit_kit.ts";

/** Runs a join or removal at a connected server until it succeeds (retrying refusals). */
async function changeMembership(c: NodeCluster, change: { type: "join" | "remove"; id: NodeId }): Promise<void> {
  const deadline = c.scheduler.now + 20 * electionMs;
  let last: unknown = null;
  while (c.scheduler.now < deadline) {
    const at = c.leader();
    if (at !== null && c.isConnected(at)) {
      const store = c.store(at);
      const r = await c.settle(change.type === "join" ? store.join(change.id, addrOf(change.id)) : store.remove(change.id), 3 * electionMs);
      if (r.ok) return;
      last = r.error;
    }
    await c.run(50);
  }
  throw new Error(`${change.type} ${change.id} did not complete: ${String(last)}`);
}

function voters(c: NodeCluster, at: NodeId): string[] {
  return c.status(at)!.members.filter((m) => m.suffrage === "voter").map((m) => m.id).sort();
}

/** All live members applied everything the leader committed, and hold the same value. */
async function converge(c: NodeCluster, members: readonly NodeId[]): Promise<void> {
  const value = `converge-${c.scheduler.now}`;
  const last = await one(c, value, members.length, true);
  expect(await c.runUntil(() => members.every((id) => c.lastApplied(id) >= last), 5 * electionMs)).toBe(true);
  for (const id of members) expect(c.value(id, "x")).toBe(value);
}

// hashicorp/raft fuzzy TestRaft_AddMembership
test("AddMembership: 3 → 5 voters, new servers join as learners and are promoted", async () => {
  const c = await makeCluster({ voters: 3, spares: 2, seed: 51, snapshotThresholdEntries: 20 });
  for (let i = 0; i < 30; i++) await one(c, `pre${i}`, 3, true);
  for (const id of ["n4", "n5"]) {
    // store.join adds a learner and returns once the core has promoted it (caught up).
    await changeMembership(c, { type: "join", id });
    const leader = c.leader()!;
    expect(voters(c, leader)).toContain(id);
    await one(c, `after-${id}`, 3, true);
  }
  const leader = await checkOneLeader(c);
  expect(voters(c, leader)).toEqual(["n1", "n2", "n3", "n4", "n5"]);
  await converge(c, c.ids);
});

// hashicorp/raft fuzzy TestRaft_AddRemoveNodesNotLeader
test("AddRemoveNodesNotLeader: remove two followers; the rest keep committing", async () => {
  const c = await makeCluster({ voters: 5, seed: 52 });
  await one(c, "start", 5, true);
  const leader = await checkOneLeader(c);
  const gone = c.ids.filter((id) => id !== leader).slice(0, 2);
  for (const id of gone) {
    await changeMembership(c, { type: "remove", id });
    await one(c, `after-remove-${id}`, 3, true);
  }
  const now = await checkOneLeader(c);
  expect(voters(c, now)).toEqual(c.ids.filter((id) => !gone.includes(id)).sort());
  await converge(c, c.ids.filter((id) => !gone.includes(id)));
  // A removed server knows it and refuses clients (it would serve stale state otherwise).
  for (const id of gone) expect(c.store(id).status().state).toBe("removed");
});

// hashicorp/raft fuzzy TestRaft_RemoveLeader
test("RemoveLeader: the leader removes itself, steps down, and the others elect a new one", async () => {
  const c = await makeCluster({ voters: 3, seed: 53 });
  await one(c, "start", 3, true);
  const leader = await checkOneLeader(c);
  const r = await c.settle(c.store(leader).remove(leader), 3 * electionMs);
  expect(r.ok).toBe(true);
  c.disconnect(leader); // a removed server is shut down in hashicorp's test
  const next = await checkOneLeader(c);
  expect(next).not.toBe(leader);
  expect(voters(c, next)).not.toContain(leader);
  await converge(c, c.ids.filter((id) => id !== leader));
});

// hashicorp/raft fuzzy TestRaft_RemovePartitionedNode
test("RemovePartitionedNode: a node removed while partitioned cannot depose the leader when it returns", async () => {
  const c = await makeCluster({ voters: 5, seed: 54 });
  await one(c, "start", 5, true);
  const leader = await checkOneLeader(c);
  const victim = c.ids.find((id) => id !== leader)!;
  c.disconnect(victim);
  await changeMembership(c, { type: "remove", id: victim });
  await c.run(5 * electionMs); // the victim's election timer fires again and again
  const leaderBefore = await checkOneLeader(c);
  const termBefore = c.status(leaderBefore)!.term;
  c.connect(victim);
  await c.run(5 * electionMs);
  const leaderAfter = await checkOneLeader(c);
  expect(leaderAfter).toBe(leaderBefore);
  expect(c.status(leaderAfter)!.term).toBe(termBefore);
  await converge(c, c.ids.filter((id) => id !== victim));
});

// hashicorp/raft fuzzy TestRaft_FuzzyLeadershipTransfer
test("LeadershipTransfer: repeated transfers to random followers under writes", async () => {
  const c = await makeCluster({ voters: 5, seed: 55, snapshotThresholdEntries: 15 });
  await one(c, "start", 5, true);
  let transfers = 0;
  for (let iter = 0; iter < 10; iter++) {
    const leader = await checkOneLeader(c);
    const target = c.rng.pick(c.ids.filter((id) => id !== leader));
    for (let i = 0; i < 5; i++) c.store(leader).set([["x", `t${iter}-${i}`]]).catch(() => {});
    if (c.transferLeadership(leader, target)) {
      if (await c.runUntil(() => c.status(target)?.role === "leader", 2 * electionMs)) transfers++;
    }
    await one(c, `iter${iter}`, 5, true);
  }
  expect(transfers).toBeGreaterThanOrEqual(8);
  await converge(c, c.ids);
});
