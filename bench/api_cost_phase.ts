// Phase "api" (issue 16): what a safe retry and a condition cost a write. One 3-node cluster
// of ours, unique-key writes at 16 and 64 connections three ways: plain; each with its own
// Idempotency-Key (the once-only table remembers every one); each with If-None-Match: * (a
// condition checked at apply). Target: both within 10% of plain writes.
//
// Paired: this machine's write rate drifts by 20-35% within minutes (the disk's fdatasync time
// and the neighbours' CPU), so two medians of three runs each, taken minutes apart, could not
// tell 10% (RESULTS.md's api rows moved ±30% between runs of the same build). Here each repeat
// runs the three ways back to back, the order reversing every repeat (plain, keyed,
// conditional; then conditional, keyed, plain), so each way runs at most one run away from the
// plain run it is compared with; a row's ratio is the median over repeats of its rate / plain's
// within one repeat, and its CPU the median of the differences. More and shorter runs than the
// other phases: a drift slower than a repeat mostly cancels within a pair, and the median of
// more pairs shrugs off the runs a faster swing lands on.
import { HraftdCluster } from "./clusters.ts";
import type { Driver } from "./drivers.ts";
import { type BenchConfig, memberSpecs, phaseWrites, type WriteSink } from "./phases.ts";
import { median, spread } from "./report.ts";
import { runWrk } from "./wrk.ts";

export type ApiResults = WriteSink;

export function emptyApiResults(): ApiResults {
  return { writes: {}, cpuPerWriteUs: {}, cpuCores: {} };
}

/** The modes of bench/lua/put_hraftd.lua, by the label their rows carry. */
const modes = { "plain": "plain", "Idempotency-Key": "once", "If-None-Match: *": "create" } as const;

export async function phaseApi(cfg: BenchConfig, r: ApiResults): Promise<void> {
  const c = new HraftdCluster(cfg.binary, memberSpecs(cfg, 0, "api", 3), "hraftd-api");
  try {
    await c.startAll();
    const drivers: Driver[] = Object.entries(modes).map(([label, mode]) => ({
      label,
      cluster: c,
      // Each way writes keys of its own: a create-only write of a key another way wrote is a 412.
      put: (at, prefix, value, conns, seconds, name) => {
        const t = c.wrkPut(at, `${prefix}-${mode}`, value);
        return runWrk({ ...t, args: [...t.args, mode] }, conns, seconds, name);
      },
      get: () => Promise.reject(new Error("phase api measures writes only")),
    }));
    await phaseWrites({ ...cfg, ...apiRuns(cfg), connections: cfg.connections.filter((n) => n === 16 || n === 64) }, r, drivers);
  } finally {
    await c.stopAll();
  }
}

/** Repeats and seconds of each run: twice the repeats of the other phases, each half as long. */
export function apiRuns(cfg: Pick<BenchConfig, "seconds" | "repeats">): { seconds: number; repeats: number } {
  return { seconds: Math.max(2, Math.round(cfg.seconds / 2)), repeats: Math.max(8, 2 * cfg.repeats) };
}

/**
 * Per repeat, `f(mode's run, plain's run)` of the same repeat (phaseWrites pushes one run per
 * way per repeat, so index i of every way is repeat i); NaN where either is missing.
 */
export function paired<T>(runs: readonly T[], plain: readonly T[], f: (run: T, base: T) => number): number[] {
  return runs.map((run, i) => (plain[i] === undefined ? Number.NaN : f(run, plain[i]!)));
}

/** "median (min–max)": spread's form without its ±%, which means nothing for differences near 0. */
function range(xs: readonly number[], digits: number): string {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return "n/a";
  const f = (x: number): string => x.toFixed(digits);
  return v.length === 1 ? f(v[0]!) : `${f(median(v))} (${f(Math.min(...v))}–${f(Math.max(...v))})`;
}

/** The api table for RESULTS.md; empty when the phase did not run. */
export function renderApi(r: ApiResults | undefined): string {
  if (r === undefined || r.writes["plain"] === undefined) return "";
  const rows: string[] = [];
  const plain = r.writes["plain"]!;
  for (const conns of Object.keys(plain).map(Number)) {
    const base = plain[conns]!;
    const baseCpu = r.cpuPerWriteUs["plain"]?.[conns] ?? [];
    for (const label of Object.keys(modes)) {
      const runs = r.writes[label]?.[conns] ?? [];
      const cpu = r.cpuPerWriteUs[label]?.[conns] ?? [];
      const isPlain = label === "plain";
      const ratios = paired(runs, base, (w, p) => w.okPerSec / p.okPerSec);
      const cpuMore = paired(cpu, baseCpu, (c, p) => c - p);
      const ratio = median(ratios);
      const met = isPlain || !Number.isFinite(ratio) ? "" : ratio >= 0.9 ? "yes" : "**no**";
      const cells = isPlain ? ["", "", "", ""] : [spread(ratios, 2), range(cpuMore, 1), "≥ 0.9x", met];
      rows.push(`| ${label}, ${conns} conn | ${spread(runs.map((w) => w.okPerSec))} | ${spread(runs.map((w) => w.p99Ms), 2)} | ${spread(cpu)} | ${cells.join(" | ")} |`);
    }
  }
  return `
## Safe retries and conditions (issue 16, phase api)

Unique-key writes to one 3-node cluster of ours three ways: plain, each with its own
\`Idempotency-Key\`, each with \`If-None-Match: *\`. Target: within 10% of plain writes.
Paired: each repeat runs the three ways back to back (order reversing every repeat); /plain
is the median over repeats of the way's rate over plain's in the same repeat, and the CPU
column beside it the median of the differences (min–max over repeats in brackets).

| writes | writes/s | p99 ms | CPU µs per write (3 procs) | /plain, paired | CPU µs more than plain, paired | target | met |
|---|---|---|---|---|---|---|---|
${rows.join("\n")}
`;
}
