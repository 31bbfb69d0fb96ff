// Goal: `?level=leader` is a lease read (raft/lease.ts). The leader answers from its own map
// only while a majority acknowledged its heartbeats within the lease, measured on the injected
// monotonic clock at the moment of the read, and only once it has applied an entry of its
// term; otherwise the read goes through ReadIndex. Method: three production nodes on the
// in-memory wire of cluster_kit.ts with one manual clock.

import { afterEach, expect, test } from "bun:test";
import { Cluster, electionTicks, flushMicrotasks, fromNode, isRaft, tickMs, toNode, track } from "./cluster_kit.ts";

let cluster: Cluster | null = null;
afterEach(() => cluster?.close());

const all = ["a", "b", "c"];

/** a leads a, b, c; k = v1 is applied everywhere; heartbeats have been acknowledged. */
async function setup(): Promise<Cluster> {
  const c = new Cluster(all);
  cluster = c;
  c.elect("a");
  c.tick(all, 2);
  const w = track(c.proc("a").store.set([["k", "v1"]]));
  await c.settle();
  c.tick(all, 2);
  expect(w.settled && w.error === undefined).toBe(true);
  return c;
}

test("normal case: a leader whose heartbeats a majority acknowledged serves from its map, tick after tick", async () => {
  const c = await setup();
  const a = c.proc("a").store;
  for (let i = 0; i < 5 * electionTicks; i++) {
    expect(a.peek("k", "leader")).toBe("v1");
    c.tick(all);
  }
  // A follower forwards the read; the leader serves it from its lease too, with no Raft
  // message at all (a ReadIndex round would need heartbeats and their acks).
  c.hold = (f) => isRaft(f);
  const r = track(c.proc("b").store.get("k", "leader"));
  await c.settle();
  expect(r.value).toBe("v1");
});

test("paused leader: once the lease has run out on the clock, without any tick or message, it does not serve from its map", async () => {
  const c = await setup();
  const a = c.proc("a").store;
  expect(a.peek("k", "leader")).toBe("v1");
  // A stall (SIGSTOP, GC, VM pause): time passes, nothing else happens.
  c.clock.t += electionTicks * tickMs;
  expect(a.peek("k", "leader")).toBeUndefined();
  // get() still answers, through ReadIndex (a heartbeat round), and then it is renewed.
  const r = track(a.get("k", "leader"));
  await c.settle();
  expect(r.value).toBe("v1");
  expect(a.peek("k", "leader")).toBe("v1");
});

test("paused leader: on resuming after a successor acknowledged a write, it never returns the overwritten value", async () => {
  const c = await setup();
  const a = c.proc("a").store;
  // a stops: no ticks, nothing in or out. b and c elect a successor, which commits k = v2.
  c.hold = (f) => fromNode(f, "a") || toNode(f, "a");
  for (let i = 0; i < 100 && c.leader() === "a"; i++) c.tick(["b", "c"]);
  const successor = c.leader()!;
  expect(["b", "c"]).toContain(successor);
  const w = track(c.proc(successor).store.set([["k", "v2"]]));
  await c.settle();
  expect(w.settled && w.error === undefined).toBe(true);
  // a resumes, still believing it leads.
  expect(c.proc("a").node.core.status().role).toBe("leader");
  expect(a.peek("k", "leader")).toBeUndefined();
  const r = track(a.get("k", "leader"));
  c.hold = () => false;
  c.release();
  await c.settle();
  c.tick(all, 2);
  await c.settle();
  expect(r.settled).toBe(true);
  expect(r.value).not.toBe("v1");
});

test("new leader: before it has applied an entry of its term it does not serve from its map", async () => {
  const c = await setup();
  // a commits k = v2 with b and c holding it, and acknowledges it; they have not heard the
  // new commit index when a dies.
  const w = track(c.proc("a").store.set([["k", "v2"]]));
  await c.settle();
  expect(w.settled && w.error === undefined).toBe(true);
  c.hold = (f) => fromNode(f, "a") || toNode(f, "a") || isRaft(f, "AppendEntries");
  for (let i = 0; i < 100 && (c.leader() === "a" || c.leader() === null); i++) c.tick(["b", "c"]);
  const fresh = c.leader()!;
  expect(["b", "c"]).toContain(fresh);
  expect(c.proc(fresh).sm.get("k")).toBe("v1");
  expect(c.proc(fresh).store.peek("k", "leader")).toBeUndefined();
  // get() waits for the term's first entry to commit (ReadIndex), then answers v2.
  const r = track(c.proc(fresh).store.get("k", "leader"));
  c.hold = (f) => fromNode(f, "a") || toNode(f, "a");
  c.release((f) => !(fromNode(f, "a") || toNode(f, "a")));
  await c.settle();
  c.tick(["b", "c"], 2);
  await c.settle();
  await flushMicrotasks();
  expect(r.value).toBe("v2");
  expect(c.proc(fresh).store.peek("k", "leader")).toBe("v2");
});

test("a single-voter leader serves from its map, even after a pause (no one else can lead)", async () => {
  const c = new Cluster(["solo"]);
  cluster = c;
  c.elect("solo");
  const w = track(c.proc("solo").store.set([["k", "v1"]]));
  await c.settle();
  expect(w.settled && w.error === undefined).toBe(true);
  c.clock.t += 10 * electionTicks * tickMs;
  expect(c.proc("solo").store.peek("k", "leader")).toBe("v1");
});

test("leader alive behind closed connections: no lease read once a successor can be elected, nor ever a stale one", async () => {
  // b and c see a's connections close (they would campaign after the lease window, not an
  // election timeout), while a lives on, cut off, and keeps ticking on the shared clock: the
  // successor is elected at the earliest tick the rules allow, and a's lease must have lapsed.
  const c = await setup();
  const a = c.proc("a").store;
  expect(a.peek("k", "leader")).toBe("v1");
  c.hold = (f) => fromNode(f, "a") || toNode(f, "a");
  for (const id of ["b", "c"]) c.proc(id).node.leaderDisconnected("a");
  let ticks = 0;
  while ((c.leader() ?? "a") === "a" && ticks < 100) {
    c.tick(all);
    ticks++;
  }
  const successor = c.leader()!;
  expect(["b", "c"]).toContain(successor);
  // Elected sooner than an election timeout: what the closed connections are for ...
  expect(ticks).toBeLessThan(electionTicks);
  // ... and a, still leading in its own eyes, already refuses to serve from its map.
  expect(c.proc("a").node.core.status().role).toBe("leader");
  expect(a.peek("k", "leader")).toBeUndefined();
  const w = track(c.proc(successor).store.set([["k", "v2"]]));
  await c.settle();
  expect(w.settled && w.error === undefined).toBe(true);
  expect(a.peek("k", "leader")).toBeUndefined();
});
