// Goal (issue 18): a follower catching up is handed thousands of committed entries in one Ready;
// the driver applies them a bounded slice per turn of the event loop (applyTurnEntriesMax
// entries, applyTurnBytesMax bytes, one entry at least) instead of all in one turn, and keeps
// every ordering rule meanwhile: the Ready stays outstanding (entries that arrive later are
// applied after it, in log order), reads settle as the applied index passes theirs, no local
// snapshot captures a state ahead of the core's applied index, the core's applied index moves
// only when the whole Ready is done, and a stop ends the slicing.
// Method: the production RaftNode and core (a follower of a three-voter cluster) with a
// recording state machine and storage; the scheduler is a queue the test runs one deferred
// function at a time, each counted as one turn.

import { expect, test } from "bun:test";
import type { Entry, HardState, Message, Snapshot, SnapshotMeta } from "../../../raft/core/mod.ts";
import { applyTurnBytesMax, applyTurnEntriesMax, type RaftNode } from "../../../raft/node.ts";
import type { RaftStorage, StateMachine } from "../../../raft/node_options.ts";
import { app, mkCore } from "./core_kit.ts";
import { quietNode } from "./node_kit.ts";

const members = ["a", "b", "c"];
const membership = { members: members.map((id) => ({ id, addr: `${id}:1`, suffrage: "voter" as const })) };

class Follower {
  readonly core = mkCore("b", members);
  readonly sent: Message[] = [];
  readonly applied: number[] = [];
  /** Entries and bytes applied per turn. */
  readonly perTurn: { entries: number; bytes: number }[] = [];
  /** [core's lastApplied, state machine's last applied] at each snapshot capture. */
  readonly captures: [number, number][] = [];
  readonly queue: (() => void)[] = [];
  readonly node: RaftNode;
  fatal: unknown = null;
  #now = { entries: 0, bytes: 0 };

  constructor(snapshotThresholdEntries = 1_000_000) {
    const storage: RaftStorage = {
      persist: (_h: HardState | null, _s: Snapshot | null, _e: readonly Entry[]) => {},
      saveSnapshot: (_m: SnapshotMeta, _d: Uint8Array, _c: number) => Promise.resolve(),
    };
    const stateMachine: StateMachine = {
      apply: (e) => {
        this.applied.push(e.index);
        this.#now.entries++;
        this.#now.bytes += e.data.length;
        return null;
      },
      snapshot: () => {
        this.captures.push([this.core.status().lastApplied, this.applied[this.applied.length - 1] ?? 0]);
        return Promise.resolve(new Uint8Array(0));
      },
      restore: () => {},
    };
    this.node = quietNode({
      core: this.core,
      storage,
      stateMachine,
      send: (m) => this.sent.push(m),
      scheduler: { defer: (fn) => this.queue.push(fn) },
      snapshotThresholdEntries,
      start: { lastIncludedIndex: 0, lastIncludedTerm: 0, membership },
      onFatal: (e) => {
        this.fatal = e;
      },
    });
  }

  /** One turn: `fn` and what it does synchronously. */
  turn(fn: () => void): void {
    this.#now = { entries: 0, bytes: 0 };
    fn();
    this.perTurn.push(this.#now);
  }

  /** Runs deferred work a function per turn until none is left (or `until` holds). */
  run(until: () => boolean = () => false): void {
    for (let i = 0; i < 100_000 && this.queue.length > 0 && !until(); i++) this.turn(this.queue.shift()!);
  }

  get worst(): { entries: number; bytes: number } {
    return {
      entries: Math.max(...this.perTurn.map((t) => t.entries)),
      bytes: Math.max(...this.perTurn.map((t) => t.bytes)),
    };
  }
}

function entries(from: number, to: number, bytes: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term: 2, kind: "normal", data: new Uint8Array(bytes).fill(i & 0xff) });
  return out;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("5,000 small committed entries in one Ready are applied at most applyTurnEntriesMax a turn, in order", async () => {
  const f = new Follower();
  f.turn(() => f.node.receive(app("a", "b", 2, 0, 0, entries(1, 5_000, 8), 5_000)));
  f.turn(f.queue.shift()!);
  // The append was acknowledged once persisted, before applying went on over the turns.
  const ack = f.sent.find((m) => m.type === "AppendEntriesReply");
  expect(ack).toMatchObject({ success: true, matchIndex: 5_000 });
  expect(f.applied.length).toBeLessThan(5_000);
  let halfway = false;
  let isAllRead = false;
  void f.node.readAt(2_000).then(() => {
    halfway = f.applied.length < 5_000;
  });
  void f.node.readAt(5_000).then(() => {
    isAllRead = true;
  });
  for (let i = 0; i < 100_000 && f.queue.length > 0; i++) {
    f.turn(f.queue.shift()!);
    await new Promise((resolve) => setImmediate(resolve)); // the reads' settlement, between turns
    // The core's applied index moves only when the whole Ready is done.
    const coreApplied = f.core.status().lastApplied;
    expect(coreApplied === 0 || coreApplied === 5_000).toBe(true);
  }
  await new Promise((resolve) => setImmediate(resolve));
  expect(f.fatal).toBeNull();
  expect(f.applied).toEqual(range(1, 5_000));
  expect(f.worst.entries).toBeLessThanOrEqual(applyTurnEntriesMax);
  expect(f.perTurn.filter((t) => t.entries > 0).length).toBeGreaterThanOrEqual(Math.ceil(5_000 / applyTurnEntriesMax));
  expect(f.core.status().lastApplied).toBe(5_000);
  expect(halfway).toBe(true); // a read at 2,000 was served before the rest was applied
  expect(isAllRead).toBe(true);
});

test("large entries: at most applyTurnBytesMax of them a turn (one at least, whatever its size)", () => {
  const f = new Follower();
  const size = 3 * 1024;
  f.turn(() => f.node.receive(app("a", "b", 2, 0, 0, [...entries(1, 300, size), ...entries(301, 302, 200 * 1024)], 302)));
  f.run();
  expect(f.fatal).toBeNull();
  expect(f.applied).toEqual(range(1, 302));
  const small = f.perTurn.filter((t) => t.bytes > 0 && t.bytes < 200 * 1024);
  expect(Math.max(...small.map((t) => t.bytes))).toBeLessThanOrEqual(applyTurnBytesMax + size);
  // Each big entry alone in its turn (or with what came before it within the bound).
  expect(f.worst.bytes).toBeLessThanOrEqual(applyTurnBytesMax + 200 * 1024);
  expect(f.perTurn.filter((t) => t.entries > 0).length).toBeGreaterThanOrEqual(Math.ceil((300 * size) / (applyTurnBytesMax + size)) + 1);
});

test("entries that arrive while a Ready is being applied wait for it; no snapshot captures ahead of the core", () => {
  const f = new Follower(100);
  f.turn(() => f.node.receive(app("a", "b", 2, 0, 0, entries(1, 3_000, 8), 3_000)));
  // A few turns in, the leader sends more, committed at once.
  for (let i = 0; i < 2; i++) f.turn(f.queue.shift()!);
  expect(f.applied.length).toBeLessThan(3_000);
  f.turn(() => f.node.receive(app("a", "b", 2, 3_000, 2, entries(3_001, 3_010, 8), 3_010)));
  f.run();
  expect(f.fatal).toBeNull();
  expect(f.applied).toEqual(range(1, 3_010));
  expect(f.sent.filter((m) => m.type === "AppendEntriesReply").map((m) => (m as { matchIndex: number }).matchIndex)).toEqual([3_000, 3_010]);
  // Snapshots were due all along (threshold 100); each captured exactly the core's applied state.
  expect(f.captures.length).toBeGreaterThan(0);
  for (const [coreApplied, smApplied] of f.captures) expect(smApplied).toBe(coreApplied);
});

test("stop() ends the slicing: nothing is applied after it", () => {
  const f = new Follower();
  f.turn(() => f.node.receive(app("a", "b", 2, 0, 0, entries(1, 5_000, 8), 5_000)));
  f.turn(f.queue.shift()!);
  const before = f.applied.length;
  expect(before).toBeLessThan(5_000);
  f.node.stop();
  f.run();
  expect(f.applied.length).toBe(before);
  expect(f.fatal).toBeNull();
});
