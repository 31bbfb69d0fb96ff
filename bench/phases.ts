// The measurements of one run, phase by phase: start-up and single-node first write,
// write throughput with CPU per write, reads beside a bare Bun responder, leader failover,
// and memory, disk and restart time of nodes holding many keys.

import { EtcdCluster, HraftdCluster, type Cluster, type MemberSpec, timeToFirstWrite, timeToServe } from "./clusters.ts";
import { asDriver, type Driver } from "./drivers.ts";
import { cpuSeconds, dirBytes, rssBytes, sleep, spawnTracked, stopProc, waitUntil } from "./procs.ts";
import type { Results } from "./report.ts";
import { runWrk } from "./wrk.ts";
import { emptyPauseResults, phaseSnapshotPauses } from "./snapshot_pause_phase.ts";

/** Knobs of a run (from the environment; see bench/run). */
export interface BenchConfig {
  readonly dir: string;
  readonly binary: string;
  readonly bare: string;
  readonly portBase: number;
  readonly seconds: number;
  readonly repeats: number;
  readonly failovers: number;
  readonly keys: number;
  readonly connections: readonly number[];
}

/** 16 bytes, the value of every benchmark write. */
export const value16 = "value-0123456789";

let generation = 0;

/** Members `${prefix}0..size-1`: client ports at base+offset+i, peer ports 10 above, fresh data dirs. */
export function memberSpecs(cfg: BenchConfig, offset: number, prefix: string, size: number): MemberSpec[] {
  generation++;
  return Array.from({ length: size }, (_, i) => ({
    name: `${prefix}${i}`,
    clientPort: cfg.portBase + offset + i,
    peerPort: cfg.portBase + offset + 10 + i,
    dataDir: `${cfg.dir}/data/g${generation}-${prefix}${i}`,
  }));
}

/** A fresh pair of 3-node clusters, each in new data directories. */
export function makeClusters(cfg: BenchConfig, size = 3): { ours: HraftdCluster; etcd: EtcdCluster } {
  const specs = (offset: number, prefix: string): MemberSpec[] => memberSpecs(cfg, offset, prefix, size);
  return {
    ours: new HraftdCluster(cfg.binary, specs(0, "node")),
    etcd: new EtcdCluster(specs(20, "etcd"), `bench-${process.pid}-${generation}`),
  };
}

export function log(text: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

/** Spawn → first answer on `url`, polled every 2 ms; ms, or null after 20 s. */
async function timeToHttp(name: string, cmd: string[], url: string): Promise<number | null> {
  const t0 = performance.now();
  const proc = spawnTracked(name, cmd);
  const ok = await waitUntil(async () => (await fetch(url, { signal: AbortSignal.timeout(500) })).status > 0, 20_000, 2);
  const ms = performance.now() - t0;
  await stopProc(proc);
  return ok ? ms : null;
}

/** Start-up of our binary and of the bare Bun binary, and single-node start → first write. */
export async function phaseStart(cfg: BenchConfig, r: Results): Promise<void> {
  const port = cfg.portBase + 40;
  r.startupMs = { hraftd: [], bare: [] };
  r.singleStartMs = { hraftd: [], etcd: [] };
  for (let k = 0; k < Math.max(cfg.repeats, 5); k++) {
    const dir = `${cfg.dir}/data/startup-${k}`;
    r.startupMs["hraftd"]!.push(await timeToHttp("startup-hraftd", [cfg.binary, "-id", "s", "-haddr", `127.0.0.1:${port}`, "-raddr", `127.0.0.1:${port + 1}`, dir], `http://127.0.0.1:${port}/status`));
    r.startupMs["bare"]!.push(await timeToHttp("startup-bare", [cfg.bare, String(port)], `http://127.0.0.1:${port}/`));
  }
  log(`start-up to first HTTP answer: ours ${r.startupMs["hraftd"]!.map((x) => x?.toFixed(0)).join(", ")} ms; bare Bun ${r.startupMs["bare"]!.map((x) => x?.toFixed(0)).join(", ")} ms`);
  for (let k = 0; k < cfg.repeats; k++) {
    for (const c of Object.values(makeClusters(cfg, 1))) {
      const t0 = performance.now();
      c.spawn(0);
      r.singleStartMs[c.label]!.push(await timeToFirstWrite(c, [0], t0, 20_000, 5, 4));
      await c.stopAll();
    }
  }
  log(`single node start → first write: ours ${r.singleStartMs["hraftd"]!.map((x) => x?.toFixed(0)).join(", ")} ms; etcd ${r.singleStartMs["etcd"]!.map((x) => x?.toFixed(0)).join(", ")} ms`);
}

export async function leaderOf(c: Cluster): Promise<number> {
  let leader: number | null = null;
  await waitUntil(async () => (leader = await c.leader()) !== null, 20_000, 50);
  if (leader === null) throw new Error(`${c.label}: no leader`);
  return leader;
}

/** Where phaseWrites puts its measurements (the main results, or the TLS phase's). */
export type WriteSink = Pick<Results, "writes" | "cpuPerWriteUs" | "cpuCores">;

/**
 * Unique-key writes at each connection count, alternating the systems' order across repeats,
 * with CPU per write. A system is a cluster (driven by wrk) or a driver (for example etcd's
 * native gRPC client beside its gateway on the same cluster); rows are keyed by its label.
 */
export async function phaseWrites(cfg: BenchConfig, r: WriteSink, systems: readonly (Cluster | Driver)[]): Promise<void> {
  const drivers = systems.map(asDriver);
  for (const d of drivers) {
    const l = await leaderOf(d.cluster);
    await d.put(l, `warm-${process.pid}`, value16, 64, Math.min(3, cfg.seconds), `${d.label}-warmup`);
    r.writes[d.label] = {};
    r.cpuPerWriteUs[d.label] = {};
    r.cpuCores[d.label] = {};
  }
  for (let rep = 0; rep < cfg.repeats; rep++) {
    for (const conns of cfg.connections) {
      const order = rep % 2 === 0 ? drivers : [...drivers].reverse();
      for (const d of order) {
        const c = d.cluster;
        const l = await leaderOf(c);
        const pids = c.pids();
        const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
        const w = await d.put(l, `w${process.pid}r${rep}c${conns}`, value16, conns, cfg.seconds, `${d.label}-put-c${conns}`);
        const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0;
        (r.writes[d.label]![conns] ??= []).push(w);
        (r.cpuPerWriteUs[d.label]![conns] ??= []).push(w.ok > 0 ? (cpu / w.ok) * 1e6 : Number.NaN);
        (r.cpuCores[d.label]![conns] ??= []).push(cpu / w.seconds);
        log(`${d.label} writes c=${conns}: ${w.okPerSec.toFixed(0)}/s p50 ${w.p50Ms.toFixed(2)} ms p99 ${w.p99Ms.toFixed(2)} ms ` +
          `p99.9 ${w.p999Ms.toFixed(2)} ms, errors ${w.errors}, CPU ${((cpu / w.ok) * 1e6).toFixed(0)} µs/write ` +
          `(servers ${(cpu / w.seconds).toFixed(2)} cores, client ${(w.clientCpuSeconds / w.seconds).toFixed(2)} cores)`);
      }
    }
  }
}

/** Writes `count` keys `${prefix}${i}` = value16 at member `at`, `batch` per request, 64 in flight. */
export async function loadKeys(c: Cluster, at: number, prefix: string, count: number, batch: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const from = next;
      next = Math.min(count, next + batch);
      const pairs = Array.from({ length: next - from }, (_, j) => [`${prefix}${from + j}`, value16] as const);
      let ok = false;
      for (let attempt = 0; attempt < 5 && !ok; attempt++) ok = await c.writeMany(at, pairs, 10_000);
      if (!ok) throw new Error(`${c.label}: loading keys ${from}.. failed`);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}

/**
 * Reads at 64 connections: ours and etcd (through wrk, and through each extra driver such as
 * etcd's native gRPC client) at both levels, and the bare Bun responder; the order reverses
 * on every other repeat.
 */
/** Seconds of the unrecorded warm-up run each read target gets (see phaseReads). */
const readsWarmSeconds = 3;

export async function phaseReads(cfg: BenchConfig, r: Results, ours: Cluster, etcd: Cluster, extra: readonly Driver[] = []): Promise<void> {
  for (const c of [ours, etcd]) await loadKeys(c, await leaderOf(c), "r-", 1000, 100);
  const barePort = cfg.portBase + 50;
  const bare = spawnTracked("bare-responder", [cfg.bare, String(barePort)]);
  await waitUntil(async () => (await fetch(`http://127.0.0.1:${barePort}/`)).ok, 10_000, 10);
  const targets = [
    { key: "bare", run: (seconds: number) => runWrk({ url: `http://127.0.0.1:${barePort}`, script: "get_hraftd.lua", args: ["r-", "1000", "stale"] }, 64, seconds, "get-bare") },
    ...[...[ours, etcd].map(asDriver), ...extra].flatMap((d) => (["linearizable", "stale"] as const).map((kind) => ({
      key: `${d.label}-${kind}`,
      run: async (seconds: number) => d.get(await leaderOf(d.cluster), kind, "r-", 1000, 64, seconds, `get-${d.label}-${kind}`),
    }))),
  ];
  // One unrecorded run of each first: the writes before this phase warmed the write path
  // only, and a fresh read path spends its first seconds compiling (a leader's JIT threads
  // took ~33 us per linearizable read for the first 5 s, then 1-3), which is start-up, not
  // the steady rate measured here. Every target gets the same warm-up.
  for (const t of targets) await t.run(Math.min(readsWarmSeconds, cfg.seconds));
  for (let rep = 0; rep < cfg.repeats; rep++) {
    for (const t of rep % 2 === 0 ? targets : [...targets].reverse()) {
      const w = await t.run(cfg.seconds);
      (r.reads[t.key] ??= []).push(w);
      log(`reads ${t.key} c=64: ${w.okPerSec.toFixed(0)}/s p50 ${w.p50Ms.toFixed(2)} ms p99 ${w.p99Ms.toFixed(2)} ms ` +
        `p99.9 ${w.p999Ms.toFixed(2)} ms, errors ${w.errors}, client ${(w.clientCpuSeconds / w.seconds).toFixed(2)} cores`);
    }
  }
  r.rssEmptyBytes["bare"] = [rssBytes(bare.pid)];
  await stopProc(bare);
}

/** SIGKILL the leader, time to a write acknowledged by a survivor; restart it; `failovers` times. */
export async function phaseFailover(cfg: BenchConfig, r: Results, systems: readonly Cluster[]): Promise<void> {
  for (const c of systems) {
    r.failoverMs[c.label] = [];
    for (let k = 0; k < cfg.failovers; k++) {
      const l = await leaderOf(c);
      const survivors = c.running().filter((i) => i !== l);
      const t0 = performance.now();
      const killed = c.stop(l, "SIGKILL");
      const ms = await timeToFirstWrite(c, survivors, t0, 20_000);
      await killed;
      r.failoverMs[c.label]!.push(ms);
      log(`${c.label} failover ${k + 1}: ${ms === null ? "no write within 20 s" : `${ms.toFixed(0)} ms`}`);
      c.spawn(l);
      const key = `after-failover-${k}`;
      await waitUntil(() => c.write(survivors[0]!, key, value16), 20_000, 50);
      if ((await timeToServe(c, l, key, value16, performance.now(), 30_000)) === null) throw new Error(`${c.label}: restarted member ${l} never caught up`);
      await sleep(1_500); // let the restarted member settle before the next kill
    }
  }
}

/** How long after a load the resident memory is first read (see phaseKeys). */
const rssSettleMs = 10_000;
/** Longest wait after a load for every member's resident memory to stop moving (see settledRss). */
const rssSettleMaxMs = 60_000;
/** Readings a second apart, and how little they may move, for memory to count as settled. */
const rssSteadyReadings = 5;
const rssSteadyShare = 0.02;

/**
 * Every member's resident memory once it has settled: read each second from `rssSettleMs`
 * after the load until, over the last `rssSteadyReadings` readings, no member's moved by more
 * than `rssSteadyShare` (or `rssSettleMaxMs` passed); the last readings are the result. The
 * same rule for every system. A fixed 10 s was not enough for ours: on an idle machine a member
 * sometimes still held the load's garbage at +10 s and dropped to its settled size by +18 s
 * (JavaScriptCore frees old garbage only at a full collection), which made the row measure
 * when that collection came rather than what holding the keys costs.
 */
async function settledRss(c: Cluster): Promise<{ bytes: number[]; afterMs: number }> {
  const t0 = performance.now();
  await sleep(rssSettleMs);
  const readings: number[][] = [c.pids().map(rssBytes)];
  const steady = (): boolean => {
    if (readings.length < rssSteadyReadings) return false;
    const last = readings.slice(-rssSteadyReadings);
    return last[0]!.every((_, m) => {
      const each = last.map((r) => r[m]!);
      return Math.max(...each) - Math.min(...each) <= rssSteadyShare * Math.max(...each);
    });
  };
  while (!steady() && performance.now() - t0 < rssSettleMaxMs) {
    await sleep(1_000);
    readings.push(c.pids().map(rssBytes));
  }
  return { bytes: readings.at(-1)!, afterMs: performance.now() - t0 };
}

/**
 * One fresh cluster at a time (at ten million keys both side by side would not fit in memory):
 * start it, RSS empty, load `keys` keys, RSS and data dir per node, follower restarts, then
 * (ours) the event-loop pauses of snapshots and installs at that size; stop it.
 */
export async function phaseKeys(cfg: BenchConfig, r: Results, systems: readonly Cluster[]): Promise<void> {
  const lastKey = `key-${cfg.keys - 1}`;
  for (const c of systems) {
    await c.startAll();
    r.rssEmptyBytes[c.label] = c.pids().map(rssBytes);
    const t0 = performance.now();
    // 100 pairs a request (one entry, one etcd txn of 100 puts: etcd's limit is 128).
    await loadKeys(c, await leaderOf(c), "key-", cfg.keys, 100);
    log(`${c.label}: loaded ${cfg.keys} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await waitUntil(async () => (await Promise.all(c.running().map((i) => c.read(i, lastKey, "stale")))).every((v) => v === value16), 120_000, 100);
    // Resident memory once it has settled: both runtimes hand freed pages back to the OS
    // some seconds after a burst (Go's scavenger, JavaScriptCore's collector), so an
    // instant reading measures the load's garbage rather than what holding the keys costs.
    const settled = await settledRss(c);
    r.rssBytes[c.label] = settled.bytes;
    log(`${c.label}: resident memory settled ${(settled.afterMs / 1000).toFixed(0)} s after the load: ${settled.bytes.map((b) => (b / 2 ** 20).toFixed(0)).join(", ")} MiB`);
    r.dataBytes[c.label] = c.members.map((m) => dirBytes(m.dataDir));
    r.restartMs[c.label] = [];
    for (let k = 0; k < cfg.repeats; k++) {
      const l = await leaderOf(c);
      const i = c.running().filter((x) => x !== l)[k % (c.size - 1)]!;
      await c.stop(i, "SIGTERM");
      const t1 = performance.now();
      c.spawn(i);
      const ms = await timeToServe(c, i, lastKey, value16, t1, 300_000);
      r.restartMs[c.label]!.push(ms);
      log(`${c.label}: restart of ${c.members[i]!.name} holding ${cfg.keys} keys → serves in ${ms?.toFixed(0) ?? "(never)"} ms`);
      await sleep(1_000);
    }
    if (c instanceof HraftdCluster) await phaseSnapshotPauses(c, cfg.keys, cfg.repeats, (r.pauses = emptyPauseResults(cfg.keys)));
    await c.stopAll();
  }
}
