// Goal: the scenario harness of production nodes is deterministic and its controls do what
// the scenarios assume (a disconnected server hears nothing, a restart is a new process built
// from the disk). Method: short stories on a NodeCluster, compared run against run.

import { expect, test } from "bun:test";
import { checkOneLeader, makeCluster, one } from "./mit_kit.ts";
import type { NodeCluster } from "./node_cluster.ts";

async function story(seed: number): Promise<NodeCluster> {
  const c = await makeCluster({ voters: 3, seed, snapshotThresholdEntries: 4 });
  for (let i = 0; i < 6; i++) await one(c, `a${i}`, 3, true);
  const leader = await checkOneLeader(c);
  c.crash(leader, "tear");
  await one(c, "b", 2, true);
  c.restart(leader);
  await one(c, "c", 3, true);
  return c;
}

test("a seed replays exactly: same log lines, same applied entries, same events", async () => {
  const a = await story(5);
  const b = await story(5);
  expect(b.log).toEqual(a.log);
  expect([...b.appliedLog.keys()]).toEqual([...a.appliedLog.keys()]);
  expect(b.scheduler.steps).toBe(a.scheduler.steps);
  expect(b.scheduler.now).toBe(a.scheduler.now);
});

test("disconnect cuts a server off both ways; connect brings it back", async () => {
  const c = await makeCluster({ voters: 3, seed: 6 });
  await one(c, "first", 3, true);
  const leader = await checkOneLeader(c);
  const follower = c.ids.find((id) => id !== leader)!;
  c.disconnect(follower);
  const sentBefore = c.wire.stats.delivered;
  const index = await one(c, "second", 2, true);
  expect(c.wire.stats.delivered).toBeGreaterThan(sentBefore);
  expect(c.lastApplied(follower)).toBeLessThan(index);
  expect(c.isConnected(follower)).toBe(false);
  c.connect(follower);
  expect(await c.runUntil(() => c.lastApplied(follower) >= index, 2000)).toBe(true);
  expect(c.value(follower, "x")).toBe("second");
});

test("a restart is a new process (new incarnation) whose state comes from its disk alone", async () => {
  const c = await makeCluster({ voters: 3, seed: 7 });
  await one(c, "kept", 3, true);
  const id = c.ids[0]!;
  const before = c.server(id).opened!.incarnation;
  c.crash(id);
  expect(c.isUp(id)).toBe(false);
  expect(c.value(id, "x")).toBeUndefined();
  c.restart(id);
  expect(c.server(id).lives).toBe(2);
  expect(c.server(id).opened!.incarnation).not.toBe(before);
  // Applied again from its own log once the leader tells it the commit index.
  expect(await c.runUntil(() => c.value(id, "x") === "kept", 2000)).toBe(true);
});
