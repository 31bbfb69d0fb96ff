// Phase "ceiling" (issue 18, item 4): a node runs Raft, HTTP and its map on one JavaScript
// thread. Writes to a 3-node cluster of ours at each connection count, reading the leader's
// main thread (/proc/<pid>/task/<pid>/stat) apart from the whole leader process and the
// cluster. The main thread's CPU per write bounds the leader's rate wherever it can have a
// core to itself: ceiling = 1 s / (main-thread CPU per write). How busy the main thread was
// (1.0 = one core) says whether this machine reached that bound or ran out of cores first.
// Stale reads at the leader (64 connections) measure the same thread's cost of a request
// that is only HTTP and a map lookup: about what worker threads could take off it per write.

import { HraftdCluster } from "./clusters.ts";
import { cpuSeconds } from "./procs.ts";
import { type BenchConfig, leaderOf, loadKeys, log, memberSpecs, value16 } from "./phases.ts";
import { threadCpuDelta, threadCpuSeconds, threadsCpu } from "./proc_stats.ts";
import type { CeilingResults } from "./scale_report.ts";
import { runWrk } from "./wrk.ts";

export function emptyCeilingResults(): CeilingResults {
  return { writes: {}, mainUsPerWrite: {}, leaderUsPerWrite: {}, clusterUsPerWrite: {}, mainBusy: {}, threads: {}, staleReads: [], mainUsPerStaleRead: [] };
}

export async function phaseCeiling(cfg: BenchConfig, r: CeilingResults): Promise<void> {
  const c = new HraftdCluster(cfg.binary, memberSpecs(cfg, 0, "node", 3), "hraftd-ceiling");
  try {
    await c.startAll();
    await runWrk(c.wrkPut(await leaderOf(c), `warm-${process.pid}`, value16), 64, Math.min(3, cfg.seconds), "ceiling-warmup");
    for (let rep = 0; rep < cfg.repeats; rep++) {
      for (const conns of cfg.connections) {
        const l = await leaderOf(c);
        const lpid = c.procs[l]!.pid;
        const pids = c.pids();
        const all0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
        const lead0 = cpuSeconds(lpid);
        const main0 = threadCpuSeconds(lpid);
        const threads0 = threadsCpu(lpid);
        const w = await runWrk(c.wrkPut(l, `c${process.pid}r${rep}c${conns}`, value16), conns, cfg.seconds, `ceiling-put-c${conns}`);
        const main = threadCpuSeconds(lpid) - main0;
        const lead = cpuSeconds(lpid) - lead0;
        const all = pids.reduce((s, p) => s + cpuSeconds(p), 0) - all0;
        const per = (x: number): number => (w.ok > 0 ? (x / w.ok) * 1e6 : Number.NaN);
        (r.writes[conns] ??= []).push(w);
        (r.mainUsPerWrite[conns] ??= []).push(per(main));
        (r.leaderUsPerWrite[conns] ??= []).push(per(lead));
        (r.clusterUsPerWrite[conns] ??= []).push(per(all));
        (r.mainBusy[conns] ??= []).push(main / w.seconds);
        // The last repeat's split of the leader's CPU over its threads, by thread name.
        r.threads[conns] = threadCpuDelta(lpid, threads0, threadsCpu(lpid)).map(([name, s]) => [name, per(s)]);
        log(`ceiling c=${conns}: ${w.okPerSec.toFixed(0)} writes/s; leader main thread ${per(main).toFixed(1)} µs/write ` +
          `(${(main / w.seconds).toFixed(2)} of a core), leader process ${per(lead).toFixed(1)}, 3 procs ${per(all).toFixed(1)} µs/write; ` +
          `ceiling ${(1e6 / per(main)).toFixed(0)}/s`);
      }
      const l = await leaderOf(c);
      const lpid = c.procs[l]!.pid;
      if (rep === 0) await loadKeys(c, l, "r-", 1000, 100);
      const main0 = threadCpuSeconds(lpid);
      const w = await runWrk(c.wrkGet(l, "stale", "r-", 1000), 64, cfg.seconds, "ceiling-stale-c64");
      const us = w.ok > 0 ? ((threadCpuSeconds(lpid) - main0) / w.ok) * 1e6 : Number.NaN;
      r.staleReads.push(w);
      r.mainUsPerStaleRead.push(us);
      log(`ceiling stale reads c=64: ${w.okPerSec.toFixed(0)}/s; leader main thread ${us.toFixed(1)} µs/read`);
    }
  } finally {
    await c.stopAll();
  }
}
