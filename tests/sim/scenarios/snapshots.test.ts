// Goal: snapshots compact the log and bring lagging or crashed followers back, as the MIT
// 6.5840 lab 3D tests demand. Method: scripted stories on the seeded simulator with snapshots
// every few entries and small InstallSnapshot chunks; every safety checker runs after each event.

import { expect, test } from "bun:test";
import type { Cluster } from "../cluster.ts";
import { checkOneLeader, electionMs, makeCluster, one } from "../scenario_kit.ts";

const snapshotEvery = 10;
/** Entries a node may hold in memory: well below MIT's MAXLOGSIZE given a snapshot every 10. */
const logEntriesMax = 60;

function snapCluster(seed: number, reliable: boolean): Cluster {
  const c = makeCluster({ voters: 3, seed, snapshotEvery, trailingEntries: 3, core: { snapshotChunkBytes: 64 } });
  if (!reliable) c.network.faults = { dropRate: 0.1, duplicateRate: 0.05, delayMinMs: 1, delayMaxMs: 30, longDelayRate: 0.01, longDelayMaxMs: 200 };
  return c;
}

function checkLogSize(c: Cluster): void {
  for (const id of c.ids) {
    const core = c.node(id).core;
    if (core !== null) expect(core.entries().length).toBeLessThan(logEntriesMax);
  }
}

/** MIT snapcommon(): iterations of a victim falling behind (disconnected or crashed) and catching up. */
function snapCommon(seed: number, opts: { disconnect: boolean; reliable: boolean; crash: boolean }): Cluster {
  const c = snapCluster(seed, opts.reliable);
  one(c, "init", 3, true);
  let leader = checkOneLeader(c);
  let v = 0;
  for (let iter = 0; iter < 12; iter++) {
    const victim = c.ids[(c.ids.indexOf(leader) + 1) % c.ids.length]!;
    if (opts.disconnect) { c.disconnect(victim); one(c, `d${v++}`, 2, true); }
    if (opts.crash) { c.crash(victim); one(c, `c${v++}`, 2, true); }
    // Enough to force a snapshot while the victim is away.
    const n = snapshotEvery / 2 + c.rng.int(snapshotEvery);
    for (let i = 0; i < n; i++) c.propose(checkLeaderNow(c) ?? leader, { type: "set", values: { x: `s${v++}` } });
    one(c, `w${v++}`, 2, true);
    checkLogSize(c);
    if (opts.disconnect) { c.connect(victim); one(c, `r${v++}`, 3, true); leader = checkOneLeader(c); }
    if (opts.crash) { c.restart(victim); one(c, `r${v++}`, 3, true); leader = checkOneLeader(c); }
  }
  return c;
}

function checkLeaderNow(c: Cluster): string | null {
  const l = c.leader();
  return l !== null && c.isConnected(l) ? l : null;
}

// MIT TestSnapshotBasic3D
test("SnapshotBasic: snapshots are taken and the log is trimmed", () => {
  const c = snapCommon(41, { disconnect: false, reliable: true, crash: false });
  for (const id of c.ids) expect(c.node(id).storage.snapshot).not.toBeNull();
  checkLogSize(c);
});

// MIT TestSnapshotInstall3D
test("SnapshotInstall: a disconnected follower is caught up by InstallSnapshot", () => {
  const c = snapCommon(42, { disconnect: true, reliable: true, crash: false });
  expect(c.network.stats.sentByType.get("InstallSnapshot") ?? 0).toBeGreaterThan(0);
});

// MIT TestSnapshotInstallUnreliable3D
test("SnapshotInstallUnreliable: the same on a lossy network", () => {
  const c = snapCommon(43, { disconnect: true, reliable: false, crash: false });
  expect(c.network.stats.sentByType.get("InstallSnapshot") ?? 0).toBeGreaterThan(0);
});

// MIT TestSnapshotInstallCrash3D
test("SnapshotInstallCrash: the victim crashes instead of disconnecting", () => {
  snapCommon(44, { disconnect: false, reliable: true, crash: true });
});

// MIT TestSnapshotInstallUnCrash3D
test("SnapshotInstallUnCrash: crashes on a lossy network", () => {
  snapCommon(45, { disconnect: false, reliable: false, crash: true });
});

// MIT TestSnapshotAllCrash3D
test("SnapshotAllCrash: all servers crash and restart from snapshot plus log tail; the index never decreases", () => {
  const c = snapCluster(46, true);
  one(c, "init", 3, true);
  for (let iter = 0; iter < 5; iter++) {
    const n = snapshotEvery / 2 + c.rng.int(snapshotEvery);
    for (let i = 0; i < n; i++) one(c, `a${iter}-${i}`, 3, true);
    const before = one(c, `b${iter}`, 3, true);
    for (const id of c.ids) c.crash(id);
    for (const id of c.ids) c.restart(id);
    const after = one(c, `c${iter}`, 3, true);
    expect(after).toBeGreaterThan(before);
  }
});

// MIT TestSnapshotInit3D
test("SnapshotInit: after a restart the state machine starts from the snapshot", () => {
  const c = snapCluster(47, true);
  one(c, "init", 3, true);
  for (let i = 0; i < snapshotEvery + 1; i++) one(c, `i${i}`, 3, true);
  for (const id of c.ids) c.crash(id);
  for (const id of c.ids) c.restart(id);
  // Right after restart, before any new commit, each machine holds its snapshot's state.
  for (const id of c.ids) {
    const node = c.node(id);
    const snap = node.storage.snapshot;
    expect(snap).not.toBeNull();
    expect(node.lastApplied).toBe(snap!.meta.lastIncludedIndex);
    expect(node.machine.get("x")).not.toBeNull();
  }
  one(c, "after", 3, true);
  for (const id of c.ids) c.crash(id);
  for (const id of c.ids) c.restart(id);
  const last = one(c, "final", 3, true);
  c.run(electionMs);
  for (const id of c.ids) expect(c.node(id).lastApplied).toBeGreaterThanOrEqual(last);
  for (const id of c.ids) expect(c.node(id).machine.get("x")).toBe("final");
});
