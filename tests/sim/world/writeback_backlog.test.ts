// Goal (issue 18): the production node as openNode assembles it reads the log disk's writeback
// backlog (Disk.writebackBacklogBytes) and, while it is large, sends a follower's syncs off the
// event loop before any of them is slow (raft/loop_sync.ts), with every write still committed,
// applied alike on every member and readable. The seeds of world.test.ts that draw
// `writebackBacklog` run the same under every fault; this one shows the wiring plainly.
// Method: the simulated world, three voters, no faults, syncs off the loop taking up to 5 ms;
// a disk whose every reading of the backlog is over the bound or not at random; writes one at a
// time at the leader, 100 simulated ms apart. Deterministic: simulated time.

import { expect, test } from "bun:test";
import { drawWorldConfig, type SimServer, World, type WorldConfig } from "./world.ts";

/** Runs the world until `p` settles; its value. */
async function settle<T>(world: World, p: Promise<T>): Promise<T> {
  let done = false;
  const watched = p.finally(() => (done = true));
  while (!done) await world.step();
  return watched;
}

async function writeAll(writebackBacklog: boolean): Promise<{ backlogged: number; sentOffLoop: number; values: (string | null)[][] }> {
  const config: WorldConfig = {
    ...drawWorldConfig(7),
    voters: 3, spares: 0, midOpCrashRate: 0, ioFaultRate: 0, bitFlipRate: 0, membershipRate: 0, syncLatencyMsMax: 5,
    targeted: null, leadership: false, closesOnCrash: false, writebackBacklog,
  };
  const world = new World(config);
  for (const s of world.servers) world.start(s);
  let t = 0;
  while (world.leader() === null) await world.runUntil((t += 100));
  const leader = world.leader()!;
  for (let i = 0; i < 40; i++) {
    await settle(world, leader.opened!.store.set([[`k${i}`, `v${i}`]]));
    await world.runUntil((t = world.scheduler.now + 100));
  }
  await world.runUntil((t += 1_000)); // every member has applied everything
  const followers = world.servers.filter((s: SimServer) => s !== leader);
  const counts = followers.map((s) => s.opened!.node.loopSyncCounts());
  const values = await Promise.all(world.servers.map((s) => Promise.all(
    Array.from({ length: 40 }, (_, i) => settle(world, s.opened!.store.get(`k${i}`, "stale"))),
  )));
  return { backlogged: counts.reduce((a, c) => a + c.backlogged, 0), sentOffLoop: counts.reduce((a, c) => a + c.sentOffLoop, 0), values };
}

test("a follower whose disk reports a large writeback backlog syncs off the loop, and every write lands alike everywhere", async () => {
  const expected = Array.from({ length: 40 }, (_, i) => `v${i}`);
  const quiet = await writeAll(false);
  expect({ backlogged: quiet.backlogged, sentOffLoop: quiet.sentOffLoop }).toEqual({ backlogged: 0, sentOffLoop: 0 });
  expect(quiet.values).toEqual([expected, expected, expected]);

  const busy = await writeAll(true);
  // About half of the readings (one per write, 100 ms apart) find a backlog, on each follower.
  expect(busy.backlogged).toBeGreaterThan(10);
  expect(busy.sentOffLoop).toBeGreaterThanOrEqual(busy.backlogged);
  expect(busy.values).toEqual([expected, expected, expected]);
}, 60_000);
