// Goal: a write with an Idempotency-Key is applied at most once across the cluster: forwarded
// from a follower with its key, its outcome carried back; retried through another node after
// its reply was lost, after a leader change and after every process restarted, it is answered
// the first outcome with `replayed` and writes nothing; a different request under the key is
// 422 from every node; the key is scoped to the user.
// Method: three production nodes (Raft core, driver, Store, state machine) on the test kit's
// held wire (cluster_kit.ts); restarts rebuild the state machine from the persisted log.

import { afterEach, expect, test } from "bun:test";
import type { NodeId } from "../../../raft/core/mod.ts";
import { Cluster, isStore, fromNode, track } from "./cluster_kit.ts";

const [a, b, c] = ["a", "b", "c"] as NodeId[];
let cluster: Cluster | null = null;
afterEach(() => {
  cluster?.close();
  cluster = null;
});

async function threeNodes(): Promise<Cluster> {
  const k = new Cluster([a!, b!, c!]);
  cluster = k;
  k.elect(a!);
  k.tick([a!], 4);
  await k.settle();
  return k;
}

/** Every running node's value of `key`. */
function everywhere(k: Cluster, key: string): Array<string | undefined> {
  return [...k.procs.values()].map((p) => p.sm.get(key));
}

test("forwarded, retried after a lost reply, after a leader change and after restarts: applied once", async () => {
  const k = await threeNodes();
  // The leader's replies to b are lost: b's client never hears the outcome.
  k.hold = (f) => isStore(f) && fromNode(f, a!);
  const first = track(k.proc(b!).store.writeWith({ type: "set", pairs: [["x", "1"]] }, { idempotencyKey: "req-1" }));
  await k.settle();
  expect(first.settled).toBe(false);
  k.tick([a!], 2); // followers learn the commit index from the next heartbeats
  await k.settle();
  expect(everywhere(k, "x")).toEqual(["1", "1", "1"]);
  k.hold = () => false;
  k.held = [];

  // Someone else writes x; the client's retry (through c) must not undo it.
  const other = track(k.proc(a!).store.set([["x", "2"]]));
  await k.settle();
  expect(other.error).toBeUndefined();
  const retry = track(k.proc(c!).store.writeWith({ type: "set", pairs: [["x", "1"]] }, { idempotencyKey: "req-1" }));
  await k.settle();
  expect(retry.value).toEqual({ status: 200, body: "", replayed: true });
  k.tick([a!], 2);
  await k.settle();
  expect(everywhere(k, "x")).toEqual(["2", "2", "2"]);

  // Leadership moves to b; the retry through a (now a follower) is still a replay.
  const moved = track(k.proc(a!).store.transferLeadership("b"));
  await k.settle();
  expect(moved.value).toBe("b");
  const afterChange = track(k.proc(a!).store.writeWith({ type: "set", pairs: [["x", "1"]] }, { idempotencyKey: "req-1" }));
  await k.settle();
  expect(afterChange.value).toEqual({ status: 200, body: "", replayed: true });

  // Every process restarts from its log; whoever wins the election leads.
  for (const id of [a!, b!, c!]) k.restart(id);
  for (let i = 0; i < 200 && k.leader() === null; i++) k.tick([a!, b!, c!]);
  const leader = k.leader()!;
  k.tick([leader], 4);
  await k.settle();
  const afterRestart = track(k.proc(c!).store.writeWith({ type: "set", pairs: [["x", "1"]] }, { idempotencyKey: "req-1" }));
  await k.settle();
  expect(afterRestart.value).toEqual({ status: 200, body: "", replayed: true });
  k.tick([leader], 2);
  await k.settle();
  expect(everywhere(k, "x")).toEqual(["2", "2", "2"]);
});

test("a different request under the key is 422 from every node; a delete is once-only too", async () => {
  const k = await threeNodes();
  const first = track(k.proc(a!).store.writeWith({ type: "delete", key: "gone" }, { idempotencyKey: "del-1" }));
  await k.settle();
  expect(first.value).toEqual({ status: 200, body: "", replayed: false, version: expect.any(Number) });
  for (const id of [a!, b!, c!]) {
    const mismatch = track(k.proc(id).store.writeWith({ type: "set", pairs: [["gone", "back"]] }, { idempotencyKey: "del-1" }));
    await k.settle();
    expect(mismatch.value?.status).toBe(422);
    expect(mismatch.value?.replayed).toBe(false);
    expect(JSON.parse(mismatch.value!.body).error).toContain("del-1");
  }
  k.tick([a!], 2);
  await k.settle();
  expect(everywhere(k, "gone")).toEqual([undefined, undefined, undefined]);
});

test("the key is scoped to the caller's user", async () => {
  const k = await threeNodes();
  const alice = track(k.proc(a!).store.writeWith({ type: "set", pairs: [["n", "alice"]] }, { idempotencyKey: "same" }, { user: "alice" }));
  await k.settle();
  const bob = track(k.proc(a!).store.writeWith({ type: "set", pairs: [["n", "bob"]] }, { idempotencyKey: "same" }, { user: "bob" }));
  await k.settle();
  expect(alice.value?.replayed).toBe(false);
  expect(bob.value).toEqual({ status: 200, body: "", replayed: false, version: k.proc(a!).sm.versionOf("n")! });
  expect(k.proc(a!).sm.get("n")).toBe("bob");
});
