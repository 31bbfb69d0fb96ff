// Goal: clients cannot grow a node's memory without bound while reads cannot be confirmed
// (issue 12, item 14: a node reached 1.3 GB during a long loss of quorum). Linearizable reads
// of one event-loop turn share one ReadIndex request, and the core bounds how many requests
// wait (pendingReadsMax), but not how many reads share each: with a leader that never answers,
// every turn parked more HTTP requests for the full request timeout. The store now bounds the
// reads waiting in all, and answers the next one 503 at once.
// Method: a Store over a fake node whose core accepts every ReadIndex request and never
// answers (a leader that is known but silent); many turns of many reads.

import { expect, test } from "bun:test";
import type { RaftNode } from "../../../raft/node.ts";
import { StoreError } from "../../../store/errors.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";
import { Store } from "../../../store/store.ts";

function setup(readsPendingMax?: number): { store: Store; asked: string[] } {
  const asked: string[] = [];
  const core = {
    readIndex: (ctx: string) => asked.push(ctx),
    status: () => ({
      id: "b", role: "follower", leader: "a", term: 2, votedFor: null, commitIndex: 0, lastApplied: 0, lastLogIndex: 0,
      snapshotIndex: 0, removed: false, members: [{ id: "a", addr: "a:1", suffrage: "voter" }, { id: "b", addr: "b:1", suffrage: "voter" }],
    }),
  };
  const node = { core, wake: () => {}, withCore: (fn: (c: typeof core) => unknown) => fn(core), leaseReadIndex: () => null };
  const store = new Store({
    id: "b", raftAddr: "b:1", incarnation: "b-test", stateMachine: new KvStateMachine(), sendTo: () => true,
    requestTimeoutMs: 60_000, ...(readsPendingMax === undefined ? {} : { readsPendingMax }),
  });
  store.attach(node as unknown as RaftNode, 0);
  return { store, asked };
}

/** Runs `turns` turns of `perTurn` linearizable reads; returns how many were refused at once. */
async function flood(store: Store, turns: number, perTurn: number): Promise<{ refused: StoreError[]; pending: number }> {
  const refused: StoreError[] = [];
  let settled = 0;
  for (let t = 0; t < turns; t++) {
    for (let i = 0; i < perTurn; i++) {
      store.get(`k${i}`, "linearizable").then(
        () => settled++,
        (e: unknown) => {
          settled++;
          refused.push(e as StoreError);
        },
      );
    }
    store.flushReads();
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
  return { refused, pending: turns * perTurn - settled };
}

test("reads waiting for a silent leader are bounded; the rest are refused 503 at once", async () => {
  const { store } = setup(1000);
  const { refused, pending } = await flood(store, 200, 50); // 10,000 reads
  expect(pending).toBe(1000);
  expect(refused.length).toBe(9000);
  for (const e of refused.slice(0, 3)) {
    expect(e).toBeInstanceOf(StoreError);
    expect(e.code).toBe("unavailable");
    expect(e.message).toContain("too many reads waiting");
  }
  store.close();
});

test("the default bound holds too, and room comes back as reads complete", async () => {
  const { store, asked } = setup();
  const { pending } = await flood(store, 1000, 100); // 100,000 reads
  expect(pending).toBeLessThanOrEqual(16_384);
  expect(pending).toBeGreaterThan(0);
  // The leader answers every request it was sent: the reads are served and room frees up.
  for (const ctx of asked) store.readState({ ctx, readIndex: 0 });
  await new Promise((resolve) => setTimeout(resolve, 0));
  const again = await flood(store, 10, 10);
  expect(again.refused).toEqual([]);
  store.close();
});
