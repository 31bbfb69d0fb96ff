// Goal (issue 15, item 5): handing leadership on through the store, as POST /leader and a
// shutting-down leader do. The leader hands leadership to a named voter or to the most
// caught-up one; a follower forwards the request; a target that cannot lead is refused
// (invalid: 400); a target that never answers fails the request once the core gave up (one
// election timeout) and the old leader takes writes again; writes arriving during the
// handoff are held and carried out once, at the new leader, rather than failed.
// Method: production nodes (core, driver, Store, state machine) of tests/unit/store/
// cluster_kit.ts on an in-memory wire of real encoded frames, with manual ticks and frames
// held back to stage each interleaving.

import { afterEach, expect, test } from "bun:test";
import type { NodeId } from "../../../raft/core/mod.ts";
import { decodeEnvelope, encodeEnvelope } from "../../../raft/envelope.ts";
import { parseStoreMessage, storeMessageValue } from "../../../store/forward.ts";
import { StoreError } from "../../../store/errors.ts";
import { electionTimingDefault } from "../../../store/leadership.ts";
import { Cluster, isRaft, isStore, toNode, track } from "./cluster_kit.ts";

const a = "a" as NodeId;
const b = "b" as NodeId;
const c = "c" as NodeId;
/** Ticks after which the store reports a transfer as failed (its default timing). */
const transferTicks = electionTimingDefault.electionTicks + 1;

let cluster: Cluster | null = null;
afterEach(() => {
  cluster?.close();
  cluster = null;
});

/** Three voters, `a` leading, heartbeats acknowledged by everyone. */
async function threeNodes(): Promise<Cluster> {
  const k = new Cluster([a, b, c]);
  cluster = k;
  k.elect(a);
  k.tick([a], 4);
  await k.settle();
  return k;
}

/** How many entries of `id`'s log carry a command naming `key`. */
function entriesNaming(k: Cluster, id: NodeId, key: string): number {
  const needle = new TextEncoder().encode(key);
  const has = (data: Uint8Array): boolean => {
    outer: for (let i = 0; i + needle.length <= data.length; i++) {
      for (let j = 0; j < needle.length; j++) if (data[i + j] !== needle[j]) continue outer;
      return true;
    }
    return false;
  };
  return k.proc(id).node.core.entries().filter((e) => e.kind === "normal" && has(e.data)).length;
}

test("the leader hands leadership to the voter named, and answers with it", async () => {
  const k = await threeNodes();
  const done = track(k.proc(a).store.transferLeadership("c"));
  await k.settle();
  expect(done.error).toBeUndefined();
  expect(done.value).toBe("c");
  expect(k.leader()).toBe(c);
  expect(k.proc(b).store.leader().id).toBe("c");
  expect(k.proc(c).store.leader()).toMatchObject({ id: "c", raftAddr: "c:12000", isSelf: true });
});

test("without a target, leadership goes to the most caught-up voter", async () => {
  const k = await threeNodes();
  // c stops hearing appends: it falls behind by the writes below; b has them all.
  k.hold = (f) => toNode(f, c) && isRaft(f);
  for (let i = 0; i < 3; i++) {
    const w = track(k.proc(a).store.set([[`k${i}`, "v"]]));
    await k.settle();
    expect(w.error).toBeUndefined();
  }
  k.hold = () => false;
  k.held = [];
  const done = track(k.proc(a).store.transferLeadership(null));
  await k.settle();
  expect(done.value).toBe("b");
  expect(k.leader()).toBe(b);
});

test("sent to a follower, the request is forwarded to the leader and answers with the new leader", async () => {
  const k = await threeNodes();
  const done = track(k.proc(b).store.transferLeadership(null));
  await k.settle();
  expect(done.error).toBeUndefined();
  const now = k.leader();
  expect(now === b || now === c).toBe(true);
  expect(done.value).toBe(now!);
});

test("a target that is not a member is refused as invalid, by the leader and by a follower", async () => {
  const k = await threeNodes();
  for (const asked of [a, b]) {
    const done = track(k.proc(asked).store.transferLeadership("zz"));
    await k.settle();
    expect(done.error).toBeInstanceOf(StoreError);
    expect((done.error as StoreError).code).toBe("invalid");
    expect((done.error as StoreError).message).toContain("not a member");
  }
  expect(k.leader()).toBe(a);
});

test("naming the leader itself changes nothing", async () => {
  const k = await threeNodes();
  const done = track(k.proc(b).store.transferLeadership("a"));
  await k.settle();
  expect(done.value).toBe("a");
  expect(k.leader()).toBe(a);
});

test("a target that never answers: the request fails after an election timeout and the leader takes writes again", async () => {
  const k = await threeNodes();
  k.hold = (f) => toNode(f, b);
  const done = track(k.proc(a).store.transferLeadership("b"));
  await k.settle();
  // Meanwhile the leader refuses new proposals (§3.10): a write is held, not failed.
  const write = track(k.proc(a).store.set([["during", "1"]]));
  await k.settle();
  expect(write.settled).toBe(false);
  for (let i = 0; i < transferTicks && !done.settled; i++) {
    k.tick([a]);
    await k.settle();
  }
  expect(done.error).toBeInstanceOf(StoreError);
  expect((done.error as StoreError).code).toBe("timeout");
  expect(k.leader()).toBe(a);
  // The held write was tried again once the handoff ended, here: applied once.
  await k.settle();
  expect(write.error).toBeUndefined();
  expect(write.settled).toBe(true);
  expect(k.proc(a).sm.get("during")).toBe("1");
  expect(entriesNaming(k, a, "during")).toBe(1);
});

test("writes during a handoff, at the leader and forwarded by a follower, are applied once at the new leader", async () => {
  const k = await threeNodes();
  // The target gets everything but TimeoutNow, which waits until both writes are in.
  k.hold = (f) => isRaft(f, "TimeoutNow");
  const done = track(k.proc(a).store.transferLeadership("b"));
  await k.settle();
  expect(k.held.length).toBe(1);
  const atLeader = track(k.proc(a).store.set([["atLeader", "1"]]));
  const viaFollower = track(k.proc(c).store.set([["viaFollower", "2"]]));
  await k.settle();
  // Refused by the core while it transfers, and held rather than answered.
  expect(atLeader.settled).toBe(false);
  expect(viaFollower.settled).toBe(false);
  k.hold = () => false;
  k.release();
  await k.settle();
  k.tick([b], 2);
  await k.settle();
  expect(done.value).toBe("b");
  expect(atLeader.error).toBeUndefined();
  expect(viaFollower.error).toBeUndefined();
  expect(atLeader.settled && viaFollower.settled).toBe(true);
  for (const id of [a, b, c]) {
    expect(k.proc(id).sm.get("atLeader")).toBe("1");
    expect(k.proc(id).sm.get("viaFollower")).toBe("2");
    expect(entriesNaming(k, id, "atLeader")).toBe(1);
    expect(entriesNaming(k, id, "viaFollower")).toBe(1);
  }
});

test("handOff: a leader hands on and says to whom; a follower does nothing", async () => {
  const k = await threeNodes();
  expect(await k.proc(b).store.handOff()).toBeNull();
  const line = track(k.proc(a).store.handOff());
  // It waits for two quiet ticks of real time (the store's timers) before it says so.
  for (let i = 0; i < 400 && !line.settled; i++) {
    await k.settle();
    await Bun.sleep(5);
  }
  expect(line.value).toMatch(/^leadership handed to [bc] in \d+ ms$/);
  expect(k.leader() === b || k.leader() === c).toBe(true);
});

test("handOff with no peer answering ends within an election timeout of ticks", async () => {
  const k = await threeNodes();
  k.hold = (f) => !toNode(f, a) || isStore(f);
  const line = track(k.proc(a).store.handOff());
  let ticks = 0;
  for (; ticks < 3 * transferTicks && !line.settled; ticks++) {
    k.tick([a]);
    await k.settle();
  }
  expect(line.value).toMatch(/^leadership handoff failed after \d+ ms .*exiting$/);
  expect(ticks).toBeLessThanOrEqual(transferTicks + 1);
});

test("the forwarded transfer op survives the wire, and a malformed one is dropped on decode", () => {
  for (const id of ["b", null]) {
    const msg = { type: "forward" as const, reqId: "inc.1", op: { type: "transfer" as const, id }, user: null };
    const env = decodeEnvelope(encodeEnvelope({ kind: "store", fromAddr: "c:12000", payload: storeMessageValue(msg) }));
    expect(env.kind === "store" ? parseStoreMessage(env.payload) : null).toEqual(msg);
  }
  for (const op of [[5], [5, 7], [5, ""], [5, "b", "extra"], [5, "x".repeat(2000)]]) {
    expect(parseStoreMessage([0, "inc.1", op])).toBeNull();
  }
});

test("a follower between leaders (a new term, no leader heard of yet) holds a write until one is known", async () => {
  const k = await threeNodes();
  // c hears b's votes request (a new term) but not yet b's appends as leader.
  k.hold = (f) => toNode(f, c) && isRaft(f, "AppendEntries") && f.env.fromAddr === "b:12000";
  const moved = track(k.proc(a).store.transferLeadership("b"));
  await k.settle();
  expect(moved.value).toBe("b");
  expect(k.proc(c).node.status().leader).toBeNull();
  const write = track(k.proc(c).store.set([["between", "1"]]));
  await k.settle();
  expect(write.settled).toBe(false);
  k.hold = () => false;
  k.release();
  await k.settle();
  expect(write.error).toBeUndefined();
  expect(write.settled).toBe(true);
  expect(k.proc(b).sm.get("between")).toBe("1");
  expect(entriesNaming(k, b, "between")).toBe(1);
});

test("a write sent to the old leader just after its handoff is relayed to the new leader, once", async () => {
  const k = await threeNodes();
  // c hears nothing from b: it still takes a for the leader and forwards there.
  k.hold = (f) => toNode(f, c) && f.env.fromAddr === "b:12000";
  const moved = track(k.proc(a).store.transferLeadership("b"));
  await k.settle();
  expect(moved.value).toBe("b");
  expect(k.proc(c).node.status().leader).toBe(a);
  const write = track(k.proc(c).store.set([["late", "1"]]));
  await k.settle();
  expect(write.error).toBeUndefined();
  expect(write.settled).toBe(true);
  expect(k.proc(b).sm.get("late")).toBe("1");
  expect(entriesNaming(k, b, "late")).toBe(1);
});
