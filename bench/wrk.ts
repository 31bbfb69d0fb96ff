// Runs wrk against a target with one of the Lua scripts in bench/lua and returns its
// result line (requests, errors, latency percentiles) plus derived rates.

import { join } from "node:path";
import type { WrkTarget } from "./clusters.ts";
import { spawnTracked } from "./procs.ts";

/** One wrk run's outcome; latencies in ms, rates per second of the run's own duration. */
export interface WrkResult {
  readonly connections: number;
  readonly seconds: number;
  /** Responses with a 2xx/3xx status (wrk counts the others in err_status). */
  readonly ok: number;
  readonly errors: number;
  readonly okPerSec: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /**
   * CPU seconds (user + system) of the load generator itself over the run: wrk's whole
   * process, or etcd-load's measured window. Beside the servers' CPU it shows whether the
   * client side had its share of the machine.
   */
  readonly clientCpuSeconds: number;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  err_connect: number;
  err_read: number;
  err_write: number;
  err_status: number;
  err_timeout: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
}

const luaDir = join(import.meta.dirname, "lua");

/** Threads for a run: one for a single connection, else two (the machine has two cores). */
function threadsFor(connections: number): number {
  return connections === 1 ? 1 : 2;
}

/**
 * Runs wrk for `seconds` at `connections` keep-alive connections; request timeout 5 s. The
 * target's headers go in with -H (the scripts merge them into their own headers); an https
 * URL makes wrk speak TLS (it does not verify the server and cannot send a client certificate).
 */
export async function runWrk(target: WrkTarget, connections: number, seconds: number, name: string): Promise<WrkResult> {
  const cmd = [
    "wrk", "-t", String(threadsFor(connections)), "-c", String(connections), "-d", `${seconds}s`,
    "--timeout", "5s", ...(target.headers ?? []).flatMap((h) => ["-H", h]),
    "-s", join(luaDir, target.script), target.url, "--", ...target.args,
  ];
  const proc = spawnTracked(`wrk-${name}`, cmd, { LUA_PATH: `${luaDir}/?.lua;;` });
  const code = await proc.exited;
  const text = await Bun.file(proc.logPath).text();
  const usage = proc.sub.resourceUsage();
  const lines = text.split("\n").filter((l) => l.startsWith("BENCHJSON "));
  const last = lines[lines.length - 1];
  if (code !== 0 || last === undefined) throw new Error(`wrk failed (exit ${code}); see ${proc.logPath}`);
  const j = JSON.parse(last.slice("BENCHJSON ".length)) as WrkJson;
  const errors = j.err_connect + j.err_read + j.err_write + j.err_status + j.err_timeout;
  const ok = j.requests - j.err_status;
  const secs = j.duration_us / 1e6;
  return {
    connections,
    seconds: secs,
    ok,
    errors,
    okPerSec: ok / secs,
    p50Ms: j.p50_us / 1000,
    p90Ms: j.p90_us / 1000,
    p99Ms: j.p99_us / 1000,
    p999Ms: j.p999_us / 1000,
    maxMs: j.max_us / 1000,
    clientCpuSeconds: usage === undefined ? Number.NaN : Number(usage.cpuTime.total) / 1e6,
  };
}
