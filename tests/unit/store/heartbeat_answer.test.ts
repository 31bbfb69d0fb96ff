// Goal: a follower answers a leader's heartbeat (every linearizable read's round is one) in
// the turn it arrives when nothing else waits for a turn there, rather than one driver turn
// later: that turn cost the follower another pass of its event loop per round (issue 18).
// Inputs already waiting (an append whose sync the heartbeat must not hurry) keep their turn.
// Method: production nodes on the test wire of cluster_kit.ts; the heartbeat of a read's round
// is held, then delivered alone with no deferred turn run; the turns left due are counted.

import { expect, test } from "bun:test";
import { Cluster, type Frame, flushMicrotasks, fromNode, isHeartbeat, isRaft, toNode, track, electedWithKey } from "./cluster_kit.ts";

const heartbeatToB = (f: Frame): boolean => isHeartbeat(f) && toNode(f, "b");
const replyFromB = (f: Frame): boolean => isRaft(f, "AppendEntriesReply") && fromNode(f, "b");

test("a follower answers a read round's heartbeat in the turn it arrives", async () => {
  const c = electedWithKey();
  c.hold = heartbeatToB;
  const read = track(c.proc("a").store.get("k", "linearizable"));
  c.run();
  expect(c.held.filter(heartbeatToB)).toHaveLength(1);
  c.deliverHeld(heartbeatToB);
  // No driver turn left due at b: its reply is on the wire already.
  expect(c.turnsDue).toBe(0);
  c.hold = replyFromB;
  c.run();
  expect(c.held.filter(replyFromB)).toHaveLength(1);
  c.hold = () => false;
  c.release();
  await flushMicrotasks();
  expect(read.value).toBe("v");
  c.close();
});

test("a heartbeat arriving while a follower's turn is due joins that turn", async () => {
  const c = electedWithKey();
  c.hold = heartbeatToB;
  const read = track(c.proc("a").store.get("k", "linearizable"));
  c.run();
  c.proc("b").node.wake(); // an input waiting for b's next turn
  c.deliverHeld(heartbeatToB);
  // b answers in that turn: nothing of its reply is on the wire before it runs.
  expect(c.turnsDue).toBe(1);
  c.hold = replyFromB;
  c.deliverHeld(() => false);
  expect(c.held.filter(replyFromB)).toHaveLength(0);
  c.hold = () => false;
  c.run();
  await flushMicrotasks();
  expect(read.value).toBe("v");
  c.close();
});
