// Goal: a ReadIndex round (thesis §6.4) costs the followers only what a majority needs:
// however many linearizable reads arrive in one turn, the leader sends one heartbeat per
// voter it needs beside itself (one of two followers in a 3-node cluster; the follower whose
// read it is, if a follower forwarded one). A voter that does not answer is
// core_read_rounds.test.ts's.
// Method: production nodes (core, driver, store) on the test wire of cluster_kit.ts; the
// leader's heartbeats are counted (and held) on the wire.

import { expect, test } from "bun:test";
import { Cluster, fromNode, isHeartbeat, track } from "./cluster_kit.ts";

function elected(ids: string[]): Cluster {
  const c = new Cluster(ids);
  c.elect("a");
  c.proc("a").store.set([["k", "v"]]);
  c.run();
  c.tick(ids, 3);
  return c;
}

const heartbeatsFromA = (c: Cluster): string[] => c.held.filter((f) => isHeartbeat(f) && fromNode(f, "a")).map((f) => f.to);

test("50 reads in one turn: one heartbeat, to one of the two followers", async () => {
  const c = elected(["a", "b", "c"]);
  c.hold = (f) => isHeartbeat(f) && fromNode(f, "a");
  const reads = Array.from({ length: 50 }, () => track(c.proc("a").store.get("k", "linearizable")));
  c.run();
  expect(heartbeatsFromA(c)).toHaveLength(1);
  c.hold = () => false;
  c.release();
  await c.settle();
  expect(reads.map((r) => r.value)).toEqual(Array(50).fill("v"));
  c.close();
});

test("five voters: a round asks two followers", () => {
  const c = elected(["a", "b", "c", "d", "e"]);
  c.hold = (f) => isHeartbeat(f) && fromNode(f, "a");
  void c.proc("a").store.get("k", "linearizable").catch(() => undefined);
  c.run();
  expect(heartbeatsFromA(c)).toHaveLength(2);
  c.close();
});

test("a round for a follower's read asks that follower: the heartbeat brings it the commit its read waits for", async () => {
  const c = elected(["a", "b", "c"]);
  for (const follower of ["b", "c"]) {
    c.hold = (f) => isHeartbeat(f) && fromNode(f, "a");
    c.held = [];
    const read = track(c.proc(follower).store.get("k", "linearizable"));
    c.run();
    expect(heartbeatsFromA(c)).toEqual([`${follower}:12000`]);
    c.hold = () => false;
    c.release();
    await c.settle();
    expect(read.value).toBe("v");
  }
  c.close();
});
