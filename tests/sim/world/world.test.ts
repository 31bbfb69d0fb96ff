// Goal: the production node (driver, WAL, stable and snapshot stores, codec, state machine,
// store), assembled by openNode exactly as server.ts assembles it, stays safe and live under
// crashes that lose or tear unsynced writes (some in the middle of a disk operation: a first
// start, a snapshot install or prune, a WAL compaction, a recursive removal), EIO and ENOSPC,
// bit flips in one server's synced data (it must refuse to start, naming the file), restarts,
// joins and removals, partitions and a lossy network, with concurrent clients (Store API and
// HTTP handler) checked for linearizability. Method: SIM_SEEDS seeds (default below,
// sized for npm test's budget) from SIM_SEED_START; a failure prints its seed, the replay
// command and the trace of the events before it.

import { expect, test } from "bun:test";
import { drawTtlClients } from "./clients.ts";
import { runWorldSeed, worldReplayCommand } from "./run_seed.ts";
import { drawTargetedMode, type TargetedMode } from "./targeted.ts";
import { drawClosesOnCrash, drawWalSegmentBytesMax } from "./world.ts";
import { drawLeadershipNemesis } from "./leadership_nemesis.ts";
import { drawListClients, drawOnceClients } from "./clients.ts";
import { drawWatchers } from "./watchers.ts";

const seedCount = Number(process.env["SIM_SEEDS"] ?? "150");
const seedStart = Number(process.env["SIM_SEED_START"] ?? "1");

async function runMany(seeds: readonly number[]): Promise<string[]> {
  const failures: string[] = [];
  const t0 = performance.now();
  let simMs = 0;
  for (const seed of seeds) {
    const r = await runWorldSeed(seed);
    simMs += r.simMs;
    if (r.error !== null) {
      const line = `seed=${seed} FAILED: ${r.error}\n  replay: ${worldReplayCommand(seed)}`;
      console.log(`${line}\n  trace (last 40 events):\n    ${r.trace.slice(-40).join("\n    ")}`);
      failures.push(line);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `world sim: ${seeds.length - failures.length}/${seeds.length} seeds ok in ${secs.toFixed(1)} s ` +
      `(${(seeds.length / secs).toFixed(2)} seeds/s, ${(simMs / 1000 / secs).toFixed(1)} simulated s per s)`,
  );
  return failures;
}

test(`world sim: ${seedCount} seeds from ${seedStart}`, async () => {
  expect(await runMany(Array.from({ length: seedCount }, (_, i) => seedStart + i))).toEqual([]);
}, 1_800_000);

/**
 * Seeds that caught a defect when its fix was reverted alone, or a driver rule broken on
 * purpose (issue 13, "the simulator finds real bugs"); each must pass on the fixed code. The
 * failure each showed is in the comment: rerun it in a worktree with the fix reverted to see it.
 */
const regressionSeeds: readonly { seed: number; catches: string; targeted?: TargetedMode }[] = [
  // Forwarded request ids without the incarnation, replies matched on the id alone (da2e648
  // reverted): "linearizability: key k0: ... read k0 -> v225 after #227 set k0=v227 ok".
  { seed: 2, catches: "forwarded request ids carry the incarnation; a reply settles only the request sent to its address" },
  // level=leader answered from the leader's map after checking only its role (da2e648
  // reverted): "linearizability: key k0: #149 set k0=v149 ok [602, 613]; #256 read k0 -> absent [1329, 1336]".
  { seed: 22, catches: "leader-level reads are lease reads" },
  // Snapshot prune removing in place and a start refusing an unreadable older snapshot
  // (7cdf6dd reverted): "n1#2 refused an undamaged data directory: ... snapshots/2-16/meta ... meta file missing".
  { seed: 3, catches: "an interrupted snapshot prune never bricks the node" },
  // The old WAL tail rule, torn only if no intact record follows (969f21e reverted; on today's
  // code: raft/wal_recovery.ts refusing a torn record when countIntactAfter > 0): "n1#2 refused
  // an undamaged data directory: ... raft/wal/1.seg at offset 1020: no record header: an intact
  // record follows". Seed 1056 caught it until c26a94c changed what the worlds draw; 1471 is the
  // first of seeds 1-1500 that catches it now.
  { seed: 1471, catches: "WAL tail rule: unsynced pages persisted out of order are torn, not damage" },
  // No duplicate detection of forwarded requests (d4ac8a0 reverted): "linearizability: key k2:
  // #298 set k2=v298 ok, #297 set k2=v297 ok, #300 read k2 -> v298, #303 read k2 -> v297".
  { seed: 729, catches: "a duplicated forwarded write is carried out once" },
  // The hard state saved before the bootstrap entry is synced (c8cdb67 reverted): a crash in a
  // single voter's first start leaves term 1 with no members: "liveness: no convergence ...
  // n1 follower t1 commit 0 applied 0 last 0".
  { seed: 528, catches: "a crash in a node's very first start never leaves it with no members" },
  // The leader counting its own entries before they are synced (driver rule broken on purpose):
  // "SafetyViolation: leader completeness: n1 leads term 3 without committed entry 161/2".
  { seed: 6, catches: "the leader counts its own entries only once they are durable" },
  // Found on main by the simulator: a follower saved an installed snapshot (69/4), crashed
  // before resetting its log, and restarted with log entries 70:2, 71:2 after it: "InvariantError:
  // terms decrease at 70". Recovery now applies figure 13 (raft/storage.ts).
  { seed: 933, catches: "recovery keeps log entries after a snapshot only if they continue it" },
  // Found on main by the simulator: a leader proposed a forwarded write and crashed; its next
  // process, restarted at once, got a duplicate of the request and answered "not the leader",
  // a definite failure, for a write that was applied (store/forwarder.ts: a young process
  // says the outcome is unknown instead).
  { seed: 1329, catches: "a restarted node never calls a forwarded change definitely not done" },
  // Found on main by the simulator: of five voters one was removed, one disk refused, and the
  // leader appended its own removal, lost its majority and restarted; it could not campaign,
  // and only its vote could elect anyone: "liveness: no convergence ... n1 removed; n3
  // precandidate ...; n5 precandidate ...". A server may campaign until its removal is known
  // committed, if it was a voter just before (raft/core/core.ts isPromotable).
  { seed: 302377, catches: "a leader that appended its own removal never deadlocks the cluster, even after a restart" },
  // Targeted nemesis "bounce" (targeted.ts). Read contexts without the process incarnation and
  // a ReadIndexReply taken from anyone in any term (da2e648's read half reverted: raft/node.ts
  // ctxPrefix `<id>`, raft/core/read_index.ts handleReadIndexReply checking only the role):
  // n1#3 asks n1/1 and is bounced, the leader's answer (index 16) is held up, n1#4 asks n1/1
  // and takes it: "linearizability: key k3: ... #352 set k3=v352 ok [1340, 1349]; #357 read k3
  // -> v351 [1358, 1359]". The 37th bounce seed; none of 7,000-8,000 random seeds caught it.
  { seed: 237, catches: "a read index answered to an earlier process of a node never settles a read of its next one", targeted: "bounce" },
  // Targeted nemesis "lease". No quiet period after a restart (4ed6a78 reverted: inLease
  // ignoring startTicksLeft in raft/core/election.ts): the restarted voter grants its PreVote
  // and vote at once, a successor is elected inside the isolated leader's lease, and a lease
  // read misses its write: "linearizability: key k0: #279 set k0=p3 ok [1989, 1996]; #282
  // read k0 -> absent [1998, 1998]". The first lease seed.
  { seed: 16, catches: "a restarted voter votes for no successor inside its old leader's lease", targeted: "lease" },
  // A received snapshot written to its file inside the core's step, a disk failure thrown from
  // it (fcdfb72 alone, before 96b933a): "SimCrashError: simulated crash during open
  // /data/n2/snapshots/2-32.tmp/state" escaped node.receive. Found in seeds 30000-30399.
  { seed: 30013, catches: "a disk failure while a snapshot chunk is received never escapes the core's step" },
];

test("world sim: no regression seed draws small WAL segments or the leadership nemesis (its run stays the one that caught its bug)", () => {
  for (const { seed } of regressionSeeds) expect({ seed, segment: drawWalSegmentBytesMax(seed) }).toEqual({ seed, segment: null });
  for (const { seed } of regressionSeeds) expect({ seed, leadership: drawLeadershipNemesis(seed) }).toEqual({ seed, leadership: false });
  expect(Array.from({ length: 150 }, (_, i) => drawLeadershipNemesis(i + 1)).filter((b) => b).length).toBeGreaterThan(20);
  // And some seeds of the default run do, so segment rollover runs in npm test.
  expect(Array.from({ length: 150 }, (_, i) => drawWalSegmentBytesMax(i + 1)).filter((b) => b !== null).length).toBeGreaterThan(20);
});

test("world sim: no regression seed's clients use Idempotency-Keys; many other seeds' do (issue 16)", () => {
  for (const { seed } of [...regressionSeeds, { seed: 1718321 }, { seed: 308 }, { seed: 1001437 }]) {
    expect({ seed, once: drawOnceClients(seed) !== null }).toEqual({ seed, once: false });
  }
  expect(Array.from({ length: 150 }, (_, i) => drawOnceClients(i + 1)).filter((r) => r !== null).length).toBeGreaterThan(40);
});

test("world sim: no regression seed's clients list keys; many other seeds' do (issue 16 item 3)", () => {
  for (const { seed } of [...regressionSeeds, { seed: 1718321 }, { seed: 308 }, { seed: 1001437 }, { seed: 2408640 }]) {
    expect({ seed, list: drawListClients(seed) !== null }).toEqual({ seed, list: false });
  }
  expect(Array.from({ length: 150 }, (_, i) => drawListClients(i + 1)).filter((r) => r !== null).length).toBeGreaterThan(40);
});

test("world sim: no regression seed has watchers; many other seeds do (issue 16 item 5)", () => {
  for (const { seed } of [...regressionSeeds, { seed: 1718321 }, { seed: 308 }, { seed: 1001437 }, { seed: 2408640 }]) {
    expect({ seed, watchers: drawWatchers(seed) !== null }).toEqual({ seed, watchers: false });
  }
  expect(Array.from({ length: 150 }, (_, i) => drawWatchers(i + 1)).filter((r) => r !== null).length).toBeGreaterThan(40);
});

test("world sim: no regression seed's crashes close connections; a third of other seeds' do (issue 18, early campaign)", () => {
  for (const { seed } of [...regressionSeeds, { seed: 1718321 }, { seed: 308 }, { seed: 1001437 }, { seed: 2408640 }]) {
    expect({ seed, closes: drawClosesOnCrash(seed) }).toEqual({ seed, closes: false });
  }
  expect(Array.from({ length: 150 }, (_, i) => drawClosesOnCrash(i + 1)).filter((b) => b).length).toBeGreaterThan(40);
});

test("world sim: each regression seed draws the targeted nemesis it was found with (none for the older ones)", () => {
  // The targeted nemesis has its own generator and a salt chosen so that seeds found before
  // it existed draw none: their runs are exactly those that caught their defect.
  for (const { seed, targeted } of regressionSeeds) expect({ seed, mode: drawTargetedMode(seed) }).toEqual({ seed, mode: targeted ?? null });
});

test("world sim: some seeds of the default run draw the \"gone\" nemesis (a live leader's connections close; issue 18)", () => {
  // Mutation check when it was added: a lease twice the lease window failed 11 of the 26 such
  // seeds in 1-300 (a level=leader read at the old leader missed the successor's write).
  expect(Array.from({ length: 150 }, (_, i) => drawTargetedMode(i + 1)).filter((m) => m === "gone").length).toBeGreaterThan(10);
});

for (const { seed, catches } of regressionSeeds) {
  test(`world sim regression seed ${seed}: ${catches}`, async () => {
    expect(await runMany([seed])).toEqual([]);
  }, 120_000);
}

test("world sim: no regression seed's clients set TTLs; many other seeds' do (issue 16 item 4)", () => {
  for (const { seed } of [...regressionSeeds, { seed: 1718321 }, { seed: 308 }, { seed: 1001437 }, { seed: 2408640 }]) {
    expect({ seed, ttl: drawTtlClients(seed) !== null }).toEqual({ seed, ttl: false });
  }
  expect(Array.from({ length: 150 }, (_, i) => drawTtlClients(i + 1)).filter((r) => r !== null).length).toBeGreaterThan(40);
});

// A real bug of the node, found by the long run on this session's final world (small WAL
// segments and a graceful stop among its faults): a process exited between renaming a new
// snapshot into place and syncing the snapshots directory; the next process trusted the
// snapshot, its WAL dropped the segments it covered, and a power loss undid the rename, so the
// node could not start ("log: append at 30, expected 1"). Fixed: a start syncs what it trusts
// (raft/snapshots.ts, raft/stable.ts; tests/unit/storage/snapshot_durable_at_start.test.ts).
test("world sim: the snapshot a start trusts is durable before its WAL drops what it covers (seed 1718321)", async () => {
  expect(await runMany([1718321])).toEqual([]);
}, 120_000);

// The leadership nemesis's own bug: a graceful stop that finished after the liveness phase
// began was never restarted, leaving a 3-voter cluster with one live voter.
test("world sim: a node stopped gracefully as the liveness phase begins is restarted (seed 308)", async () => {
  expect(await runMany([308])).toEqual([]);
}, 120_000);

// The simulator's own bug, found by the long run: a lease episode's second step assumed its
// leader still up, and the random nemesis had crashed it ("null is not an object").
test("world sim: a lease episode whose leader crashed between its steps ends cleanly (seed 1001437)", async () => {
  expect(await runMany([1001437])).toEqual([]);
}, 120_000);

// The simulated disk's own bug, found by the long run on issue 18's new install path: its
// mkdirp made a new directory durable without the earlier name changes of its parent (which the
// real Disk's sync of the parent makes durable), so a stale removal of a failed install's
// 2-32.tmp, applied at a later sync, took the next install's 2-32 with it: "log: append at 33,
// expected 1" (tests/unit/storage/sim_disk_mkdirp.test.ts).
test("world sim: a directory made again after an unsynced removal keeps what is renamed from it (seed 2408640)", async () => {
  expect(await runMany([2408640])).toEqual([]);
}, 120_000);

test("world sim: a seed replays exactly (same trace, operations and commits)", async () => {
  for (const seed of [3, 11]) {
    const a = await runWorldSeed(seed);
    const b = await runWorldSeed(seed);
    expect(b.trace).toEqual(a.trace);
    expect({ ...b, trace: [] }).toEqual({ ...a, trace: [] });
  }
}, 120_000);
