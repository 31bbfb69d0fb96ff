// Write latency of two builds (or two environments) of our node, side by side in one
// invocation: the before/after of a change to the tail (issue 18, item 3).
//
//   TAIL_A_BINARY=/tmp/before TAIL_B_BINARY=dist/hraftd-linux-x64 bun bench/tail_ab.ts [seconds] [repeats]
//   TAIL_A_ENV="BUN_GC_TIMER_DISABLE=1" …   (environment of every member of A, "K=V,K=V")
//   TAIL_DIR=/tmp/me …   (where the run directory goes; /var/tmp by default)
//
// Two 3-node clusters on loopback (ports TAIL_PORT_BASE.., default 36200), both up for the
// whole run; writes of unique keys at each one's leader at 1, 16 and 64 connections, the two
// taking turns in an order that alternates between repeats. Prints every run and, per
// connection count, the median over repeats of throughput, p50, p90, p99, p99.9, max and CPU per
// acknowledged write (utime + stime of all three members over the run, from /proc).

import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { HraftdCluster, type MemberSpec } from "./clusters.ts";
import { loadAvg } from "./machine.ts";
import { cpuSeconds, killAll, killAllOnExit, setRunDirs, sleep } from "./procs.ts";
import { formatTail, type TailResult, tailWrites } from "./tail_wrk.ts";

const seconds = Number(process.argv[2] ?? "5");
const repeats = Number(process.argv[3] ?? "3");
const connections = (process.env["TAIL_CONNECTIONS"] ?? "1,16,64").split(",").map(Number);
const portBase = Number(process.env["TAIL_PORT_BASE"] ?? "36200");
const defaultBinary = join(import.meta.dirname, "../dist/hraftd-linux-x64");

function parseEnv(text: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of (text ?? "").split(",").filter((s) => s !== "")) {
    const at = kv.indexOf("=");
    env[kv.slice(0, at)] = kv.slice(at + 1);
  }
  return env;
}

class EnvCluster extends HraftdCluster {
  constructor(binary: string, members: MemberSpec[], label: string, readonly env: Record<string, string>) {
    super(binary, members, label);
  }

  protected override memberEnv(): Record<string, string> {
    return this.env;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env["TAIL_DIR"] ?? "/var/tmp", "h18-tail-ab."));
  setRunDirs(dir, join(dir, "pids"));
  killAllOnExit();
  const systems = (["A", "B"] as const).map((name, k) => {
    const binary = process.env[`TAIL_${name}_BINARY`] ?? defaultBinary;
    const env = parseEnv(process.env[`TAIL_${name}_ENV`]);
    const members: MemberSpec[] = [0, 1, 2].map((i) => ({
      name: `n${i}`, clientPort: portBase + 50 * k + i, peerPort: portBase + 50 * k + 10 + i, dataDir: join(dir, name, `n${i}`),
    }));
    console.log(`${name}: ${binary} ${JSON.stringify(env)}`);
    return new EnvCluster(binary, members, name, env);
  });
  console.log(`tail_ab: ${dir}; ${seconds} s per run, ${repeats} repeats, connections ${connections.join(",")}; load ${loadAvg()}`);
  for (const c of systems) await c.startAll();
  const leaders = await Promise.all(systems.map((c) => c.leader()));
  for (const [k, c] of systems.entries()) await tailWrites(c.url(leaders[k] ?? 0), 64, 3, `warm${k}`, `${c.label}-warm`);
  const results = new Map<string, TailResult[]>();
  const cpuPerWrite = new Map<string, number[]>();
  for (let rep = 0; rep < repeats; rep++) {
    for (const conns of connections) {
      const order = rep % 2 === 0 ? systems : [...systems].reverse();
      for (const c of order) {
        const l = (await c.leader()) ?? 0;
        const cpuBefore = c.pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0);
        const r = await tailWrites(c.url(l), conns, seconds, `r${rep}c${conns}`, `${c.label}-r${rep}-c${conns}`);
        // All members' utime + stime over the acknowledged writes (the steadier figure on a shared machine).
        const cpuUs = ((c.pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpuBefore) / (r.perSec * seconds)) * 1e6;
        console.log(`${c.label} rep ${rep} ${formatTail(r)}; cluster CPU ${cpuUs.toFixed(1)} us/write; load ${loadAvg()}`);
        const key = `${c.label} ${conns}`;
        results.set(key, [...(results.get(key) ?? []), r]);
        cpuPerWrite.set(key, [...(cpuPerWrite.get(key) ?? []), cpuUs]);
        await sleep(300);
      }
    }
  }
  console.log(`\nmedians over ${repeats} repeats (ms; load now ${loadAvg()}):`);
  console.log("sys  conns   writes/s    p50    p90    p99  p99.9    max  CPU us/write");
  for (const conns of connections) {
    for (const c of systems) {
      const rs = results.get(`${c.label} ${conns}`)!;
      const m = (f: (r: TailResult) => number): string => median(rs.map(f)).toFixed(2).padStart(6);
      console.log(`${c.label}    ${String(conns).padStart(5)} ${median(rs.map((r) => r.perSec)).toFixed(0).padStart(10)} ${m((r) => r.p50)} ${m((r) => r.p90)} ${m((r) => r.p99)} ${m((r) => r.p999)} ${m((r) => r.max)} ${median(cpuPerWrite.get(`${c.label} ${conns}`)!).toFixed(1).padStart(13)}`);
    }
  }
  await Promise.all(systems.map((c) => c.stopAll()));
}

await main().finally(killAll);
