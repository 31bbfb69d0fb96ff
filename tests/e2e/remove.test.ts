// Goal: `POST /remove` takes a node out; the cluster no longer counts it; restarted, it does
// not disturb the leader (issue 5, item 7), learns that it was removed, says so once in its log
// and in /status (state "removed") and answers clients 503 (issue 12, item 12). A restart logs
// the membership once as recovered, not every historical change again (issue 12, item 13).
// Method: 4 nodes; node3 is killed and removed through a follower (forwarded to the leader).
// "No longer counts it": with a second follower down too, 2 of the 3 remaining members are a majority
// and writes go on, where 2 of 4 would not be. Then node3 is restarted without -join, so it
// starts from its own log, which still lists it and the others as voters: the case that
// could depose a leader (Raft thesis §4.2.3; PreVote and leader stickiness prevent it). The
// leader and term must stay the same while it runs. Last, its original command (with -join)
// asks to join again and, as in hraftd, it is added back under the same leader.

import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { Cluster, jsonOf, request, type TestNode } from "../support/cluster.ts";

/** The node's log since its latest start (the log file keeps every life of the node). */
function currentLife(node: TestNode): string {
  const text = readFileSync(node.logPath, "utf8");
  return text.slice(text.lastIndexOf(`node ${node.id} starting`));
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

const cluster = new Cluster();
afterAll(() => cluster.cleanup());

/** How long a removed node is watched for disruption: several of its election timeouts (≤ 1 s each). */
const watchMs = 3_500;

test("remove a node; the cluster stops counting it; restarted, it does not disturb the leader", async () => {
  const node0 = await cluster.add({ id: "node0" });
  await cluster.waitLeader([node0], 5_000);
  const nodes: TestNode[] = [node0];
  for (const id of ["node1", "node2", "node3"]) nodes.push(await cluster.add({ id, join: node0 }));
  const node1 = nodes[1]!;
  const node3 = nodes[3]!;
  await cluster.waitVoters(node0, ["node0", "node1", "node2", "node3"]);
  expect((await node1.set({ before: "removal" })).status).toBe(200);

  await node3.kill9();
  const rest = nodes.slice(0, 3);
  const leader = await cluster.waitLeader(rest);
  const [viaFollower, victim] = rest.filter((n) => n !== leader) as [TestNode, TestNode];
  // Through a follower: forwarded to the leader over the Raft transport.
  const removed = await request("POST", viaFollower.url("/remove"), { id: "node3" });
  expect({ status: removed.status, body: removed.text }).toEqual({ status: 200, body: "" });
  for (const node of rest) {
    const s = await cluster.waitVoters(node, ["node0", "node1", "node2"]);
    expect(s.followers.map((f) => f.id)).not.toContain("node3");
  }
  // Removing it again: it is not a member.
  const again = await request("POST", leader.url("/remove"), { id: "node3" });
  expect(again.status).toBe(404);
  expect(jsonOf(again)).toHaveProperty("error");

  // A second follower down: leader and viaFollower are 2 of 3 members, a majority, so writes
  // commit; with node3 still counted they would be 2 of 4, and nothing could commit.
  await victim.kill9();
  const w = await leader.set({ counted: "without node3" }, 10_000);
  expect(w.status).toBe(200);
  for (const node of [leader, viaFollower]) expect(await node.value("counted")).toBe("without node3");
  victim.start();
  await cluster.waitHolds(victim, { counted: "without node3" });
  // Its restart replayed eight configurations (bootstrap, three adds, three promotions, the
  // removal): the log states the membership once, as recovered, and no replayed change.
  const victimLife = currentLife(victim);
  expect(count(victimLife, "membership at start: ")).toBe(1);
  expect(count(victimLife, "membership now")).toBe(0);

  // node3 again, from its own stale log (no -join): it still believes it is a voter.
  const before = await leader.status();
  node3.start(node3.args.filter((a, i, all) => a !== "-join" && all[i - 1] !== "-join"));
  await cluster.poll("node3 to serve /status", () => node3.status(), 10_000);
  // It asks for votes; the leader answers by sending it the log up to its removal.
  await cluster.poll("node3 to learn it was removed", async () => (await node3.status()).state === "removed" || undefined, 10_000);
  const refused = await request("GET", node3.url("/key/counted"));
  expect(refused.status).toBe(503);
  expect(String((jsonOf(refused) as { error?: unknown }).error)).toContain("no longer a member");
  expect((await node3.set({ from: "removed" })).status).toBe(503);
  // TIMING-SENSITIVE (a negative check): watch for several election timeouts that the leader
  // and term stay put and writes keep committing.
  const watchStart = performance.now();
  let writes = 0;
  while (performance.now() - watchStart < watchMs) {
    const r = await leader.set({ [`during-${writes}`]: "x" }, 5_000);
    expect(r.status).toBe(200);
    writes++;
    const s = await leader.status();
    expect({ leader: s.leader.id, term: s.term }).toEqual({ leader: leader.id, term: before.term });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const node of rest) {
    const s = await node.status();
    expect({ node: node.id, leader: s.leader.id, term: s.term }).toEqual({ node: node.id, leader: leader.id, term: before.term });
    expect(s.members.map((m) => m.id)).not.toContain("node3");
  }
  expect(node3.isRunning).toBe(true);
  const removedStatus = await node3.status();
  expect(removedStatus.state).toBe("removed");
  expect(removedStatus.members.map((m) => m.id)).not.toContain("node3");
  expect(count(currentLife(node3), "was removed from the cluster")).toBe(1);
  await node3.stop("SIGTERM");

  // Its original command asks to join again: hraftd's semantics add it back, same leader.
  node3.start();
  await cluster.waitVoters(leader, ["node0", "node1", "node2", "node3"]);
  await cluster.waitHolds(node3, { counted: "without node3", before: "removal" });
  expect((await leader.status()).leader.id).toBe(leader.id);
}, 90_000);
