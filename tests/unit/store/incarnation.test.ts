// Goal: no identity a node matches replies on (read contexts, forwarded request ids) survives
// a restart, and replies count only from whom they were asked. Method: three production nodes
// on the in-memory wire of cluster_kit.ts; a follower asks, its reply is held back, the
// follower restarts, asks again, and the old reply is then delivered to the new process.

import { afterEach, expect, test } from "bun:test";
import { parseStoreMessage } from "../../../store/forward.ts";
import { Cluster, type Frame, fromNode, flushMicrotasks, isHeartbeat, isRaft, isStore, toNode, track } from "./cluster_kit.ts";

let cluster: Cluster | null = null;
afterEach(() => cluster?.close());

/** a leads a, b, c and k = v1 is applied everywhere. */
async function setup(): Promise<Cluster> {
  const c = new Cluster(["a", "b", "c"]);
  cluster = c;
  c.elect("a");
  c.tick(["a", "b", "c"], 2);
  const w = track(c.proc("a").store.set([["k", "v1"]]));
  c.run();
  c.tick(["a", "b", "c"], 2);
  await flushMicrotasks();
  expect(w.settled && w.error === undefined).toBe(true);
  for (const id of ["a", "b", "c"]) expect(c.proc(id).sm.get("k")).toBe("v1");
  return c;
}

test("a follower restarted mid-read is never answered with its previous life's read index", async () => {
  const c = await setup();
  // b asks for a read index; the leader's answer is held back (b crashes before it arrives).
  c.hold = (f) => toNode(f, "b") && isRaft(f, "ReadIndexReply");
  void c.proc("b").store.get("k", "linearizable").catch(() => {});
  c.run();
  expect(c.held.length).toBe(1);
  const oldReply = c.held[0]!;
  c.restart("b");
  // While b is down, W (k = v2) commits on a and c and is acknowledged.
  c.hold = (f) => toNode(f, "b") && !isHeartbeat(f);
  const w = track(c.proc("a").store.set([["k", "v2"]]));
  c.run();
  await flushMicrotasks();
  expect(w.settled && w.error === undefined).toBe(true);
  // The new b hears heartbeats only: it learns the leader and applies up to what it held (v1).
  c.tick(["a"], 2);
  expect(c.proc("b").sm.get("k")).toBe("v1");
  // A new read on the new b, then the old reply arrives before the new one.
  const read = track(c.proc("b").store.get("k", "linearizable"));
  c.run();
  c.release((f) => f === oldReply);
  await flushMicrotasks();
  expect(read.settled ? read.value : "pending").not.toBe("v1");
  // Everything else delivered: the read is served at (or after) W.
  c.hold = () => false;
  c.release();
  c.tick(["a", "b", "c"], 2);
  await flushMicrotasks();
  expect(read.value).toBe("v2");
});

/** The id of the store request held on the wire. */
function heldRequestId(f: Frame): string {
  if (f.env.kind !== "store") throw new Error("not a store frame");
  const msg = parseStoreMessage(f.env.payload);
  if (msg === null) throw new Error("unparseable store frame");
  return msg.reqId;
}

test("a follower restarted mid-forward never settles a new request with the leader's reply to an old one", async () => {
  const c = await setup();
  // b forwards a write; the leader applies it, but its reply is held back and b restarts.
  c.hold = (f) => toNode(f, "b") && isStore(f);
  void c.proc("b").store.set([["k", "old"]]).catch(() => {});
  await c.settle();
  expect(c.proc("a").sm.get("k")).toBe("old");
  expect(c.held.length).toBe(1);
  const oldReply = c.held[0]!;
  c.restart("b");
  // The new b learns the leader from heartbeats; its own forwarded write does not reach it.
  c.hold = (f) => (toNode(f, "b") && isStore(f)) || (fromNode(f, "b") && isStore(f));
  c.tick(["a"], 2);
  const write = track(c.proc("b").store.set([["k", "new"]]));
  c.run();
  c.release((f) => f === oldReply);
  await flushMicrotasks();
  // The new write was never applied, so it must not be reported applied.
  expect(c.proc("a").sm.get("k")).toBe("old");
  expect(write.settled).toBe(false);
  // Once its request reaches the leader, it is applied and acknowledged.
  c.hold = () => false;
  c.release();
  await c.settle();
  expect(c.proc("a").sm.get("k")).toBe("new");
  expect(write.settled && write.error === undefined).toBe(true);
});

test("a reply to a forwarded request counts only from the node it was sent to", async () => {
  const c = await setup();
  c.hold = (f) => fromNode(f, "b") && isStore(f);
  const write = track(c.proc("b").store.set([["k", "x"]]));
  await c.settle(); // the refusal to propose on a follower settles first, then b forwards
  expect(c.held.length).toBe(1);
  const reqId = heldRequestId(c.held[0]!);
  // c (not the leader b asked) answers with the right id: ignored.
  c.proc("b").store.receive(c.proc("c").addr, { type: "reply", reqId, error: null, value: null });
  await flushMicrotasks();
  expect(write.settled).toBe(false);
  c.hold = () => false;
  c.release();
  await c.settle();
  expect(write.settled && write.error === undefined).toBe(true);
  expect(c.proc("a").sm.get("k")).toBe("x");
});
