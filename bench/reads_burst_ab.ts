// Are reads slower on a node that has just taken a write burst and holds millions of keys?
// (issue 18: the reads phase runs on the cluster the writes phase filled.) Two 3-node clusters
// of one build up at once: "burst" takes phaseWrites' load (wrk at 1/16/64/256 connections,
// 3 repeats of 10 s) and is topped up to READS_BURST_KEYS keys; "fresh" holds only the 1,000
// keys read. Then reads at 64 connections alternate between them and the bare responder,
// round after round in an order that reverses, so both see the same machine: reads/s, the
// leader's CPU per read by thread, the followers' CPU per read.
//
//   bun bench/reads_burst_ab.ts <binary> [seconds] [rounds]
//   READS_BURST_KEYS=2000000  READS_BURST_PORT_BASE=41500  READS_BURST_DIR=/tmp/me/burst
//   READS_BURST_BARE=<compiled bare_responder> (else `bun bench/bare_responder.ts`)

import { mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { HraftdCluster, type MemberSpec, type ReadKind } from "./clusters.ts";
import { loadAvg } from "./machine.ts";
import { loadKeys, value16 } from "./phases.ts";
import { threadCpuDelta, threadsCpu } from "./proc_stats.ts";
import { cpuSeconds, killAll, killAllOnExit, rssBytes, setRunDirs, spawnTracked, waitUntil } from "./procs.ts";
import { runWrk } from "./wrk.ts";

const binary = process.argv[2];
if (binary === undefined) throw new Error("usage: bun bench/reads_burst_ab.ts <binary> [seconds] [rounds]");
const seconds = Number(process.argv[3] ?? "8");
const rounds = Number(process.argv[4] ?? "6");
const keysTotal = Number(process.env["READS_BURST_KEYS"] ?? "2000000");
const portBase = Number(process.env["READS_BURST_PORT_BASE"] ?? "41500");
const dir = process.env["READS_BURST_DIR"] ?? mkdtempSync("/tmp/hraftd-reads-burst.");
mkdirSync(dir, { recursive: true });
setRunDirs(dir, `${dir}/pids`);
killAllOnExit();
const stamp = (): string => new Date().toISOString().slice(11, 19);
const mib = (pids: number[]): string => pids.map((p) => (rssBytes(p) / 2 ** 20).toFixed(0)).join(",");

async function cluster(name: string, base: number): Promise<{ name: string; c: HraftdCluster; leader: number }> {
  const members: MemberSpec[] = [0, 1, 2].map((i) => ({ name: `${name}${i}`, clientPort: base + i, peerPort: base + 10 + i, dataDir: `${dir}/${name}/${i}` }));
  const c = new HraftdCluster(binary!, members, name);
  await c.startAll();
  const leader = (await c.leader())!;
  await loadKeys(c, leader, "r-", 1000, 100);
  return { name, c, leader };
}
type Target = Awaited<ReturnType<typeof cluster>>;

const burst = await cluster("burst", portBase);
const fresh = await cluster("fresh", portBase + 20);
const barePort = portBase + 40;
const bareCmd = process.env["READS_BURST_BARE"] !== undefined
  ? [process.env["READS_BURST_BARE"]!, String(barePort)]
  : [process.execPath, join(import.meta.dirname, "bare_responder.ts"), String(barePort)];
const bare = spawnTracked("bare", bareCmd);
await waitUntil(async () => (await fetch(`http://127.0.0.1:${barePort}/`).catch(() => null))?.ok === true, 10_000, 10);
console.log(`reads_burst_ab: ${dir}; ${seconds} s per run, ${rounds} rounds; load ${loadAvg()}`);

// The writes phase's load, then keys in batches up to the total.
let written = 0;
await runWrk(burst.c.wrkPut(burst.leader, "warm-", value16), 64, 3, "put-warm");
for (let rep = 0; rep < 3; rep++) {
  for (const conns of [1, 16, 64, 256]) written += (await runWrk(burst.c.wrkPut(burst.leader, `w${rep}c${conns}-`, value16), conns, 10, `put-${rep}-${conns}`)).ok;
}
if (keysTotal > written) await loadKeys(burst.c, burst.leader, "top-", keysTotal - written, 100);
console.log(`${stamp()} burst: ${written} keys by wrk, ${Math.max(keysTotal, written)} in all; RSS MiB burst ${mib(burst.c.pids())}, fresh ${mib(fresh.c.pids())}`);

async function read(t: Target | null, level: ReadKind, tag: string, secs = seconds): Promise<void> {
  if (t === null) {
    const c0 = cpuSeconds(bare.pid);
    const w = await runWrk({ url: `http://127.0.0.1:${barePort}`, script: "get_hraftd.lua", args: ["r-", "1000", "stale"] }, 64, secs, `${tag}-bare`);
    console.log(`${stamp()} ${tag} bare ${w.okPerSec.toFixed(0)}/s p50 ${w.p50Ms.toFixed(2)} | server ${((cpuSeconds(bare.pid) - c0) / w.ok * 1e6).toFixed(1)} us/read | load ${loadAvg()}`);
    return;
  }
  const pids = t.c.pids();
  const lp = pids[t.leader]!;
  const followers = pids.filter((p) => p !== lp);
  const before = threadsCpu(lp);
  const f0 = followers.map(cpuSeconds);
  const w = await runWrk(t.c.wrkGet(t.leader, level, "r-", 1000), 64, secs, `${tag}-${t.name}-${level}`);
  const byThread = threadCpuDelta(lp, before, threadsCpu(lp));
  const leaderCpu = byThread.reduce((s, [, v]) => s + v, 0);
  const followerCpu = followers.reduce((s, p, i) => s + cpuSeconds(p) - f0[i]!, 0);
  const us = (x: number): string => ((x / w.ok) * 1e6).toFixed(1);
  console.log(`${stamp()} ${tag} ${t.name} ${level}: ${w.okPerSec.toFixed(0)}/s p50 ${w.p50Ms.toFixed(2)} | leader ${us(leaderCpu)} us/read ` +
    `(${byThread.slice(0, 3).map(([n, v]) => `${n} ${us(v)}`).join(", ")}), followers ${us(followerCpu)} | load ${loadAvg()}`);
}

// A warm-up of each (a path's first seconds are the JIT's), then the rounds.
for (const t of [burst, fresh]) for (const level of ["linearizable", "stale"] as const) await read(t, level, "warm", 3);
const order: [Target | null, ReadKind][] = [[burst, "linearizable"], [fresh, "linearizable"], [null, "stale"], [burst, "stale"], [fresh, "stale"]];
for (let r = 0; r < rounds; r++) {
  const swapped = order.map(([t, l]): [Target | null, ReadKind] => [t === burst ? fresh : t === fresh ? burst : null, l]).reverse();
  for (const [t, level] of r % 2 === 0 ? order : swapped) await read(t, level, `r${r}`);
}
killAll();
process.exit(0);
