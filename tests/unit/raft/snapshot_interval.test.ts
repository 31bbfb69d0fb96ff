// Goal: a node waits an interval of ticks between local snapshots (issue 18; hashicorp/raft's
// SnapshotInterval), so a steady write rate no longer snapshots every -snapshot-threshold
// entries on every member at once; an idle node with entries past the threshold still takes
// one when the interval has passed, and a log past its byte bound does not wait. Method: the
// production driver (RaftNode) as a single voter, its ticks and turns run by the test, the
// snapshots it starts counted at the state machine.

import { expect, test } from "bun:test";
import type { RaftCore } from "../../../raft/core/mod.ts";
import type { RaftNode } from "../../../raft/node.ts";
import type { RaftStorage, StateMachine } from "../../../raft/node_options.ts";
import { mkCore } from "./core_kit.ts";
import { quietNode } from "./node_kit.ts";

interface Solo {
  readonly node: RaftNode;
  readonly core: RaftCore;
  /** Applied index at each snapshot the driver started. */
  readonly snapshots: number[];
  /** Runs deferred driver turns and settles the snapshot promises between them. */
  turn(): Promise<void>;
}

async function solo(threshold: number, intervalTicks?: number): Promise<Solo> {
  const core = mkCore("a", ["a"]);
  const snapshots: number[] = [];
  let queue: (() => void)[] = [];
  const storage: RaftStorage = { persist: () => {}, saveSnapshot: () => Promise.resolve() };
  const stateMachine: StateMachine = {
    apply: () => null,
    snapshot: () => {
      snapshots.push(core.status().lastApplied);
      return Promise.resolve(new Uint8Array(100));
    },
    restore: () => {},
  };
  const node = quietNode({
    core,
    storage,
    stateMachine,
    send: () => {},
    scheduler: { defer: (fn) => queue.push(fn) },
    snapshotThresholdEntries: threshold,
    ...(intervalTicks === undefined ? {} : { snapshotIntervalTicks: intervalTicks }),
    onFatal: (e) => {
      throw e;
    },
  });
  const turn = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) {
      await Promise.resolve();
      const q = queue;
      queue = [];
      for (const fn of q) fn();
    }
  };
  for (let i = 0; i < 100 && core.status().role !== "leader"; i++) {
    node.tick();
    await turn();
  }
  expect(core.status().role).toBe("leader");
  return { node, core, snapshots, turn };
}

function write(s: Solo, bytes: number): void {
  s.node.propose(new Uint8Array(bytes)).catch(() => undefined);
}

test("one write per tick for 1,000 ticks: one snapshot per 100-tick interval, not one per 10 entries", async () => {
  const s = await solo(10, 100);
  for (let t = 0; t < 1000; t++) {
    write(s, 40);
    s.node.tick();
    await s.turn();
  }
  expect(s.core.status().lastApplied).toBeGreaterThan(1000);
  // Without the interval: a snapshot every 10 entries, about 100.
  expect(s.snapshots.length).toBeGreaterThanOrEqual(8);
  expect(s.snapshots.length).toBeLessThanOrEqual(10);
});

test("entries past the threshold and then no writes: the snapshot comes once the interval has passed", async () => {
  const s = await solo(10, 50);
  for (let i = 0; i < 10; i++) write(s, 40);
  await s.turn();
  for (let t = 0; t < 60 && s.snapshots.length === 0; t++) {
    s.node.tick();
    await s.turn();
  }
  expect(s.snapshots.length).toBe(1);
  // The next wait starts at that snapshot: 20 more entries, then ticks alone.
  for (let i = 0; i < 20; i++) write(s, 40);
  await s.turn();
  for (let t = 0; t < 49; t++) {
    s.node.tick();
    await s.turn();
  }
  expect(s.snapshots.length).toBe(1);
  for (let t = 0; t < 2; t++) {
    s.node.tick();
    await s.turn();
  }
  expect(s.snapshots.length).toBe(2);
  expect(s.snapshots[1]).toBe(s.core.status().lastApplied);
});

test("a log past the byte bound does not wait for the interval", async () => {
  const s = await solo(10, 1_000_000);
  // 17 entries of 1 MiB: past half of snapshotLogBytesMax (the bound's lowest draw).
  for (let i = 0; i < 17; i++) {
    write(s, 1024 * 1024);
    await s.turn();
  }
  expect(s.snapshots.length).toBe(1);
});

test("without an interval, the threshold alone decides (the simulator's and tests' nodes)", async () => {
  const s = await solo(10);
  for (let i = 0; i < 100; i++) {
    write(s, 40);
    await s.turn();
  }
  expect(s.snapshots.length).toBeGreaterThanOrEqual(9);
});
