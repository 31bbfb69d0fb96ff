// Goal: a leader answers the linearizable reads an acknowledgement confirms in the turn that
// acknowledgement arrives (thesis §6.4: a majority heard from it in a round begun after the
// reads arrived, and the state machine has applied the read index), not a driver turn later.
// Under load a leader's next driver turn comes only after every HTTP request of the same
// event-loop pass is parsed, so each read waited that long again after its round was settled.
// Method: production nodes (core, driver, store) on the test wire of cluster_kit.ts; the
// follower's acknowledgement is held, then delivered alone, with no deferred turn run.

import { expect, test } from "bun:test";
import { Cluster, flushMicrotasks, fromNode, isRaft, track, electedWithKey } from "./cluster_kit.ts";

const ackFromFollower = (f: Parameters<Cluster["hold"]>[0]): boolean => isRaft(f, "AppendEntriesReply") && !fromNode(f, "a");

test("reads confirmed by an acknowledgement are answered in the turn it arrives", async () => {
  const c = electedWithKey();
  c.hold = ackFromFollower;
  const reads = Array.from({ length: 20 }, () => track(c.proc("a").store.get("k", "linearizable")));
  c.run();
  expect(c.held.length).toBe(1);
  await flushMicrotasks();
  expect(reads.filter((r) => r.settled)).toHaveLength(0);
  c.hold = () => false;
  c.deliverHeld(ackFromFollower);
  await flushMicrotasks();
  expect(reads.map((r) => r.value)).toEqual(Array(20).fill("v"));
  c.run();
  c.close();
});

test("a read is not answered before its state is applied, nor by an acknowledgement of an older round", async () => {
  const c = electedWithKey();
  // A round in flight with its acknowledgement held; a write commits meanwhile.
  c.hold = ackFromFollower;
  const first = track(c.proc("a").store.get("k", "linearizable"));
  c.run();
  c.held = [];
  c.hold = () => false;
  const write = track(c.proc("a").store.set([["k", "w"]]));
  await c.settle();
  expect(write.settled).toBe(true);
  // A read begun after the write: its round's acknowledgement is held, and an earlier round's
  // acknowledgement (the write's) already counted; it waits for its own round.
  c.hold = ackFromFollower;
  const second = track(c.proc("a").store.get("k", "linearizable"));
  c.run();
  await flushMicrotasks();
  expect(second.settled).toBe(false);
  c.hold = () => false;
  c.deliverHeld(ackFromFollower);
  await flushMicrotasks();
  expect(second.value).toBe("w");
  expect(first.settled).toBe(true);
  c.run();
  c.close();
});
