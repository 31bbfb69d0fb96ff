// Goal: readVersioned (getVersioned with its answer called back, one promise a read) answers
// what getVersioned(...).then(answer) answers, at every level, on the leader and a follower;
// a linearizable read's answer runs only once its ReadIndex is confirmed (never before the
// round), and a failed read rejects without calling it; what the answer throws rejects.
// Method: production nodes (core, driver, store) on the test wire of cluster_kit.ts.

import { expect, test } from "bun:test";
import type { VersionedValue } from "../../../store/api.ts";
import { StoreError } from "../../../store/errors.ts";
import { type Cluster, electedWithKey, flushMicrotasks, fromNode, isRaft, track } from "./cluster_kit.ts";

const levels = ["linearizable", "leader", "stale"] as const;
const tagged = (key: string, v: VersionedValue): string => `${key}=${JSON.stringify(v)}`;

async function both(c: Cluster, node: string, key: string, level: (typeof levels)[number]): Promise<[string | undefined, string | undefined]> {
  const s = c.proc(node).store;
  const one = track(s.readVersioned(key, level, undefined, tagged));
  const two = track(s.getVersioned(key, level).then((v) => tagged(key, v)));
  await c.settle();
  expect(one.settled && two.settled).toBe(true);
  return [one.value, two.value];
}

test("answers what getVersioned then the answer would, at every level, on leader and follower", async () => {
  const c = electedWithKey();
  for (const node of ["a", "b"]) {
    for (const level of levels) {
      for (const key of ["k", "absent"]) {
        const [one, two] = await both(c, node, key, level);
        expect(one).toBe(two!);
        expect(one).toContain(key === "k" ? '"value":"v"' : '"value":null');
      }
    }
  }
  c.close();
});

test("a linearizable read's answer waits for its round; a dropped read rejects without it", async () => {
  const c = electedWithKey();
  c.hold = (f) => isRaft(f, "AppendEntriesReply");
  let calls = 0;
  const read = track(c.proc("a").store.readVersioned("k", "linearizable", undefined, (k, v) => {
    calls++;
    return tagged(k, v);
  }));
  c.run();
  await flushMicrotasks();
  expect(calls).toBe(0);
  expect(read.settled).toBe(false);
  c.hold = () => false;
  c.release();
  await c.settle();
  expect(calls).toBe(1);
  expect(read.value).toContain('"value":"v"');

  // b stops hearing from its leader and campaigns: its read fails unanswered.
  c.hold = (f) => fromNode(f, "a") || fromNode(f, "c");
  c.tick(["b"], 25);
  let called = false;
  const lost = track(c.proc("b").store.readVersioned("k", "linearizable", undefined, () => (called = true)));
  c.run();
  await flushMicrotasks();
  expect(lost.settled).toBe(true);
  expect((lost.error as StoreError).code).toBe("noLeader");
  expect(called).toBe(false);
  c.close();
});

test("what the answer throws rejects the read", async () => {
  const c = electedWithKey();
  for (const level of levels) {
    const r = track(c.proc("a").store.readVersioned("k", level, undefined, () => {
      throw new Error(`answer failed at ${level}`);
    }));
    await c.settle();
    expect((r.error as Error).message).toBe(`answer failed at ${level}`);
  }
  c.close();
});
