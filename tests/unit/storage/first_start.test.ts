// Goal: a crash anywhere in a node's very first start never leaves it without members: the
// restart either finds the bootstrap configuration on disk or bootstraps again, and becomes
// leader of its one-node cluster. Method: the production storage (openStorage), bootstrap
// decision and driver (RaftNode) on SimDisk, with a crash armed at each disk operation of a
// first start in turn; the unsynced state is dropped or torn, then the node is restarted the
// way the server restarts it and must elect itself and commit a write.

import { describe, expect, test } from "bun:test";
import { createRaft, createRng, type Entry, type Message, type RaftCore } from "../../../raft/core/mod.ts";
import type { Logger } from "../../../raft/host.ts";
import { RaftNode } from "../../../raft/node.ts";
import { bootstrapMembership, openStorage, startMeta } from "../../../raft/storage.ts";
import { type CrashMode, SimCrashError, SimDisk } from "../../sim/sim_disk.ts";
import { storageRng } from "../../support/storage_rng.ts";

const self = { id: "n1", addr: "localhost:12000", suffrage: "voter" as const };
const dataDir = "/data";
const silent: Logger = { info() {}, warn() {}, error() {} };

/** One process's life on `disk`: storage opened, bootstrap decided, core and driver built. */
interface Process {
  readonly core: RaftCore;
  readonly applied: Entry[];
  readonly sent: Message[];
  /** Runs every deferred driver turn until none is left. */
  run(): void;
  tick(times: number): void;
  receive(msg: Message): void;
  failure(): unknown;
  stop(): void;
  readonly hasState: boolean;
}

/** Starts a node the way the server does (server.ts: openStorage, stamp the id, bootstrap decision). */
function startProcess(disk: SimDisk, isJoining = false): Process {
  const recovered = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir, walPreallocateBytes: 4096 });
  const { storage, initial, hasState } = recovered;
  if (recovered.nodeId === null) storage.saveNodeId(self.id);
  const bootstrap = bootstrapMembership(hasState, isJoining, [self]);
  const core = createRaft({ id: self.id, electionTicks: 10, heartbeatTicks: 2, rng: createRng(7) }, { ...initial, bootstrap });
  let queue: (() => void)[] = [];
  let fatal: unknown = null;
  const applied: Entry[] = [];
  const sent: Message[] = [];
  const node = new RaftNode({
    core,
    storage,
    stateMachine: { apply: (e) => applied.push(e), snapshot: () => Promise.resolve(new Uint8Array(0)), restore() {} },
    send: (m) => sent.push(m),
    events: { applied() {}, softState() {}, restored() {} },
    scheduler: { defer: (fn) => queue.push(fn) },
    logger: silent,
    snapshotThresholdEntries: 1_000_000,
    snapshotTrailingEntries: 0,
    start: startMeta(initial.snapshot, bootstrap),
    onFatal: (e) => (fatal = e),
  });
  const run = (): void => {
    for (let guard = 0; queue.length > 0 && guard < 10_000; guard++) {
      const now = queue;
      queue = [];
      for (const fn of now) fn();
    }
  };
  node.wake(); // openNode kicks the core once at start
  return {
    core,
    applied,
    sent,
    run,
    tick(times) {
      for (let i = 0; i < times && fatal === null; i++) {
        node.tick();
        run();
      }
    },
    receive(msg) {
      node.receive(msg);
      run();
    },
    failure: () => fatal,
    stop: () => {
      node.stop();
      storage.close();
    },
    hasState,
  };
}

/** A first start that goes as far as it can: elect itself, then commit one write. */
function firstStart(disk: SimDisk): unknown {
  let p: Process;
  try {
    p = startProcess(disk);
  } catch (e) {
    return e; // The crash fired while the data directory was being stamped.
  }
  p.run();
  p.tick(30);
  if (p.failure() === null) p.core.propose(new TextEncoder().encode("first"));
  p.run();
  p.tick(5);
  return p.failure();
}

describe("a crash in a node's first start", () => {
  for (const mode of ["drop", "tear"] as CrashMode[]) {
    test(`after a crash at any disk operation (${mode}), the restarted node leads its cluster and takes a write`, () => {
      let crashPoints = 0;
      for (let at = 0; ; at++) {
        const disk = new SimDisk();
        disk.armCrash(at);
        const failure = firstStart(disk);
        if (failure === null) break; // The whole first start ran before operation `at`.
        expect(failure, `crash at operation ${at}`).toBeInstanceOf(SimCrashError);
        crashPoints++;
        disk.crash(mode, storageRng(at));

        const p = startProcess(disk);
        p.run();
        p.tick(30);
        const where = `crash at operation ${at} (${mode}); restart found ${p.hasState ? "state" : "no state"}, ` +
          `term ${p.core.status().term}, members [${p.core.status().members.map((m) => m.id).join(", ")}]`;
        expect(p.failure(), where).toBeNull();
        expect(p.core.status().role, where).toBe("leader");
        expect(p.core.propose(new TextEncoder().encode("after restart")).ok, where).toBe(true);
        p.run();
        p.tick(5);
        const last = p.applied[p.applied.length - 1];
        expect(last === undefined ? null : new TextDecoder().decode(last.data), where).toBe("after restart");
        p.stop();
      }
      expect(crashPoints).toBeGreaterThan(10);
    });
  }
});

describe("what counts as state", () => {
  test("a node first started with -join that persisted only a leader's term never bootstraps a cluster of its own", () => {
    const disk = new SimDisk();
    const joiner = startProcess(disk, true);
    joiner.run();
    // A leader of some cluster probes it; the probe is rejected (no such entry here), but the
    // term is adopted and saved before the rejection leaves.
    joiner.receive({
      type: "AppendEntries", from: "leader", to: self.id, term: 5, prevLogIndex: 3, prevLogTerm: 2,
      entries: [], leaderCommit: 3, readRound: 0,
    });
    expect(joiner.sent.some((m) => m.type === "AppendEntriesReply" && m.term === 5)).toBe(true);
    joiner.stop();
    disk.crash("drop", storageRng(1));

    // Restarted without -join: it may already be in that cluster's membership (as a learner),
    // so starting a cluster of its own would put a second, different entry (1, 1) in the world.
    const again = startProcess(disk, false);
    expect(again.hasState).toBe(true);
    again.run();
    again.tick(30);
    expect(again.core.status().members).toEqual([]);
    expect(again.core.status().role).toBe("follower");
    expect(again.core.status().term).toBe(5);
    again.stop();
  });
});
