// Goal: through the production node (openNode's transport callback, RaftNode, the core), a
// follower that hears its leader's connection close — as a killed process's sockets do —
// elects a successor within about the minimum election timeout, where without that notice it
// may wait out up to twice that; and safety holds meanwhile (the world's checkers run on every
// event). Method: the simulated world, three voters, no faults but the crash of the leader;
// the same seeds with and without `closesOnCrash`, simulated time from the crash to a new
// leader. Deterministic: simulated time, not the machine's.

import { expect, test } from "bun:test";
import { drawWorldConfig, World, type WorldConfig } from "./world.ts";

const electionTicks = 50;
const tickMs = 10;

async function failoverMs(seed: number, closesOnCrash: boolean): Promise<number> {
  const config: WorldConfig = {
    ...drawWorldConfig(seed),
    voters: 3, spares: 0, tickMs, electionTicks, heartbeatTicks: 10,
    midOpCrashRate: 0, ioFaultRate: 0, bitFlipRate: 0, membershipRate: 0, syncLatencyMsMax: null,
    targeted: null, leadership: false, closesOnCrash,
  };
  const world = new World(config);
  for (const s of world.servers) world.start(s);
  let t = 0;
  while (world.leader() === null) await world.runUntil((t += 100));
  await world.runUntil((t += 1_000)); // heartbeats flow; the leader's term is settled
  const old = world.leader()!;
  const term = old.opened!.node.core.status().term;
  world.crash(old, "drop");
  const crashedAt = world.scheduler.now;
  for (;;) {
    await world.step();
    const l = world.leader();
    if (l !== null && l.opened!.node.core.status().term > term) return world.scheduler.now - crashedAt;
    if (world.scheduler.now - crashedAt > 10_000) throw new Error(`seed ${seed}: no new leader 10 s after the crash`);
  }
}

test("a follower that hears its leader's connection close elects a successor within about the minimum election timeout", async () => {
  const eager: number[] = [];
  const plain: number[] = [];
  for (let seed = 1; seed <= 8; seed++) {
    eager.push(await failoverMs(seed, true));
    plain.push(await failoverMs(seed, false));
  }
  console.log(`failover in simulated ms, closesOnCrash: ${eager.join(" ")}; without: ${plain.join(" ")}`);
  // Stickiness ends electionTicks after the last heartbeat (at most heartbeatTicks before the
  // crash); the campaign follows 1 tick later, plus a 3-tick slot per rank (0 or 1 of 2
  // followers); then a PreVote and a vote round trip.
  const bound = (electionTicks + 5 + 1) * tickMs + 100;
  for (const ms of eager) expect(ms).toBeLessThanOrEqual(bound);
  expect(Math.max(...plain)).toBeGreaterThan(bound);
}, 60_000);
