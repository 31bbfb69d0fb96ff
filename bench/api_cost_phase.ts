// Phase "api" (issue 16): what a safe retry and a condition cost a write. One 3-node cluster
// of ours, unique-key writes at 16 and 64 connections three ways, order alternating per repeat:
// plain; each with its own Idempotency-Key (the once-only table remembers every one); each with
// If-None-Match: * (a condition checked at apply). Target: both within 10% of plain writes.

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
    await phaseWrites({ ...cfg, connections: cfg.connections.filter((n) => n === 16 || n === 64) }, r, drivers);
  } finally {
    await c.stopAll();
  }
}

/** The api table for RESULTS.md; empty when the phase did not run. */
export function renderApi(r: ApiResults | undefined): string {
  if (r === undefined || r.writes["plain"] === undefined) return "";
  const rows: string[] = [];
  const plain = r.writes["plain"]!;
  for (const conns of Object.keys(plain).map(Number)) {
    const base = plain[conns]!.map((w) => w.okPerSec);
    for (const label of Object.keys(modes)) {
      const rates = (r.writes[label]?.[conns] ?? []).map((w) => w.okPerSec);
      const p99 = (r.writes[label]?.[conns] ?? []).map((w) => w.p99Ms);
      const cpu = r.cpuPerWriteUs[label]?.[conns] ?? [];
      const ratio = median(rates) / median(base);
      const isPlain = label === "plain";
      const met = isPlain || !Number.isFinite(ratio) ? "" : ratio >= 0.9 ? "yes" : "**no**";
      rows.push(`| ${label}, ${conns} conn | ${spread(rates)} | ${spread(p99, 2)} | ${spread(cpu)} | ${isPlain ? "" : ratio.toFixed(2)} | ${isPlain ? "" : "≥ 0.9x"} | ${met} |`);
    }
  }
  return `
## Safe retries and conditions (issue 16, phase api)

Unique-key writes to one 3-node cluster of ours three ways: plain, each with its own
\`Idempotency-Key\`, each with \`If-None-Match: *\`. Target: within 10% of plain writes.

| writes | writes/s | p99 ms | CPU µs per write (3 procs) | /plain | target | met |
|---|---|---|---|---|---|---|
${rows.join("\n")}
`;
}
