// Phase "five" (issue 18): a 5-node cluster of ours beside a 3-node one in the same run,
// unique-key writes (16-byte values) at each connection count, order alternating per repeat.
// Target: the 5-node rate ≥ 0.8x the 3-node rate. The leader of five sends every entry to
// four followers instead of two and waits for two acknowledgements instead of one; on this
// machine the five members also share two cores with wrk, so CPU per write is reported too.

import { HraftdCluster, type Cluster } from "./clusters.ts";
import { cpuSeconds } from "./procs.ts";
import { threadCpuSeconds } from "./proc_stats.ts";
import { type BenchConfig, leaderOf, log, memberSpecs, value16 } from "./phases.ts";
import type { FiveResults } from "./scale_report.ts";
import { runWrk } from "./wrk.ts";

export const threeLabel = "hraftd-3";
export const fiveLabel = "hraftd-5";

export function emptyFiveResults(): FiveResults {
  return { writes: {}, cpuPerWriteUs: {}, leaderMainUsPerWrite: {} };
}

export async function phaseFive(cfg: BenchConfig, r: FiveResults): Promise<void> {
  // Client ports base+0..2 and base+20..24, peer ports 10 above each: no overlap.
  const three = new HraftdCluster(cfg.binary, memberSpecs(cfg, 0, "three", 3), threeLabel);
  const five = new HraftdCluster(cfg.binary, memberSpecs(cfg, 20, "five", 5), fiveLabel);
  const systems: Cluster[] = [three, five];
  try {
    for (const c of systems) await c.startAll(); // joins are serial anyway; one cluster at a time is gentler
    for (const c of systems) {
      await runWrk(c.wrkPut(await leaderOf(c), `warm-${process.pid}`, value16), 64, Math.min(3, cfg.seconds), `${c.label}-warmup`);
      r.writes[c.label] = {};
      r.cpuPerWriteUs[c.label] = {};
      r.leaderMainUsPerWrite[c.label] = {};
    }
    for (let rep = 0; rep < cfg.repeats; rep++) {
      for (const conns of cfg.connections) {
        for (const c of rep % 2 === 0 ? systems : [...systems].reverse()) {
          const l = await leaderOf(c);
          const pids = c.pids();
          const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
          const lpid = c.procs[l]!.pid;
          const main0 = threadCpuSeconds(lpid);
          const w = await runWrk(c.wrkPut(l, `w${process.pid}r${rep}c${conns}`, value16), conns, cfg.seconds, `${c.label}-put-c${conns}`);
          const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0;
          const main = threadCpuSeconds(lpid) - main0;
          (r.writes[c.label]![conns] ??= []).push(w);
          (r.cpuPerWriteUs[c.label]![conns] ??= []).push(w.ok > 0 ? (cpu / w.ok) * 1e6 : Number.NaN);
          (r.leaderMainUsPerWrite[c.label]![conns] ??= []).push(w.ok > 0 ? (main / w.ok) * 1e6 : Number.NaN);
          log(`${c.label} writes c=${conns}: ${w.okPerSec.toFixed(0)}/s p99 ${w.p99Ms.toFixed(2)} ms, errors ${w.errors}, CPU ${((cpu / w.ok) * 1e6).toFixed(0)} µs/write (${pids.length} procs), ` +
            `leader main thread ${((main / w.ok) * 1e6).toFixed(1)} µs/write`);
        }
      }
    }
  } finally {
    await Promise.all(systems.map((c) => c.stopAll()));
  }
}
