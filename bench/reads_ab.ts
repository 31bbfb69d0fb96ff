// Reads of several builds of our node side by side, with what each read cost every member
// (issue 18, linearizable reads against the bare responder): rates move by tens of percent on
// a shared machine, CPU per read and rounds per read much less, so this prints both.
//
//   bun bench/reads_ab.ts [seconds] [repeats] name=binary [name=binary ...]
//   READS_AB_LEVELS=linearizable,stale  READS_AB_CONNECTIONS=64  READS_AB_PORT_BASE=41000
//   READS_AB_DIR=/tmp/me/reads   (data and logs; a new directory under /tmp by default)
//
// One 3-node cluster per build (ports base + 20 × its position: HTTP +0..2, Raft +10..12),
// all up for the whole run, 1,000 keys loaded at each leader. A warm-up run per build and level
// first (the first seconds of a path are the JIT's: a leader's compiler thread spent more on
// them than its main thread did), then wrk at each leader, builds in an order that reverses on
// every repeat. Per run: reads/s and p50/p99; the leader's CPU per read by thread (main, the
// JIT's, the allocator's...), the followers' together; context switches per read (leader,
// followers); ReadIndex batches and timed heartbeat round trips per read and their mean time
// (/metrics: hraftd_read_index_rounds_total and etcd_network_peer_round_trip_time_seconds).
// A round asks one follower (raft/core/read_index.ts roundPeers), so the round trips counted
// are about the rounds started.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { HraftdCluster, type MemberSpec, type ReadKind } from "./clusters.ts";
import { loadAvg } from "./machine.ts";
import { loadKeys } from "./phases.ts";
import { threadCpuDelta, threadsCpu } from "./proc_stats.ts";
import { killAll, killAllOnExit, setRunDirs } from "./procs.ts";
import { runWrk } from "./wrk.ts";

const seconds = Number(process.argv[2] ?? "8");
const repeats = Number(process.argv[3] ?? "3");
const builds = process.argv.slice(4).map((arg) => {
  const at = arg.indexOf("=");
  if (at < 1) throw new Error(`reads_ab: expected name=binary, got ${arg}`);
  return { name: arg.slice(0, at), binary: arg.slice(at + 1) };
});
const levels = (process.env["READS_AB_LEVELS"] ?? "linearizable,stale").split(",") as ReadKind[];
const connections = Number(process.env["READS_AB_CONNECTIONS"] ?? "64");
const portBase = Number(process.env["READS_AB_PORT_BASE"] ?? "41000");

/** CPU seconds (every thread), context switches (every thread) of a process so far. */
function usage(pid: number): { cpu: number; switches: number } {
  let cpu = 0;
  for (const t of threadsCpu(pid)) cpu += t.seconds;
  let switches = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) switches += Number(m[1]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return { cpu, switches };
}

/** The leader's counters of read batches and timed heartbeat round trips (count, seconds). */
async function roundCounters(c: HraftdCluster, i: number): Promise<{ batches: number; trips: number; tripSeconds: number }> {
  const text = await (await fetch(`${c.url(i)}/metrics`)).text();
  const out = { batches: 0, trips: 0, tripSeconds: 0 };
  for (const line of text.split("\n")) {
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (line.startsWith("hraftd_read_index_rounds_total")) out.batches += value;
    else if (line.startsWith("etcd_network_peer_round_trip_time_seconds_count")) out.trips += value;
    else if (line.startsWith("etcd_network_peer_round_trip_time_seconds_sum")) out.tripSeconds += value;
  }
  return out;
}

if (builds.length === 0) throw new Error("usage: bun bench/reads_ab.ts [seconds] [repeats] name=binary [name=binary ...]");
const dir = process.env["READS_AB_DIR"] ?? mkdtempSync("/tmp/hraftd-reads-ab.");
mkdirSync(dir, { recursive: true });
setRunDirs(dir, `${dir}/pids`);
killAllOnExit();
console.log(`reads_ab: ${dir}; ${seconds} s per run, ${repeats} repeats, ${connections} connections, ${levels.join(",")}; load ${loadAvg()}`);

const clusters: { name: string; c: HraftdCluster; leader: number }[] = [];
for (const [k, b] of builds.entries()) {
  const base = portBase + 20 * k;
  const members: MemberSpec[] = [0, 1, 2].map((i) => ({ name: `${b.name}${i}`, clientPort: base + i, peerPort: base + 10 + i, dataDir: `${dir}/${b.name}/${i}` }));
  const c = new HraftdCluster(b.binary, members, b.name);
  await c.startAll();
  const leader = await c.leader();
  if (leader === null) throw new Error(`reads_ab: ${b.name} has no leader`);
  await loadKeys(c, leader, "r-", 1000, 100);
  clusters.push({ name: b.name, c, leader });
}
for (const { name, c, leader } of clusters) {
  for (const level of levels) await runWrk(c.wrkGet(leader, level, "r-", 1000), connections, Math.min(seconds, 5), `${name}-warm-${level}`);
}

for (let rep = 0; rep < repeats; rep++) {
  for (const level of levels) {
    for (const { name, c, leader } of rep % 2 === 0 ? clusters : [...clusters].reverse()) {
      const pids = c.pids();
      const before = pids.map(usage);
      const threadsBefore = threadsCpu(pids[leader]!);
      const countersBefore = await roundCounters(c, leader);
      const w = await runWrk(c.wrkGet(leader, level, "r-", 1000), connections, seconds, `${name}-${level}-${rep}`);
      const after = pids.map(usage);
      const threads = threadCpuDelta(pids[leader]!, threadsBefore, threadsCpu(pids[leader]!));
      const counters = await roundCounters(c, leader);
      const perRead = (x: number): string => (x / w.ok * 1e6).toFixed(1);
      let followerCpu = 0;
      let followerSwitches = 0;
      for (let i = 0; i < pids.length; i++) {
        if (i === leader) continue;
        followerCpu += after[i]!.cpu - before[i]!.cpu;
        followerSwitches += after[i]!.switches - before[i]!.switches;
      }
      const trips = counters.trips - countersBefore.trips;
      const tripUs = trips === 0 ? 0 : (counters.tripSeconds - countersBefore.tripSeconds) / trips * 1e6;
      console.log(
        `${rep} ${name} ${level}: ${w.okPerSec.toFixed(0)}/s p50 ${w.p50Ms.toFixed(2)} p99 ${w.p99Ms.toFixed(2)} ms, errors ${w.errors}` +
          ` | us/read: leader ${perRead(after[leader]!.cpu - before[leader]!.cpu)} (${threads.slice(0, 3).map(([t, s]) => `${t} ${perRead(s)}`).join(", ")})` +
          `, followers ${perRead(followerCpu)}` +
          ` | switches/read: leader ${((after[leader]!.switches - before[leader]!.switches) / w.ok).toFixed(3)}, followers ${(followerSwitches / w.ok).toFixed(3)}` +
          ` | per read: batches ${((counters.batches - countersBefore.batches) / w.ok).toFixed(3)}, round trips ${(trips / w.ok).toFixed(3)} (${tripUs.toFixed(0)} us)` +
          ` | wrk ${(w.clientCpuSeconds / w.seconds).toFixed(2)} cores; load ${loadAvg()}`,
      );
    }
  }
}
for (const { c } of clusters) await c.stopAll();
killAll();
process.exit(0);
