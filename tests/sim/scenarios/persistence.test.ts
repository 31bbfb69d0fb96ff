// Goal: committed entries survive crashes and unreliable networks, as the MIT 6.5840 lab 3C
// tests demand. Method: scripted crash/restart stories on production nodes (openNode on a
// SimDisk, tests/sim/harness): a crash kills the process and keeps only what its disk made
// durable (unsynced pages dropped, or in the figure 8 and churn stories also torn), and a
// restart builds a new node from that image through the factory. Every safety checker runs
// after each event.

import { expect, test } from "bun:test";
import type { NodeCluster } from "../harness/node_cluster.ts";
import { checkOneLeader, electionMs, makeCluster, nCommitted, one, start, valueAt } from "../harness/mit_kit.ts";
import { reliableNetwork } from "../sim_network.ts";

function crashAndRestartAll(c: NodeCluster): void {
  for (const id of c.ids) c.crash(id);
  for (const id of c.ids) c.restart(id);
}

// MIT TestPersist13C
test("Persist1: crash and restart all servers, then the leader; committed entries survive", async () => {
  const c = await makeCluster({ voters: 3, seed: 31 });
  await one(c, "11", 3, true);
  crashAndRestartAll(c);
  await one(c, "12", 3, true);
  const leader1 = await checkOneLeader(c);
  c.crash(leader1);
  c.restart(leader1);
  await one(c, "13", 3, true);
  const leader2 = await checkOneLeader(c);
  c.crash(leader2);
  await one(c, "14", 2, true);
  c.restart(leader2);
  const index = await one(c, "15", 3, true);
  expect(nCommitted(c, index).count).toBe(3);
  // Every server's state machine, rebuilt from its own disk, holds the last write.
  for (const id of c.ids) expect(c.value(id, "x")).toBe("15");
});

// MIT TestPersist23C
test("Persist2: repeated crash of a majority, restarted in mixed order", async () => {
  const c = await makeCluster({ voters: 5, seed: 32 });
  let v = 10;
  for (let iter = 0; iter < 5; iter++) {
    await one(c, `${v++}`, 5, true);
    const leader1 = await checkOneLeader(c);
    const f1 = c.ids.filter((id) => id !== leader1);
    c.crash(f1[0]!);
    c.crash(f1[1]!);
    await one(c, `${v++}`, 3, true);
    c.crash(leader1);
    c.crash(f1[2]!);
    c.crash(f1[3]!);
    c.restart(f1[0]!);
    c.restart(f1[1]!);
    await c.run(electionMs);
    c.restart(f1[2]!);
    await one(c, `${v++}`, 3, true);
    c.restart(f1[3]!);
    c.restart(leader1);
  }
  await one(c, "1000", 5, true);
});

// MIT TestPersist33C
test("Persist3: partitioned leader and a crashed follower, then the leader restarts", async () => {
  const c = await makeCluster({ voters: 3, seed: 33 });
  await one(c, "101", 3, true);
  const leader = await checkOneLeader(c);
  const f = c.ids.filter((id) => id !== leader);
  c.disconnect(f[1]!);
  await one(c, "102", 2, true);
  c.crash(leader);
  c.crash(f[0]!);
  c.connect(f[1]!);
  c.restart(f[0]!);
  await one(c, "103", 2, true);
  c.restart(leader);
  await one(c, "104", 3, true);
});

const lossy = { dropRate: 0.1, duplicateRate: 0.05, delayMinMs: 1, delayMaxMs: 30, longDelayRate: 0, longDelayMaxMs: 0 };

/** Each randomized story runs on this many seeds (SCENARIO_SEEDS; a few fit npm test's budget). */
const seedsPerStory = Number(process.env["SCENARIO_SEEDS"] ?? "4");

/** `first`, then seeds 1000 apart, so every story explores a few different runs. */
function seeds(first: number): number[] {
  return Array.from({ length: seedsPerStory }, (_, i) => first + 1000 * i);
}

async function figure8(seed: number, unreliable: boolean): Promise<void> {
  const c = await makeCluster({ voters: 5, seed });
  if (unreliable) c.wire.faults = lossy;
  await one(c, "first", 1, true);
  let up = c.ids.length;
  for (let iter = 0; iter < 300; iter++) {
    if (unreliable && iter === 100) c.wire.faults = { ...c.wire.faults, longDelayRate: 0.1, longDelayMaxMs: 2000 };
    let leader: string | null = null;
    for (const id of c.ids) if ((await start(c, id, `${iter}`)) !== null) leader = id;
    await c.run(c.rng.chance(0.1) ? c.rng.range(0, electionMs / 2) : c.rng.range(0, 13));
    if (leader !== null && c.isUp(leader)) {
      // Right after Start(): what the leader had not synced is lost, or torn mid-page.
      c.crash(leader, c.rng.chance(0.5) ? "tear" : "drop");
      up--;
    }
    if (up < 3) {
      const down = c.ids.filter((id) => !c.isUp(id));
      c.restart(c.rng.pick(down));
      up++;
    }
  }
  c.wire.faults = reliableNetwork;
  for (const id of c.ids) c.restart(id);
  await one(c, "last", 5, true);
}

// MIT TestFigure83C: leaders crash right after Start(); only current-term entries commit by counting.
test("Figure8: leaders crash right after Start(); the log stays safe and converges", async () => {
  for (const seed of seeds(34)) await figure8(seed, false);
});

// MIT TestFigure8Unreliable3C
test("Figure8Unreliable: the same on a lossy network with long reordering from iteration 100", async () => {
  for (const seed of seeds(35)) await figure8(seed, true);
});

/** Runs one churn story; returns how many accepted proposals committed where they were placed. */
async function churn(seed: number, unreliable: boolean): Promise<number> {
  const c = await makeCluster({ voters: 5, seed });
  if (unreliable) c.wire.faults = { ...lossy, longDelayRate: 0.01, longDelayMaxMs: 300 };
  const accepted: { index: number; term: number; value: string }[] = [];
  let v = 0;
  for (let iter = 0; iter < 300; iter++) {
    // Three clients each try a random server.
    for (let client = 0; client < 3; client++) {
      const id = c.rng.pick(c.ids);
      const value = `${client}-${v++}`;
      const s = c.isConnected(id) ? await start(c, id, value) : null;
      if (s !== null) accepted.push({ ...s, value });
    }
    await c.run(c.rng.range(10, 60));
    const id = c.rng.pick(c.ids);
    const roll = c.rng.float();
    if (roll < 0.2) c.crash(id, c.rng.chance(0.5) ? "tear" : "drop");
    else if (roll < 0.5) c.restart(id);
    else if (roll < 0.7) c.disconnect(id);
    else if (roll < 0.9) c.connect(id);
  }
  for (const id of c.ids) {
    c.restart(id);
    c.connect(id);
  }
  c.wire.faults = reliableNetwork;
  const last = await one(c, "final", 5, true);
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
  for (const id of c.ids) expect(c.lastApplied(id)).toBeGreaterThanOrEqual(last);
  return committed;
}

// MIT TestReliableChurn3C
test("ReliableChurn: random crash/restart/disconnect while 3 clients submit", async () => {
  let committed = 0;
  for (const seed of seeds(36)) committed += await churn(seed, false);
  // A seed whose churn keeps a majority down throughout may commit nothing; the story must.
  expect(committed).toBeGreaterThan(0);
});

// MIT TestUnreliableChurn3C
test("UnreliableChurn: the same on a lossy, reordering network", async () => {
  let committed = 0;
  for (const seed of seeds(37)) committed += await churn(seed, true);
  // A seed whose churn keeps a majority down throughout may commit nothing; the story must.
  expect(committed).toBeGreaterThan(0);
});
