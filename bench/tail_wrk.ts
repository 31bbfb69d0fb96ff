// wrk with bench/lua/put_tail.lua: unique-key writes at one member, with p50/p90/p99/p99.9,
// for the tail-latency tools (bench/stall_trace.ts, bench/tail_ab.ts).

import { join } from "node:path";
import { spawnTracked } from "./procs.ts";

/** One run's outcome; latencies in ms. */
export interface TailResult {
  readonly connections: number;
  readonly perSec: number;
  readonly errors: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

const luaDir = join(import.meta.dirname, "lua");

/** `seconds` of writes at `url` over `connections` keep-alive connections (two threads past one). */
export async function tailWrites(url: string, connections: number, seconds: number, prefix: string, name: string): Promise<TailResult> {
  const cmd = [
    "wrk", "-t", connections === 1 ? "1" : "2", "-c", String(connections), "-d", `${seconds}s`, "--timeout", "5s",
    "-s", join(luaDir, "put_tail.lua"), url, "--", prefix, "v".repeat(16),
  ];
  const proc = spawnTracked(`wrk-${name}`, cmd, { LUA_PATH: `${luaDir}/?.lua;;` });
  const code = await proc.exited;
  const line = (await Bun.file(proc.logPath).text()).split("\n").findLast((l) => l.startsWith("TAILJSON "));
  if (code !== 0 || line === undefined) throw new Error(`wrk failed (exit ${code}); see ${proc.logPath}`);
  const j = JSON.parse(line.slice("TAILJSON ".length)) as Record<string, number>;
  const ms = (k: string): number => j[k]! / 1000;
  return {
    connections,
    perSec: (j["requests"]! - j["errors"]!) / (j["duration_us"]! / 1e6),
    errors: j["errors"]!,
    p50: ms("p50_us"),
    p90: ms("p90_us"),
    p99: ms("p99_us"),
    p999: ms("p999_us"),
    max: ms("max_us"),
  };
}

/** "c=16 5234/s p50 1.20 p90 … ms". */
export function formatTail(r: TailResult): string {
  const f = (x: number): string => x.toFixed(2);
  return `c=${r.connections} ${r.perSec.toFixed(0)}/s p50 ${f(r.p50)} p90 ${f(r.p90)} p99 ${f(r.p99)} p99.9 ${f(r.p999)} max ${f(r.max)} ms` +
    (r.errors > 0 ? ` errors ${r.errors}` : "");
}
