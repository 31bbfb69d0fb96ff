// Goal: the driver's ordering rules when entries are synced off the event loop
// (RaftStorage.persistEntriesAsync): nothing that depends on the sync happens before it
// completes (append acks, the leader counting itself, so applying what only its own copy
// would commit), committed entries made durable by earlier Readies are applied without
// waiting, as are entries followers' replies commit while the sync is out (thesis §10.2.1),
// only one Ready is out at a time, and no snapshot is captured while applied entries run
// ahead of advance().

import { expect, test } from "bun:test";
import type { Entry, HardState, Message, RaftCore, Snapshot, SnapshotMeta } from "../../../raft/core/mod.ts";
import type { RaftNode } from "../../../raft/node.ts";
import type { RaftStorage, StateMachine } from "../../../raft/node_options.ts";
import { app, appReply, entry, makeLeader, mkCore } from "./core_kit.ts";
import { quietNode } from "./node_kit.ts";

/** Storage whose entry syncs complete only when the test says so. */
class ManualStorage implements RaftStorage {
  readonly persisted: Entry[] = [];
  readonly pending: { entries: readonly Entry[]; done: (e: Error | null) => void }[] = [];
  syncPersists = 0;
  /** Called inside each synchronous persist, before it returns (to look at what was sent by then). */
  onPersist: (() => void) | null = null;

  persist(_h: HardState | null, _s: Snapshot | null, entries: readonly Entry[]): void {
    this.syncPersists++;
    this.onPersist?.();
    this.persisted.push(...entries);
  }

  persistEntriesAsync(entries: readonly Entry[], done: (error: Error | null) => void): void {
    this.pending.push({ entries, done });
  }

  /** Completes the oldest outstanding sync. */
  complete(error: Error | null = null): void {
    const p = this.pending.shift();
    if (p === undefined) throw new Error("no sync outstanding");
    if (error === null) this.persisted.push(...p.entries);
    p.done(error);
  }

  /** While true, saveSnapshot waits until the test calls the function it leaves here. */
  holdSnapshots = false;
  readonly heldSnapshots: (() => void)[] = [];

  saveSnapshot(_m: SnapshotMeta, _d: Uint8Array, _c: number): Promise<void> {
    if (!this.holdSnapshots) return Promise.resolve();
    return new Promise((resolve) => this.heldSnapshots.push(resolve));
  }
}

interface Harness {
  readonly node: RaftNode;
  readonly core: RaftCore;
  readonly storage: ManualStorage;
  readonly sent: Message[];
  readonly applied: number[];
  readonly snapshots: number[];
  /** Runs every deferred driver turn until none is left. */
  run(): void;
  failure(): unknown;
}

function harness(core: RaftCore, snapshotThresholdEntries = 1_000_000): Harness {
  const storage = new ManualStorage();
  const sent: Message[] = [];
  const applied: number[] = [];
  const snapshots: number[] = [];
  let queue: (() => void)[] = [];
  let fatal: unknown = null;
  const stateMachine: StateMachine = {
    apply: () => null,
    snapshot: () => {
      // What the state machine holds must be exactly what the snapshot's meta will claim.
      const smApplied = applied[applied.length - 1] ?? 0;
      if (smApplied !== core.status().lastApplied) {
        throw new Error(`capture at state ${smApplied}, core lastApplied ${core.status().lastApplied}`);
      }
      snapshots.push(smApplied);
      return Promise.resolve(new Uint8Array(0));
    },
    restore: () => {},
  };
  const node = quietNode({
    core,
    storage,
    stateMachine,
    send: (m) => sent.push(m),
    events: { applied: (e) => applied.push(e.index), softState: () => {}, restored: () => {} },
    scheduler: { defer: (fn) => queue.push(fn) },
    snapshotThresholdEntries,
    onFatal: (e) => {
      fatal = e;
    },
  });
  const run = (): void => {
    for (let i = 0; i < 1000 && queue.length > 0; i++) {
      const q = queue;
      queue = [];
      for (const fn of q) fn();
    }
  };
  return { node, core, storage, sent, applied, snapshots, run, failure: () => fatal };
}

const data = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Proposes through the driver; these tests watch the driver's order, not the outcome. */
function propose(h: Harness, d: Uint8Array): void {
  h.node.propose(d).catch(() => undefined);
}

/** A single-voter node that has elected itself and applied its no-op. */
function soloLeader(snapshotThresholdEntries?: number): Harness {
  const h = harness(mkCore("a", ["a"]), snapshotThresholdEntries);
  // A single voter elects itself when its election timeout runs out.
  for (let i = 0; i < 100 && h.core.status().role !== "leader"; i++) {
    h.node.tick();
    h.run();
  }
  // The election's hard state went the synchronous way; the no-op is the first async sync.
  while (h.storage.pending.length > 0) {
    h.storage.complete();
    h.run();
  }
  expect(h.core.status().role).toBe("leader");
  return h;
}

test("a leader's entry is applied only after its own sync completes (single voter)", () => {
  const h = soloLeader();
  const base = h.applied.length;
  propose(h, data("x"));
  h.run();
  const index = h.core.status().lastLogIndex;
  expect(h.storage.pending.length).toBe(1);
  expect(h.applied.length).toBe(base);
  expect(h.core.status().commitIndex).toBeLessThan(index);
  h.storage.complete();
  h.run();
  expect(h.applied).toContain(index);
});

test("one Ready at a time: proposals during a sync wait, then go in one batch", () => {
  const h = soloLeader();
  propose(h, data("p1"));
  h.run();
  expect(h.storage.pending.length).toBe(1);
  for (let i = 2; i <= 5; i++) propose(h, data(`p${i}`));
  h.run();
  expect(h.storage.pending.length).toBe(1);
  h.storage.complete();
  h.run();
  expect(h.storage.pending.length).toBe(1);
  expect(h.storage.pending[0]!.entries.length).toBe(4);
});

test("committed entries made durable earlier are applied while the next sync is out", () => {
  const h = soloLeader();
  propose(h, data("first"));
  h.run();
  const first = h.core.status().lastLogIndex;
  propose(h, data("second"));
  h.storage.complete();
  h.run();
  // The next Ready carries "second" to persist and "first" as committed: "first" is on disk
  // already, so it is applied now; "second" must wait for its own sync.
  const second = first + 1;
  expect(h.storage.pending.length).toBe(1);
  expect(h.storage.pending[0]!.entries.map((e) => e.index)).toEqual([second]);
  expect(h.applied).toContain(first);
  expect(h.applied).not.toContain(second);
  h.storage.complete();
  h.run();
  expect(h.applied).toContain(second);
  expect(h.applied).toEqual([...h.applied].sort((a, b) => a - b));
});

test("a follower syncs its entries on the loop and acknowledges them only after", () => {
  const h = harness(mkCore("b", ["a", "b", "c"]));
  const acksAtPersist: number[] = [];
  const acks = () => h.sent.filter((m) => m.type === "AppendEntriesReply") as Array<Message & { matchIndex: number }>;
  h.storage.onPersist = () => acksAtPersist.push(acks().length);
  h.node.receive(app("a", "b", 1, 0, 0, [entry(1, 1), entry(2, 1)], 0));
  h.run();
  expect(h.storage.syncPersists).toBe(1);
  expect(acks().map((m) => m.matchIndex)).toEqual([2]);
  // Entries alone (no new term): still synchronous for a follower, never the async path.
  h.node.receive(app("a", "b", 1, 2, 1, [entry(3, 1)], 2));
  h.run();
  expect(h.storage.pending.length).toBe(0);
  expect(h.storage.syncPersists).toBe(2);
  expect(acks().map((m) => m.matchIndex)).toEqual([2, 3]);
  expect(h.applied).toEqual([1, 2]);
  // An append whose commit index covers its own new entry: applied once durable, in the same turn.
  h.node.receive(app("a", "b", 1, 3, 1, [entry(4, 1)], 4));
  h.run();
  expect(h.applied).toEqual([1, 2, 3, 4]);
  expect(acks().map((m) => m.matchIndex)).toEqual([2, 3, 4]);
  // At each persist, only the acks of earlier, already durable entries had been sent.
  expect(acksAtPersist).toEqual([0, 1, 2]);
});

test("a failed sync stops the node (fail-stop) and nothing after it is applied", () => {
  const h = soloLeader();
  const before = [...h.applied];
  propose(h, data("doomed"));
  h.run();
  h.storage.complete(new Error("EIO"));
  h.run();
  expect(h.failure()).toBeInstanceOf(Error);
  expect(h.node.failure).toBeInstanceOf(Error);
  expect(h.applied).toEqual(before);
});

test("no snapshot is captured while applied entries run ahead of advance()", async () => {
  const h = soloLeader(2);
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
    h.run();
  };
  // 1. Make snapshot S1 due and hold it in saveSnapshot.
  h.storage.holdSnapshots = true;
  for (let i = 0; i < 3; i++) {
    propose(h, data(`x${i}`));
    h.run();
    h.storage.complete();
    h.run();
    await settle();
  }
  expect(h.snapshots.length).toBe(1);
  expect(h.storage.heldSnapshots.length).toBe(1);
  // 2. Entries a and b: a is synced while S1 is still held, so no snapshot may start then,
  // though one is due.
  propose(h, data("a"));
  h.run();
  propose(h, data("b"));
  h.run();
  h.storage.complete();
  // 3. S1 completes before the driver's next turn, which applies a ahead of advance() while
  // b syncs: a capture then would not match the core's lastApplied (the state machine throws).
  h.storage.holdSnapshots = false;
  h.storage.heldSnapshots.shift()!();
  await settle();
  expect(h.failure()).toBeNull();
  expect(h.storage.pending.length).toBe(1);
  h.storage.complete();
  h.run();
  await settle();
  expect(h.failure()).toBeNull();
  expect(h.snapshots.length).toBe(2);
});

/** "a" leading "a", "b", "c" with its no-op committed and applied, no sync outstanding. */
function ledThree(): Harness {
  const core = mkCore("a", ["a", "b", "c"]);
  makeLeader(core);
  const h = harness(core);
  h.node.receive(appReply("b", "a", core.status().term, core.status().lastLogIndex));
  h.run();
  expect(h.storage.pending.length).toBe(0);
  expect(h.applied.at(-1)).toBe(core.status().lastLogIndex);
  return h;
}

test("a reply that commits an entry while the leader's next sync is out applies it at once", () => {
  const h = ledThree();
  const term = h.core.status().term;
  propose(h, data("x"));
  h.run();
  const x = h.core.status().lastLogIndex;
  propose(h, data("y"));
  h.storage.complete(); // x is on the leader's disk; y's Ready goes out with its own sync
  h.run();
  expect(h.storage.pending.map((p) => p.entries.map((e) => e.index))).toEqual([[x + 1]]);
  expect(h.applied).not.toContain(x);
  // b holds x: with the leader's own copy, a majority. Applied now, not after y's sync.
  h.node.receive(appReply("b", "a", term, x));
  expect(h.applied).toContain(x);
  expect(h.applied).not.toContain(x + 1);
  expect(h.core.status().lastApplied).toBe(x);
  // y commits only once it is durable here too (or on both followers): then applied once.
  h.node.receive(appReply("b", "a", term, x + 1));
  expect(h.applied).not.toContain(x + 1);
  h.storage.complete();
  h.run();
  expect(h.applied.filter((i) => i === x)).toHaveLength(1);
  expect(h.applied).toContain(x + 1);
  expect(h.applied).toEqual([...new Set(h.applied)].sort((a, b) => a - b));
  expect(h.failure()).toBeNull();
});

test("both followers hold an entry the leader is still syncing: applied before the leader's sync completes", () => {
  const h = ledThree();
  const term = h.core.status().term;
  propose(h, data("x"));
  h.run();
  const x = h.core.status().lastLogIndex;
  expect(h.storage.pending.length).toBe(1);
  h.node.receive(appReply("b", "a", term, x));
  expect(h.applied).not.toContain(x); // b alone is no majority while our own copy is unsynced
  h.node.receive(appReply("c", "a", term, x));
  expect(h.applied).toContain(x);
  expect(h.storage.pending.length).toBe(1);
  h.storage.complete();
  h.run();
  expect(h.applied.filter((i) => i === x)).toHaveLength(1);
  expect(h.failure()).toBeNull();
});

/** The entries of AppendEntries sent to `to` so far, by index. */
function appendedTo(h: Harness, to: string): number[] {
  return h.sent.flatMap((m) => (m.type === "AppendEntries" && m.to === to ? m.entries.map((e) => e.index) : []));
}

test("a lone entry proposed while the leader's own sync is out goes to idle followers at once", () => {
  const h = ledThree();
  const term = h.core.status().term;
  propose(h, data("x"));
  h.run();
  const x = h.core.status().lastLogIndex;
  h.node.receive(appReply("b", "a", term, x));
  h.node.receive(appReply("c", "a", term, x));
  h.run();
  expect(h.applied).toContain(x); // answered; the leader's own sync of x is still out
  expect(h.storage.pending.length).toBe(1);
  propose(h, data("y"));
  h.run();
  // Both followers hold all they were sent: y leaves now, not after x's sync and the next Ready.
  expect(appendedTo(h, "b")).toEqual([x, x + 1]);
  expect(appendedTo(h, "c").filter((i) => i === x + 1)).toHaveLength(1);
  // The leader's copy is not durable: b alone does not commit y; b and c do.
  h.node.receive(appReply("b", "a", term, x + 1));
  expect(h.applied).not.toContain(x + 1);
  h.node.receive(appReply("c", "a", term, x + 1));
  expect(h.applied).toContain(x + 1);
  // x's sync completes: y is persisted here in the next Ready, and sent to no one again.
  h.storage.complete();
  h.run();
  expect(h.storage.pending.map((p) => p.entries.map((e) => e.index))).toEqual([[x + 1]]);
  h.storage.complete();
  h.run();
  expect(appendedTo(h, "b")).toEqual([x, x + 1]);
  expect(appendedTo(h, "c").filter((i) => i === x + 1)).toHaveLength(1);
  expect(h.applied.filter((i) => i === x + 1)).toHaveLength(1);
  expect(h.failure()).toBeNull();
});

test("while the leader's own sync is out, a batch forming waits for the next Ready (one AppendEntries per follower)", () => {
  const h = ledThree();
  const term = h.core.status().term;
  propose(h, data("x"));
  h.run();
  const x = h.core.status().lastLogIndex;
  propose(h, data("y1")); // still in flight to b and c: nothing more leaves early
  propose(h, data("y2"));
  h.run();
  h.node.receive(appReply("b", "a", term, x));
  h.node.receive(appReply("c", "a", term, x));
  propose(h, data("y3"));
  h.run();
  expect(appendedTo(h, "b")).toEqual([x]);
  h.storage.complete();
  h.run();
  expect(appendedTo(h, "b")).toEqual([x, x + 1, x + 2, x + 3]);
  expect(h.sent.filter((m) => m.type === "AppendEntries" && m.to === "b")).toHaveLength(2);
  expect(h.failure()).toBeNull();
});

test("after a Ready of several entries, a lone write waits for the next Ready (under concurrency)", () => {
  const h = ledThree();
  const term = h.core.status().term;
  propose(h, data("x1"));
  propose(h, data("x2"));
  h.run();
  const x = h.core.status().lastLogIndex;
  expect(h.storage.pending.map((p) => p.entries.length)).toEqual([2]);
  h.node.receive(appReply("b", "a", term, x));
  h.node.receive(appReply("c", "a", term, x));
  h.run();
  expect(h.applied).toContain(x);
  propose(h, data("y")); // the first of the answered clients' next writes: more may follow
  h.run();
  expect(appendedTo(h, "b")).toEqual([x - 1, x]);
  h.storage.complete();
  h.run();
  expect(appendedTo(h, "b")).toEqual([x - 1, x, x + 1]);
  expect(h.failure()).toBeNull();
});
