// Goal: committed entries survive crashes and unreliable networks, as the MIT 6.5840 lab 3C
// tests demand. Method: scripted crash/restart stories on the seeded simulator; a crash loses
// everything not yet durable; every safety checker runs after each event.

import { expect, test } from "bun:test";
import type { Cluster } from "../cluster.ts";
import { checkOneLeader, electionMs, makeCluster, nCommitted, one, start, valueAt } from "../scenario_kit.ts";

function crashAndRestartAll(c: Cluster): void {
  for (const id of c.ids) c.crash(id);
  for (const id of c.ids) c.restart(id);
}

// MIT TestPersist13C
test("Persist1: crash and restart all servers, then the leader; committed entries survive", () => {
  const c = makeCluster({ voters: 3, seed: 31 });
  one(c, "11", 3, true);
  crashAndRestartAll(c);
  one(c, "12", 3, true);
  const leader1 = checkOneLeader(c);
  c.crash(leader1);
  c.restart(leader1);
  one(c, "13", 3, true);
  const leader2 = checkOneLeader(c);
  c.crash(leader2);
  one(c, "14", 2, true);
  c.restart(leader2);
  const index = one(c, "15", 3, true);
  expect(nCommitted(c, index).count).toBe(3);
});

// MIT TestPersist23C
test("Persist2: repeated crash of a majority, restarted in mixed order", () => {
  const c = makeCluster({ voters: 5, seed: 32 });
  let v = 10;
  for (let iter = 0; iter < 5; iter++) {
    one(c, `${v++}`, 5, true);
    const leader1 = checkOneLeader(c);
    const f1 = c.ids.filter((id) => id !== leader1);
    c.crash(f1[0]!);
    c.crash(f1[1]!);
    one(c, `${v++}`, 3, true);
    c.crash(leader1);
    c.crash(f1[2]!);
    c.crash(f1[3]!);
    c.restart(f1[0]!);
    c.restart(f1[1]!);
    c.run(electionMs);
    c.restart(f1[2]!);
    one(c, `${v++}`, 3, true);
    c.restart(f1[3]!);
    c.restart(leader1);
  }
  one(c, "1000", 5, true);
});

// MIT TestPersist33C
test("Persist3: partitioned leader and a crashed follower, then the leader restarts", () => {
  const c = makeCluster({ voters: 3, seed: 33 });
  one(c, "101", 3, true);
  const leader = checkOneLeader(c);
  const f = c.ids.filter((id) => id !== leader);
  c.disconnect(f[1]!);
  one(c, "102", 2, true);
  c.crash(leader);
  c.crash(f[0]!);
  c.connect(f[1]!);
  c.restart(f[0]!);
  one(c, "103", 2, true);
  c.restart(leader);
  one(c, "104", 3, true);
});

function figure8(seed: number, unreliable: boolean): void {
  const c = makeCluster({ voters: 5, seed });
  if (unreliable) c.network.faults = { dropRate: 0.1, duplicateRate: 0.05, delayMinMs: 1, delayMaxMs: 30, longDelayRate: 0, longDelayMaxMs: 0 };
  one(c, "first", 1, true);
  let up = c.ids.length;
  for (let iter = 0; iter < 300; iter++) {
    if (unreliable && iter === 100) c.network.faults = { ...c.network.faults, longDelayRate: 0.1, longDelayMaxMs: 2000 };
    let leader: string | null = null;
    for (const id of c.ids) if (start(c, id, `${iter}`) !== null) leader = id;
    c.run(c.rng.chance(0.1) ? c.rng.range(0, electionMs / 2) : c.rng.range(0, 13));
    if (leader !== null && c.node(leader).isUp) {
      c.crash(leader);
      up--;
    }
    if (up < 3) {
      const down = c.ids.filter((id) => !c.node(id).isUp);
      const id = c.rng.pick(down);
      c.restart(id);
      up++;
    }
  }
  c.network.faults = { dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5, longDelayRate: 0, longDelayMaxMs: 0 };
  for (const id of c.ids) c.restart(id);
  one(c, "last", 5, true);
}

// MIT TestFigure83C: leaders crash right after Start(); only current-term entries commit by counting.
test("Figure8: leaders crash right after Start(); the log stays safe and converges", () => {
  figure8(34, false);
});

// MIT TestFigure8Unreliable3C
test("Figure8Unreliable: the same on a lossy network with long reordering from iteration 100", () => {
  figure8(35, true);
});

function churn(seed: number, unreliable: boolean): void {
  // MIT's churn models Raft without leader leases, so restarted voters vote at once (with the
  // quiet period leases need, a restart every ~50 ms of this churn starves elections).
  const c = makeCluster({ voters: 5, seed, core: { quietAfterRestart: false } });
  if (unreliable) c.network.faults = { dropRate: 0.1, duplicateRate: 0.05, delayMinMs: 1, delayMaxMs: 30, longDelayRate: 0.01, longDelayMaxMs: 300 };
  const accepted: { index: number; term: number; value: string }[] = [];
  let v = 0;
  for (let iter = 0; iter < 100; iter++) {
    // Three clients each try a random server.
    for (let client = 0; client < 3; client++) {
      const id = c.rng.pick(c.ids);
      const value = `${client}-${v++}`;
      const s = c.isConnected(id) ? start(c, id, value) : null;
      if (s !== null) accepted.push({ ...s, value });
    }
    c.run(c.rng.range(10, 60));
    const id = c.rng.pick(c.ids);
    const roll = c.rng.float();
    if (roll < 0.2) c.crash(id);
    else if (roll < 0.5) c.restart(id);
    else if (roll < 0.7) c.disconnect(id);
    else if (roll < 0.9) c.connect(id);
  }
  for (const id of c.ids) { c.restart(id); c.connect(id); }
  c.network.faults = { dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5, longDelayRate: 0, longDelayMaxMs: 0 };
  const last = one(c, "final", 5, true);
  // Every accepted proposal either committed where it was placed or lost to another entry.
  let committed = 0;
  for (const a of accepted) {
    // Beyond the final log an accepted entry was simply lost; below it, it is there or replaced.
    if (a.index > last) continue;
    const e = c.appliedLog.get(a.index);
    if (e === undefined) throw new Error(`entry ${a.index} (≤ final index ${last}) was never applied`);
    // Same index and term means the same entry (Log Matching): it must carry our value.
    // Any other entry there replaced ours and cannot carry it (every value is proposed once).
    if (e.term === a.term) {
      expect(valueAt(c, a.index)).toBe(a.value);
      committed++;
    } else {
      expect(valueAt(c, a.index)).not.toBe(a.value);
    }
  }
  expect(committed).toBeGreaterThan(0);
  for (const id of c.ids) expect(c.node(id).lastApplied).toBeGreaterThanOrEqual(last);
}

// MIT TestReliableChurn3C
test("ReliableChurn: random crash/restart/disconnect while 3 clients submit", () => {
  churn(36, false);
});

// MIT TestUnreliableChurn3C
test("UnreliableChurn: the same on a lossy, reordering network", () => {
  churn(37, true);
});
