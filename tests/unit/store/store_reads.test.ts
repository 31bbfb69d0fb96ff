// Goal: linearizable reads that arrive before the driver's next turn share one ReadIndex
// request, reads after it start another, and a dropped request fails every read that shared it.
// Method: production nodes (core, driver, store) on the test wire of cluster_kit.ts; the
// follower's ReadIndex frames to the leader are held, counted and released.

import { expect, test } from "bun:test";
import { StoreError } from "../../../store/errors.ts";
import { Cluster, flushMicrotasks, fromNode, isRaft, track, electedWithKey } from "./cluster_kit.ts";

const askedByB = (c: Cluster): number => c.held.filter((f) => isRaft(f, "ReadIndex") && fromNode(f, "b")).length;

test("reads before the driver's turn share one request; later reads get their own", async () => {
  const c = electedWithKey();
  c.hold = (f) => isRaft(f, "ReadIndex");
  const b = c.proc("b").store;
  const first = [b.get("k", "linearizable"), b.get("k", "linearizable"), b.get("nope", "linearizable")].map(track);
  expect(askedByB(c)).toBe(0);
  c.run();
  expect(askedByB(c)).toBe(1);
  const later = track(b.get("k", "linearizable"));
  c.run();
  expect(askedByB(c)).toBe(2);
  c.hold = () => false;
  c.release();
  await c.settle();
  expect(first.map((r) => r.value)).toEqual(["v", "v", null]);
  expect(later.value).toBe("v");
  c.run();
  expect(askedByB(c)).toBe(0);
  c.close();
});

test("a dropped request fails every read that shared it", async () => {
  const c = electedWithKey();
  // b loses its leader: it stops hearing from a for an election timeout and campaigns.
  c.hold = (f) => fromNode(f, "a") || fromNode(f, "c");
  c.tick(["b"], 25);
  expect(c.proc("b").node.status().leader).toBe(null);
  const reads = [c.proc("b").store.get("k", "linearizable"), c.proc("b").store.get("k", "linearizable")].map(track);
  c.run();
  await flushMicrotasks();
  for (const r of reads) {
    expect(r.settled).toBe(true);
    expect(r.error).toBeInstanceOf(StoreError);
    expect((r.error as StoreError).code).toBe("noLeader");
  }
  c.close();
});
