// What do request metrics cost a hot request? The server's fetch handler (fast path + Hono,
// http/fast_fetch.ts) is driven in-process, with no sockets, by a loop of GET /key/<k> over a
// map-backed store: once without metrics, once with a node's metrics (every route counted
// by route, method and code, and timed into a histogram; metrics/http_metrics.ts). Two
// workloads: a stale read answered without a promise, and a read whose answer is a promise
// (the wrapper adds a `then`). Rounds alternate off and on; medians are reported.
//
// Usage: node_modules/.bin/bun bench/metrics_bench.ts [rounds=5] [requests=100000]
// In-process on purpose: it measures the handler's CPU per request, not a network stack.

import { createFetch, type FetchHandler } from "../http/fast_fetch.ts";
import { NodeMetrics } from "../metrics/node_metrics.ts";
import { realClock, realTimers } from "../raft/real_time.ts";
import type { ReadLevel, StatusReport, StoreApi } from "../store/api.ts";

const keyCount = 1000;

/** Reads from a map: at once (`peek`) when `isSync`, else through a promise (`get`). */
class MapStore implements StoreApi {
  readonly map = new Map<string, string>();
  constructor(private readonly isSync: boolean) {}
  peek(key: string, _level: ReadLevel): string | null | undefined {
    return this.isSync ? (this.map.get(key) ?? null) : undefined;
  }
  get(key: string): Promise<string | null> {
    return Promise.resolve(this.map.get(key) ?? null);
  }
  set(): Promise<void> {
    return Promise.resolve();
  }
  delete(): Promise<void> {
    return Promise.resolve();
  }
  join(): Promise<void> {
    return Promise.resolve();
  }
  remove(): Promise<void> {
    return Promise.resolve();
  }
  status(): StatusReport {
    throw new Error("not used");
  }
}

interface Run {
  readonly perSecond: number;
  readonly cpuMicros: number;
}

async function measure(fetch: FetchHandler, requests: number): Promise<Run> {
  const cpu = process.cpuUsage();
  const start = Bun.nanoseconds();
  for (let i = 0; i < requests; i++) {
    const answer = fetch(new Request(`http://127.0.0.1:11000/key/k${i % keyCount}?level=stale`));
    const response = answer instanceof Promise ? await answer : answer;
    if (response.status !== 200) throw new Error(`status ${response.status}`);
  }
  const wallSeconds = (Bun.nanoseconds() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { perSecond: requests / wallSeconds, cpuMicros: (used.user + used.system) / requests };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function workload(name: string, isSync: boolean, rounds: number, requests: number): Promise<void> {
  const store = new MapStore(isSync);
  for (let i = 0; i < keyCount; i++) store.map.set(`k${i}`, `value-${i}`);
  const metrics = new NodeMetrics({ clock: realClock, timers: realTimers });
  const off = createFetch(store);
  const on = createFetch(store, { ops: { metrics } });
  await measure(off, 20_000);
  await measure(on, 20_000);
  const results = { off: [] as Run[], on: [] as Run[] };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const);
    for (const which of order) results[which].push(await measure(which === "off" ? off : on, requests));
  }
  const rate = (w: "off" | "on"): number => median(results[w].map((x) => x.perSecond));
  const cpu = (w: "off" | "on"): number => median(results[w].map((x) => x.cpuMicros));
  console.log(
    `${name}: metrics off ${Math.round(rate("off"))} req/s, ${cpu("off").toFixed(2)} µs CPU/req; ` +
      `on ${Math.round(rate("on"))} req/s, ${cpu("on").toFixed(2)} µs CPU/req; ` +
      `on/off throughput ${(rate("on") / rate("off")).toFixed(3)}, +${(cpu("on") - cpu("off")).toFixed(2)} µs CPU/req`,
  );
  // The counts are real: every measured request is in the histogram.
  const counted = /hraftd_http_request_duration_seconds_count\{route="\/key\/:k",method="GET"\} (\d+)/.exec(metrics.registry.render());
  console.log(`  counted by the metrics: ${counted?.[1]} requests`);
}

const rounds = Number(process.argv[2] ?? 5);
const requests = Number(process.argv[3] ?? 100_000);
await workload("stale read (answer without a promise)", true, rounds, requests);
await workload("read answered by a promise", false, rounds, requests);
