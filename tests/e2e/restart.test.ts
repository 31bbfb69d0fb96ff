// Goal: a full stop and restart of every node keeps all data; with -inmem, exactly what the
// README states survives a restart (issue 5, item 5).
// Method: a 3-node cluster stopped with SIGTERM (clean) and then with SIGKILL (crash), each time
// restarted with the original commands and checked key by key on every node. For -inmem: a lone
// node with a tiny snapshot threshold shows that the newest snapshot (in the data directory)
// survives and the log after it does not; a lone node with no snapshot comes back empty, as a
// new cluster; a restarted -inmem follower gets everything back from the leader.

import { afterEach, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Cluster, request, type TestNode } from "../support/cluster.ts";

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = null;
});

async function threeNodes(c: Cluster, inmem = false): Promise<TestNode[]> {
  const node0 = await c.add({ id: "node0", inmem });
  await c.waitLeader([node0], 5_000);
  const node1 = await c.add({ id: "node1", join: node0, inmem });
  const node2 = await c.add({ id: "node2", join: node0, inmem });
  await c.waitVoters(node0, ["node0", "node1", "node2"]);
  return [node0, node1, node2];
}

async function expectEverywhere(nodes: readonly TestNode[], expected: Record<string, string>): Promise<void> {
  for (const node of nodes) {
    for (const [key, value] of Object.entries(expected)) {
      expect({ node: node.id, key, value: await node.value(key) }).toEqual({ node: node.id, key, value });
    }
  }
}

test("every node stopped (SIGTERM, then SIGKILL) and restarted keeps all data", async () => {
  const c = (cluster = new Cluster());
  const nodes = await threeNodes(c);
  const written: Record<string, string> = {};
  for (let i = 0; i < 20; i++) {
    expect((await nodes[i % 3]!.set({ [`k${i}`]: `v${i}` })).status).toBe(200);
    written[`k${i}`] = `v${i}`;
  }
  // One entry with several keys: all of them or none after the restarts.
  expect((await nodes[1]!.set({ multiA: "a", multiB: "b", multiC: "c" })).status).toBe(200);
  Object.assign(written, { multiA: "a", multiB: "b", multiC: "c" });
  expect((await nodes[2]!.set({ gone: "soon" })).status).toBe(200);
  expect((await request("DELETE", nodes[0]!.url("/key/gone"))).status).toBe(200);
  const termBefore = (await nodes[0]!.status()).term;

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    const exits = await Promise.all(nodes.map((n) => n.stop(signal)));
    for (const exit of exits) {
      if (signal === "SIGTERM") expect(exit).toEqual({ code: 0, signal: null });
      else expect(exit.signal).toBe("SIGKILL");
    }
    if (signal === "SIGTERM") for (const n of nodes) expect(n.log).toContain("SIGTERM received");
    for (const n of nodes) n.start();
    await c.waitLeader(nodes, 15_000);
    await expectEverywhere(nodes, written);
    for (const n of nodes) expect(await n.value("gone")).toBeNull();
    const s = await nodes[0]!.status();
    expect(s.term).toBeGreaterThanOrEqual(termBefore);
    expect(s.members.map((m) => m.id).sort()).toEqual(["node0", "node1", "node2"]);
    const key = `after-${signal}`;
    expect((await nodes[2]!.set({ [key]: "yes" })).status).toBe(200);
    written[key] = "yes";
  }
  await expectEverywhere(nodes, written);
}, 90_000);

/** The snapshots in a node's data directory, as [term, index], oldest first. */
function snapshotsOf(node: TestNode): Array<[number, number]> {
  const dir = join(node.dataDir, "snapshots");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => /^(\d+)-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m): [number, number] => [Number(m[1]), Number(m[2])])
    .sort((a, b) => a[1] - b[1]);
}

test("-inmem, one node: the newest snapshot survives a restart, the log after it does not", async () => {
  const c = (cluster = new Cluster());
  const node = await c.add({ id: "solo", inmem: true, extraArgs: ["-snapshot-threshold", "5", "-snapshot-interval", "0", "-snapshot-trailing", "2"] });
  await c.waitLeader([node], 5_000);
  // One entry per write, sequentially, so each key's log index is the last index after its ack.
  const indexOf: Record<string, number> = {};
  const write = async (key: string): Promise<void> => {
    expect((await node.set({ [key]: `value of ${key}` })).status).toBe(200);
    indexOf[key] = (await node.status()).lastIndex;
  };
  for (let i = 1; i <= 12; i++) await write(`k${i}`);
  // Snapshots are taken after apply, asynchronously to the write's answer: wait until the node
  // has taken every snapshot due, i.e. fewer than 5 applied entries lie past the newest.
  const settled = (): Promise<[number, number] | undefined> =>
    c.poll("the snapshots due at threshold 5", async () => {
      const last = snapshotsOf(node).at(-1);
      const s = await node.status();
      return last !== undefined && s.applied - last[1] < 5 ? last : undefined;
    }, 5_000);
  let newest = await settled();
  // Leave exactly 4 entries after the newest snapshot (one short of the next one), so the
  // restart has both a snapshot to keep and a log tail to lose.
  const tail = 4 - ((await node.status()).lastIndex - newest![1]);
  for (let i = 0; i < tail; i++) await write(`tail${i}`);
  newest = await settled();
  const before = await node.status();
  expect(before.lastIndex - newest![1]).toBe(4);
  // With -inmem nothing but snapshots reaches the data directory: no WAL, no term/vote file.
  expect(existsSync(join(node.dataDir, "raft", "wal"))).toBe(false);
  expect(existsSync(join(node.dataDir, "raft", "state"))).toBe(false);
  expect(snapshotsOf(node).length).toBeLessThanOrEqual(2);

  expect((await node.stop("SIGTERM")).code).toBe(0);
  node.start();
  await c.waitLeader([node], 5_000);
  const [snapTerm, snapIndex] = newest!;
  let kept = 0;
  for (const [key, index] of Object.entries(indexOf)) {
    const value = await node.value(key);
    // Exactly the entries the snapshot covers are back; the in-memory log after it is gone.
    expect({ key, index, value }).toEqual({ key, index, value: index <= snapIndex ? `value of ${key}` : null });
    if (index <= snapIndex) kept++;
  }
  expect(kept).toBeGreaterThan(0);
  expect(kept).toBeLessThan(Object.keys(indexOf).length);
  const after = await node.status();
  expect(after.members.map((m) => m.id)).toEqual(["solo"]);
  expect(after.commit).toBeGreaterThanOrEqual(snapIndex);
  expect((await node.set({ later: "x" })).status).toBe(200);
  expect(await node.value("later")).toBe("x");
  // Terms never go back: new entries must not carry a term older than the snapshot's
  // (log terms are non-decreasing; Raft paper §5.3 relies on it for Log Matching).
  const end = await node.status();
  expect(end.term).toBeGreaterThanOrEqual(snapTerm);
}, 60_000);

test("-inmem, one node, no snapshot yet: a restart starts an empty new cluster", async () => {
  const c = (cluster = new Cluster());
  const node = await c.add({ id: "solo", inmem: true });
  await c.waitLeader([node], 5_000);
  for (let i = 0; i < 3; i++) expect((await node.set({ [`k${i}`]: "v" })).status).toBe(200);
  expect(snapshotsOf(node)).toEqual([]);
  expect((await node.stop("SIGTERM")).code).toBe(0);
  node.start();
  await c.waitLeader([node], 5_000);
  expect(node.log.match(/bootstrapping a new cluster/g)).toHaveLength(2);
  for (let i = 0; i < 3; i++) expect(await node.value(`k${i}`)).toBeNull();
  expect((await node.set({ fresh: "start" })).status).toBe(200);
  expect(await node.value("fresh")).toBe("start");
}, 30_000);

test("-inmem cluster: a killed and restarted follower gets every key back from the leader", async () => {
  const c = (cluster = new Cluster());
  const nodes = await threeNodes(c, true);
  const written: Record<string, string> = {};
  for (let i = 0; i < 10; i++) {
    expect((await nodes[i % 3]!.set({ [`k${i}`]: `v${i}` })).status).toBe(200);
    written[`k${i}`] = `v${i}`;
  }
  const leader = await c.waitLeader(nodes);
  const follower = nodes.find((n) => n !== leader && n.id !== "node0") ?? nodes.find((n) => n !== leader)!;
  await follower.kill9();
  expect((await leader.set({ whileDown: "w" })).status).toBe(200);
  written["whileDown"] = "w";
  // Its original command: it comes back with nothing, rejoins (a no-op for the same id and
  // address) and is sent the whole log.
  follower.start();
  await c.waitHolds(follower, written, 10_000);
  await c.waitLeader(nodes);
  expect((await follower.status()).members.filter((m) => m.suffrage === "voter")).toHaveLength(3);
}, 60_000);
