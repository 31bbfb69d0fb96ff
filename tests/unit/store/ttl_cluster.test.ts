// Goal: expiring keys across a cluster (issue 16 item 4): a write with a TTL forwarded from a
// follower carries its TTL; every node holds the same deadline; the leader (its timers and wall
// clock through the seams) proposes the expiry once the deadline passes and every node deletes
// the key at the same log index; a linearizable read never returns a key past its deadline,
// on the leader or a follower, even before the expiry entry applied; a refresh extends it; a
// new leader expires what the old one did not; a restart rebuilds the same deadlines from the
// log; a condition sees a key past its deadline as absent.
// Method: three production nodes (Raft core, driver, Store, state machine) on the test kit's
// held wire (cluster_kit.ts), with the Stores' timers and wall clock on the kit's clock.

import { afterEach, expect, test } from "bun:test";
import type { NodeId } from "../../../raft/core/mod.ts";
import { Cluster, fromNode, isStore, track } from "./cluster_kit.ts";

const [a, b, c] = ["a", "b", "c"] as NodeId[];
let cluster: Cluster | null = null;
afterEach(() => {
  cluster?.close();
  cluster = null;
});

async function threeNodes(): Promise<Cluster> {
  const k = new Cluster([a!, b!, c!], { storeTimers: true });
  cluster = k;
  k.elect(a!);
  k.tick([a!], 4);
  await k.settle();
  return k;
}

/** Lets the cluster work until `p` settles (at most 20 settles); its value, or its error thrown. */
async function finish<T>(k: Cluster, p: Promise<T>): Promise<T> {
  const box = track(p);
  for (let i = 0; i < 20 && !box.settled; i++) await k.settle();
  if (!box.settled) throw new Error("the request did not settle");
  if (box.error !== undefined) throw box.error;
  return box.value as T;
}

/** Every running node's value of `key`. */
function everywhere(k: Cluster, key: string): Array<string | undefined> {
  return [...k.procs.values()].map((p) => p.sm.get(key));
}

/** Ticks the leader so followers learn the commit index, then settles. */
async function spread(k: Cluster, leader: NodeId = a!): Promise<void> {
  k.tick([leader], 2);
  await k.settle();
}

test("forwarded with its TTL, the same deadline everywhere; the leader expires it and every node deletes it", async () => {
  const k = await threeNodes();
  const t0 = k.clock.t;
  const w = await finish(k, k.proc(b!).store.writeWith({ type: "set", pairs: [["s", "1"]], ttlMs: 5_000 }, {}));
  expect(w).toEqual({ status: 200, body: "", replayed: false, version: k.proc(a!).sm.versionOf("s")! });
  await spread(k);
  const deadlines = [...k.procs.values()].map((p) => p.sm.deadlineOf("s"));
  expect(new Set(deadlines).size).toBe(1);
  expect(deadlines[0]).toBeGreaterThanOrEqual(t0 + 5_000);
  expect(everywhere(k, "s")).toEqual(["1", "1", "1"]);

  // Before the deadline, a linearizable read through a follower sees it.
  expect(await finish(k, k.proc(c!).store.get("s", "linearizable"))).toBe("1");

  // Past the deadline the leader's timer proposes the expiry; every node applies it.
  await k.advance(deadlines[0]! - k.clock.t + 1);
  await spread(k);
  expect(everywhere(k, "s")).toEqual([undefined, undefined, undefined]);
  expect([...k.procs.values()].map((p) => [p.sm.expiry.size, p.node.lastApplied])).toEqual(
    [...k.procs.values()].map(() => [0, k.proc(a!).node.lastApplied]),
  );
});

test("a linearizable read past the deadline never returns the key, though no expiry entry applied yet", async () => {
  const k = await threeNodes();
  await finish(k, k.proc(a!).store.writeWith({ type: "set", pairs: [["r", "1"]], ttlMs: 1_000 }, {}));
  await spread(k);
  // The leader's expiry entries are held back from the followers: none can commit.
  k.hold = (f) => f.env.kind === "raft" && fromNode(f, a!) && f.env.msg.type === "AppendEntries" && f.env.msg.entries.length > 0;
  k.clock.t += 2_000; // time passes; the leader's timer has not fired (no advance)
  for (const via of [a!, b!, c!]) {
    expect(k.proc(via).sm.get("r")).toBe("1");
    const read = track(k.proc(via).store.getVersioned("r", "linearizable"));
    await k.settle();
    expect(read.settled).toBe(false); // waits for the expiry the leader proposed
    k.hold = () => false;
    k.release();
    await spread(k);
    expect(read.settled).toBe(true);
    expect(read.value!.value).toBeNull();
    expect(everywhere(k, "r")).toEqual([undefined, undefined, undefined]);
    // Again with a fresh key for the next node.
    await finish(k, k.proc(a!).store.writeWith({ type: "set", pairs: [["r", "1"]], ttlMs: 1_000 }, {}));
    await spread(k);
    k.hold = (f) => f.env.kind === "raft" && fromNode(f, a!) && f.env.msg.type === "AppendEntries" && f.env.msg.entries.length > 0;
    k.clock.t += 2_000;
  }
  // Stale reads hide it by the clock of the node asked.
  expect(k.proc(b!).store.peek("r", "stale")).toBeNull();
});

test("a refresh extends the deadline; a plain write makes the key permanent", async () => {
  const k = await threeNodes();
  const store = k.proc(b!).store;
  await finish(k, store.writeWith({ type: "set", pairs: [["f", "1"], ["p", "1"]], ttlMs: 1_000 }, {}));
  await spread(k);
  await k.advance(600);
  await finish(k, store.writeWith({ type: "set", pairs: [["f", "2"]], ttlMs: 1_000 }, {}));
  await finish(k, store.set([["p", "2"]]));
  await spread(k);
  await k.advance(600); // past the first deadline, before the refreshed one
  await spread(k);
  expect(everywhere(k, "f")).toEqual(["2", "2", "2"]);
  expect(everywhere(k, "p")).toEqual(["2", "2", "2"]);
  await k.advance(1_000);
  await spread(k);
  expect(everywhere(k, "f")).toEqual([undefined, undefined, undefined]);
  expect(everywhere(k, "p")).toEqual(["2", "2", "2"]);
});

test("a new leader expires what the old one left; a restart rebuilds the same deadlines from the log", async () => {
  const k = await threeNodes();
  await finish(k, k.proc(a!).store.writeWith({ type: "set", pairs: [["x", "1"], ["y", "1"]], ttlMs: 60_000 }, {}));
  await spread(k);
  const deadline = k.proc(a!).sm.deadlineOf("x")!;

  // Leadership moves to b before the deadline.
  const moved = track(k.proc(a!).store.transferLeadership("b"));
  for (let i = 0; i < 10 && !moved.settled; i++) {
    k.tick([a!, b!, c!]);
    await k.settle();
  }
  expect(moved.value).toBe("b");

  // Every process restarts: the deadlines come back from the log, the same on every node.
  for (const id of [a!, b!, c!]) k.restart(id);
  for (let i = 0; i < 200 && k.leader() === null; i++) k.tick([a!, b!, c!]);
  const leader = k.leader()!;
  k.tick([leader], 4);
  await k.settle();
  await spread(k, leader);
  expect([...k.procs.values()].map((p) => p.sm.deadlineOf("x"))).toEqual([deadline, deadline, deadline]);
  expect(everywhere(k, "y")).toEqual(["1", "1", "1"]);

  // The new leader's loop expires both once their deadline passes.
  expect(k.clock.t).toBeLessThan(deadline);
  await k.advance(deadline - k.clock.t + 1);
  await spread(k, leader);
  expect(everywhere(k, "x")).toEqual([undefined, undefined, undefined]);
  expect(everywhere(k, "y")).toEqual([undefined, undefined, undefined]);
});

test("If-None-Match: * creates a key past its deadline before its expiry applied; If-Match on it fails", async () => {
  const k = await threeNodes();
  const store = k.proc(c!).store;
  await finish(k, store.writeWith({ type: "set", pairs: [["lock", "a"]], ttlMs: 500 }, {}));
  await spread(k);
  const version = k.proc(a!).sm.versionOf("lock")!;
  // The leader's timer does not run (the clock moves without firing it): only the condition
  // path can expire the key.
  k.clock.t += 1_000;
  const stale = await finish(k, store.writeWith({ type: "set", pairs: [["lock", "b"]], condition: { type: "match", versions: [version] } }, {}));
  expect(stale.status).toBe(412);
  const create = await finish(k, store.writeWith({ type: "set", pairs: [["lock", "b"]], condition: { type: "absent" } }, {}));
  expect(create.status).toBe(200);
  await spread(k);
  expect(everywhere(k, "lock")).toEqual(["b", "b", "b"]);
  expect([...k.procs.values()].map((p) => p.sm.deadlineOf("lock"))).toEqual([undefined, undefined, undefined]);
});

test("an Idempotency-Key retry of a write with a TTL is a replay: the key stays expired", async () => {
  const k = await threeNodes();
  // The leader's replies to b are lost: b's client never hears the outcome.
  k.hold = (f) => isStore(f) && fromNode(f, a!);
  const first = track(k.proc(b!).store.writeWith({ type: "set", pairs: [["o", "1"]], ttlMs: 300 }, { idempotencyKey: "t-1" }));
  await k.settle();
  expect(first.settled).toBe(false);
  k.hold = () => false;
  k.held = [];
  await spread(k);
  await k.advance(1_000);
  await spread(k);
  expect(everywhere(k, "o")).toEqual([undefined, undefined, undefined]);
  const retry = await finish(k, k.proc(c!).store.writeWith({ type: "set", pairs: [["o", "1"]], ttlMs: 300 }, { idempotencyKey: "t-1" }));
  expect(retry).toEqual({ status: 200, body: "", replayed: true });
  expect(everywhere(k, "o")).toEqual([undefined, undefined, undefined]);
});
