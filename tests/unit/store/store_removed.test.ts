// Goal: a node removed from the cluster says so: /status reports state "removed", and every
// client request (reads at any level, writes, joins, removals) is refused at once with an
// error naming the removal, instead of being served from a frozen copy or waiting forever.
// Method: a Store over a fake node whose core reports removed; the driver's softState event
// carries the removal, as raft/node.ts delivers it.

import { expect, test } from "bun:test";
import type { RaftNode } from "../../../raft/node.ts";
import { StoreError } from "../../../store/errors.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";
import { Store } from "../../../store/store.ts";

function setup(removed: boolean): Store {
  const members = [{ id: "a", addr: "a:1", suffrage: "voter" }, { id: "b", addr: "b:1", suffrage: "voter" }];
  const core = {
    readIndex: () => {},
    propose: () => ({ ok: false, reason: "notLeader", leader: "a" }),
    proposeConfChange: () => ({ ok: false, reason: "notLeader", leader: "a" }),
    status: () => ({
      id: "c", role: "follower", leader: "a", term: 2, members, commitIndex: 5, lastApplied: 5, lastLogIndex: 5,
      snapshotIndex: 0, votedFor: null, removed,
    }),
  };
  const node = { core, status: core.status, isLeader: () => false, lastApplied: 5, wake: () => {} };
  const sm = new KvStateMachine();
  sm.applyCommand({ type: "set", pairs: [["k", "v"]] });
  const store = new Store({ id: "c", raftAddr: "c:1", incarnation: "c-test", stateMachine: sm, sendTo: () => true, requestTimeoutMs: 1000 });
  store.attach(node as unknown as RaftNode);
  store.softState({ role: "follower", leader: "a", term: 2, removed });
  return store;
}

async function failure(p: Promise<unknown>): Promise<StoreError> {
  const e = await p.then(() => null, (error: unknown) => error);
  expect(e).toBeInstanceOf(StoreError);
  return e as StoreError;
}

test("a removed node refuses every client request with a clear 503-class error", async () => {
  const store = setup(true);
  expect(store.peek("k", "stale")).toBeUndefined();
  for (const p of [
    store.get("k", "stale"), store.get("k", "leader"), store.get("k", "linearizable"),
    store.set([["k", "w"]]), store.delete("k"), store.join("d", "d:1"), store.remove("b"),
  ]) {
    const e = await failure(p);
    expect(e.code).toBe("unavailable");
    expect(e.message).toContain("removed from the cluster");
    expect(e.message).toContain("no longer a member");
  }
});

test("/status of a removed node says removed and still answers", () => {
  const s = setup(true).status();
  expect(s.state).toBe("removed");
  expect(s.members.map((m) => m.id)).toEqual(["a", "b"]);
  expect(s.me.id).toBe("c");
});

test("a member serves as before", async () => {
  const store = setup(false);
  expect(store.peek("k", "stale")).toBe("v");
  expect(await store.get("k", "stale")).toBe("v");
  expect(store.status().state).toBe("follower");
});
