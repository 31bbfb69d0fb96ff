// Goal: linearizable reads that arrive before the driver's next turn share one ReadIndex
// request, reads after it start another, and a dropped request fails every read that shared it.

import { expect, test } from "bun:test";
import type { RaftNode } from "../../../raft/node.ts";
import { StoreError } from "../../../store/errors.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";
import { Store } from "../../../store/store.ts";

/** A Store over a fake node that records the ReadIndex requests made of its core. */
function setup(): { store: Store; asked: string[] } {
  const asked: string[] = [];
  const core = {
    readIndex: (ctx: string) => asked.push(ctx),
    status: () => ({ role: "leader", leader: "a", term: 1, members: [], commitIndex: 0, lastApplied: 0 }),
  };
  const node = { core, wake: () => {}, withCore: (fn: (c: typeof core) => unknown) => fn(core) };
  const sm = new KvStateMachine();
  sm.applyCommand({ type: "set", pairs: [["k", "v"]] });
  const store = new Store({ id: "a", raftAddr: "a:1", incarnation: "0123456789abcdef", stateMachine: sm, sendTo: () => true, requestTimeoutMs: 1000 });
  store.attach(node as unknown as RaftNode, 0);
  return { store, asked };
}

test("reads before the driver's turn share one request; later reads get their own", async () => {
  const { store, asked } = setup();
  const first = [store.get("k", "linearizable"), store.get("k", "linearizable"), store.get("nope", "linearizable")];
  expect(asked).toEqual([]);
  store.flushReads();
  expect(asked.length).toBe(1);
  const later = store.get("k", "linearizable");
  store.flushReads();
  expect(asked.length).toBe(2);
  expect(asked[1]).not.toBe(asked[0]);
  store.readState({ ctx: asked[0]!, readIndex: 0 });
  expect(await Promise.all(first)).toEqual(["v", "v", null]);
  store.readState({ ctx: asked[1]!, readIndex: 0 });
  expect(await later).toBe("v");
  store.flushReads();
  expect(asked.length).toBe(2);
});

test("a dropped request fails every read that shared it", async () => {
  const { store, asked } = setup();
  const reads = [store.get("k", "linearizable"), store.get("k", "linearizable")];
  store.flushReads();
  store.readDropped(asked[0]!);
  for (const r of reads) {
    const error = await r.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
  }
});
