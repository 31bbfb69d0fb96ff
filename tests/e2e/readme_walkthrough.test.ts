// Goal: hraftd's README walkthrough works as written, on the compiled binary (issue 5, item 1).
// Method: start node0 with only `-id node0 <dir>` (the default addresses localhost:11000 and
// localhost:12000) when those ports are free, else the same commands on random ports; set and
// get user1; start node1 and node2 with `-join :11000`; read user1 on all three; set user2 and
// read it on all three right away, which the default (linearizable) read level must allow.

import { afterAll, expect, test } from "bun:test";
import { Cluster, portsFree, type TestNode } from "../support/cluster.ts";

const cluster = new Cluster();
afterAll(() => cluster.cleanup());

const defaultPorts = [11000, 12000, 11001, 12001, 11002, 12002];

test("README walkthrough: node0 alone, set/get user1, two nodes join, user1 and user2 everywhere", async () => {
  const useDefaults = await portsFree(defaultPorts);
  if (!useDefaults) {
    console.log(`ports ${defaultPorts.join(", ")} are in use here: running the walkthrough on random ports`);
  }
  let node0: TestNode;
  if (useDefaults) {
    // Exactly the README's command: no address flags at all.
    node0 = await cluster.add({
      id: "node0",
      httpAddr: "localhost:11000",
      raftAddr: "localhost:12000",
      exactArgs: ["-id", "node0", cluster.dataDirOf("node0")],
    });
  } else {
    node0 = await cluster.add({ id: "node0" });
  }

  // A lone node elects itself; the first write may race that, so wait for the leader first.
  await cluster.waitLeader([node0], 5_000);
  const set1 = await node0.set({ user1: "batman" });
  expect(set1.status).toBe(200);
  expect(set1.text).toBe("");
  const get1 = await node0.get("user1");
  expect(get1.status).toBe(200);
  expect(JSON.parse(get1.text)).toEqual({ user1: "batman" });

  // `-join :11000`: hraftd's short form, an address with no host meaning this machine.
  const joinTarget = `:${node0.httpAddr.split(":")[1]}`;
  const others: TestNode[] = [];
  for (const [i, id] of ["node1", "node2"].entries()) {
    others.push(
      await cluster.add(
        useDefaults
          ? { id, httpAddr: `localhost:${11001 + i}`, raftAddr: `localhost:${12001 + i}`, join: joinTarget }
          : { id, join: joinTarget },
      ),
    );
  }
  const all = [node0, ...others];
  // "Once joined": the leader lists both as voters (a joiner is a learner until caught up).
  await cluster.waitVoters(node0, ["node0", "node1", "node2"]);
  await cluster.waitLeader(all);

  for (const node of all) {
    const r = await node.get("user1");
    expect({ node: node.id, status: r.status, body: r.text }).toEqual({
      node: node.id,
      status: 200,
      body: '{"user1":"batman"}',
    });
  }

  expect((await node0.set({ user2: "robin" })).status).toBe(200);
  // Right away, with no waiting: a linearizable read on a follower reflects the acknowledged write.
  const reads = await Promise.all(all.map(async (node) => ({ node: node.id, r: await node.get("user2") })));
  for (const { node, r } of reads) {
    expect({ node, status: r.status, body: r.text }).toEqual({ node, status: 200, body: '{"user2":"robin"}' });
  }
}, 60_000);
