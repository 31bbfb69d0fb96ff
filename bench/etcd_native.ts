// Runs bench/etcd_load (the Go generator that drives etcd through its native gRPC API,
// built by bench/run) and returns its result line as a WrkResult, so its rows sit beside
// wrk's in the same tables.

import type { ReadKind } from "./clusters.ts";
import { spawnTracked } from "./procs.ts";
import type { WrkResult } from "./wrk.ts";

/** What one etcd-load run does: puts of unique keys, or gets of preloaded ones. */
export type NativeOp =
  | { readonly op: "put"; readonly prefix: string; readonly valueBytes: number }
  | { readonly op: "get"; readonly prefix: string; readonly keys: number; readonly kind: ReadKind };

interface NativeJson {
  requests: number;
  errors: number;
  duration_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  cpu_s: number;
}

/**
 * Runs etcd-load at `endpoint` (host:port) for `seconds` with `concurrency` workers, each
 * with one request in flight (as each wrk connection has), sharing `connections` gRPC
 * connections. Request timeout 5 s, as wrk's.
 */
export async function runNative(binary: string, endpoint: string, what: NativeOp, concurrency: number, connections: number, seconds: number, name: string): Promise<WrkResult> {
  const opArgs = what.op === "put"
    ? ["-op", "put", "-prefix", what.prefix, "-value-size", String(what.valueBytes)]
    : ["-op", "get", "-prefix", what.prefix, "-keys", String(what.keys), "-consistency", what.kind === "stale" ? "serializable" : "linearizable"];
  const cmd = [
    binary, "-endpoints", endpoint, ...opArgs, "-concurrency", String(concurrency),
    "-connections", String(connections), "-duration", `${seconds}s`, "-timeout", "5s",
  ];
  const proc = spawnTracked(`native-${name}`, cmd);
  const code = await proc.exited;
  const text = await Bun.file(proc.logPath).text();
  const last = text.split("\n").filter((l) => l.startsWith("BENCHJSON ")).pop();
  if (code !== 0 || last === undefined) throw new Error(`etcd-load failed (exit ${code}); see ${proc.logPath}`);
  const j = JSON.parse(last.slice("BENCHJSON ".length)) as NativeJson;
  const ok = j.requests - j.errors;
  const secs = j.duration_us / 1e6;
  return {
    connections: concurrency,
    seconds: secs,
    ok,
    errors: j.errors,
    okPerSec: ok / secs,
    p50Ms: j.p50_us / 1000,
    p90Ms: j.p90_us / 1000,
    p99Ms: j.p99_us / 1000,
    p999Ms: j.p999_us / 1000,
    maxMs: j.max_us / 1000,
    clientCpuSeconds: j.cpu_s,
  };
}
