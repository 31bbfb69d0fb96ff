// Goal: a leader whose Ready is one small entry with nothing else waiting (one client writing,
// issue 18) syncs it on the event loop as a follower does, rather than through the thread pool
// (a futex, an eventfd and an epoll wake per write), and applies what a follower's reply then
// commits in the turn the reply arrives. Counted through the storage seam: a synchronous
// persist() is a sync on the loop, persistEntriesAsync() one off it; driver turns through the
// scheduler seam. Persist before you speak still holds: the AppendEntries leave before the
// sync, and the entry commits only once the leader's sync is done and a follower holds it.

import { expect, test } from "bun:test";
import type { Entry, HardState, Message, RaftCore, Snapshot, SnapshotMeta } from "../../../raft/core/mod.ts";
import type { RaftNode } from "../../../raft/node.ts";
import type { RaftStorage, StateMachine } from "../../../raft/node_options.ts";
import { appReply, makeLeader, mkCore } from "./core_kit.ts";
import { quietNode } from "./node_kit.ts";

/** Storage counting syncs on the loop (persist) and off it (persistEntriesAsync, completed by the test). */
class CountingStorage implements RaftStorage {
  syncsOnLoop = 0;
  readonly offLoop: { entries: readonly Entry[]; done: (e: Error | null) => void }[] = [];
  /** AppendEntries sent when each synchronous persist began. */
  readonly sentAtPersist: number[] = [];
  constructor(private readonly sent: Message[]) {}
  persist(_h: HardState | null, _s: Snapshot | null, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    this.syncsOnLoop++;
    this.sentAtPersist.push(this.sent.filter((m) => m.type === "AppendEntries" && m.entries.length > 0).length);
  }
  persistEntriesAsync(entries: readonly Entry[], done: (error: Error | null) => void): void {
    this.offLoop.push({ entries, done });
  }
  saveSnapshot(_m: SnapshotMeta, _d: Uint8Array, _c: number): Promise<void> {
    return Promise.resolve();
  }
}

interface Harness {
  readonly node: RaftNode;
  readonly core: RaftCore;
  readonly storage: CountingStorage;
  readonly sent: Message[];
  readonly applied: number[];
  /** Driver turns the scheduler was asked for and not run yet. */
  queued(): number;
  run(): void;
}

/** "a" leading "a", "b", "c", its no-op applied and held by both followers, with on-loop syncs of lone writes up to `bytesMax`. */
function ledThree(bytesMax: number | undefined): Harness {
  const core = mkCore("a", ["a", "b", "c"]);
  makeLeader(core);
  const sent: Message[] = [];
  const storage = new CountingStorage(sent);
  const applied: number[] = [];
  let queue: (() => void)[] = [];
  const stateMachine: StateMachine = { apply: () => null, snapshot: () => Promise.resolve(new Uint8Array(0)), restore: () => {} };
  const node = quietNode({
    core,
    storage,
    stateMachine,
    send: (m) => sent.push(m),
    events: { applied: (e) => applied.push(e.index), softState: () => {}, restored: () => {} },
    scheduler: { defer: (fn) => queue.push(fn) },
    ...(bytesMax === undefined ? {} : { loneSyncOnLoopBytesMax: bytesMax }),
  });
  const run = (): void => {
    for (let i = 0; i < 1000 && queue.length > 0; i++) {
      const q = queue;
      queue = [];
      for (const fn of q) fn();
    }
  };
  node.receive(appReply("b", "a", core.status().term, core.status().lastLogIndex));
  node.receive(appReply("c", "a", core.status().term, core.status().lastLogIndex));
  run();
  expect(applied.at(-1)).toBe(core.status().lastLogIndex);
  storage.syncsOnLoop = 0;
  return { node, core, storage, sent, applied, queued: () => queue.length, run };
}

const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(120);

test("a lone small write with nothing else waiting is synced on the loop, after its AppendEntries left", () => {
  const h = ledThree(4096);
  const term = h.core.status().term;
  h.node.propose(bytes(40)).catch(() => undefined);
  h.run();
  const x = h.core.status().lastLogIndex;
  expect(h.storage.syncsOnLoop).toBe(1);
  expect(h.storage.offLoop.length).toBe(0);
  expect(h.storage.sentAtPersist).toEqual([2]); // to b and to c, before the sync began
  expect(h.applied).not.toContain(x); // the leader's own copy alone is no majority
  // b's reply commits x (b and the leader, synced): applied in the turn the reply arrives.
  h.node.receive(appReply("b", "a", term, x));
  expect(h.applied).toContain(x);
  expect(h.core.status().lastApplied).toBe(x);
  h.run();
  expect(h.applied.filter((i) => i === x)).toHaveLength(1);
  expect(h.node.failure).toBeNull();
});

test("one client writing: each write one sync on the loop, none off it, applied as its reply arrives", () => {
  const h = ledThree(4096);
  const term = h.core.status().term;
  for (let k = 0; k < 5; k++) {
    h.node.propose(bytes(40)).catch(() => undefined);
    h.run();
    const x = h.core.status().lastLogIndex;
    h.node.receive(appReply("c", "a", term, x));
    expect(h.applied.at(-1)).toBe(x);
    h.run();
  }
  expect(h.storage.syncsOnLoop).toBe(5);
  expect(h.storage.offLoop.length).toBe(0);
});

test("a write while another proposal waits, two in one Ready, or a large one: synced off the loop", () => {
  const h = ledThree(4096);
  const term = h.core.status().term;
  h.node.propose(bytes(40)).catch(() => undefined);
  h.run();
  const x = h.core.status().lastLogIndex;
  expect(h.storage.syncsOnLoop).toBe(1);
  // x waits for a follower; another client's write now must not hold the loop for its sync.
  h.node.propose(bytes(40)).catch(() => undefined);
  h.run();
  expect(h.storage.syncsOnLoop).toBe(1);
  expect(h.storage.offLoop.map((p) => p.entries.map((e) => e.index))).toEqual([[x + 1]]);
  h.node.receive(appReply("b", "a", term, x + 1));
  h.storage.offLoop.shift()!.done(null);
  h.run();
  expect(h.applied).toContain(x + 1);
  // Two writes in one turn: one Ready of two entries, off the loop.
  h.node.propose(bytes(40)).catch(() => undefined);
  h.node.propose(bytes(40)).catch(() => undefined);
  h.run();
  expect(h.storage.offLoop.map((p) => p.entries.length)).toEqual([2]);
  h.node.receive(appReply("b", "a", term, x + 3));
  h.storage.offLoop.shift()!.done(null);
  h.run();
  expect(h.applied).toContain(x + 3);
  // A lone write larger than the bound.
  h.node.propose(bytes(4097)).catch(() => undefined);
  h.run();
  expect(h.storage.offLoop.length).toBe(1);
  expect(h.storage.syncsOnLoop).toBe(1);
});

test("without the option a leader's lone write is synced off the loop", () => {
  const h = ledThree(undefined);
  h.node.propose(bytes(40)).catch(() => undefined);
  h.run();
  expect(h.storage.syncsOnLoop).toBe(0);
  expect(h.storage.offLoop.length).toBe(1);
});
