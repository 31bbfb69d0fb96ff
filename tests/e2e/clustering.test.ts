// Goal: hraftd's CLUSTERING walkthrough, where the third node joins through the SECOND node's
// address, a follower; hraftd refuses that join and we accept it (issue 5, item 2).
// Method: three "machines" as three loopback addresses (127.0.0.1, .2, .3), each node listening
// on its own address as in CLUSTERING.md; node3 runs `-join <node2's HTTP address>`; then every
// node must list three voters under one leader and serve a write made through the newest node.

import { afterAll, expect, test } from "bun:test";
import { Cluster } from "../support/cluster.ts";

const cluster = new Cluster();
afterAll(() => cluster.cleanup());

test("CLUSTERING walkthrough: node3 joins through node2, a follower", async () => {
  const node1 = await cluster.add({ id: "node1", host: "127.0.0.1" });
  await cluster.waitLeader([node1], 5_000);
  const node2 = await cluster.add({ id: "node2", host: "127.0.0.2", join: node1 });
  await cluster.waitVoters(node1, ["node1", "node2"]);
  expect((await node2.status()).state).toBe("follower");

  // The join goes to a follower, which forwards it to the leader over the Raft transport.
  const node3 = await cluster.add({ id: "node3", host: "127.0.0.3", join: node2 });
  const all = [node1, node2, node3];
  await cluster.waitVoters(node1, ["node1", "node2", "node3"]);
  const leader = await cluster.waitLeader(all);
  expect(leader.id).toBe("node1");
  for (const node of all) {
    const s = await node.status();
    expect(s.me).toEqual({ id: node.id, address: node.raftAddr });
    expect(s.leader).toEqual({ id: "node1", address: node1.raftAddr });
    expect(s.followers.map((f) => f.id).sort()).toEqual(["node2", "node3"]);
    expect(s.members.map((m) => `${m.id}@${m.addr}:${m.suffrage}`).sort()).toEqual([
      `node1@${node1.raftAddr}:voter`,
      `node2@${node2.raftAddr}:voter`,
      `node3@${node3.raftAddr}:voter`,
    ]);
  }
  // node3 exited neither early nor with an error: it is still serving.
  expect(node3.isRunning).toBe(true);
  expect(node3.log).toContain("joined the cluster");

  expect((await node3.set({ machine: "three" })).status).toBe(200);
  for (const node of all) expect(await node.value("machine")).toBe("three");
}, 60_000);
