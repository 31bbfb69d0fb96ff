// What does -auth cost a hot read? The server's fetch handler (fast path + Hono, http/fast_fetch.ts)
// is driven in-process, with no sockets, by a loop of GET /key/<k>?level=stale over a map-backed
// store (answered without a promise, as a stale read is): once without -auth, once with one
// user whose password digest is already remembered (the steady state: the slow
// Bun.password.verify ran once, at warm-up). Both send the same Authorization header, so the
// only difference is the check. Rounds alternate the two and the medians are reported.
//
// Usage: node_modules/.bin/bun bench/auth_bench.ts [rounds=7] [requests=200000]
// In-process on purpose: it measures the handler's CPU per request, not a network stack.

import { createFetch, type FetchHandler } from "../http/fast_fetch.ts";
import { Authenticator } from "../security/authenticator.ts";
import { permissionBits } from "../security/permissions.ts";
import type { ReadLevel, StatusReport, StoreApi } from "../store/api.ts";

const keyCount = 1000;

/** A store whose stale reads come straight from a map (as the real store's peek does). */
class MapStore implements StoreApi {
  readonly map = new Map<string, string>();
  peek(key: string, _level: ReadLevel): string | null {
    return this.map.get(key) ?? null;
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

/** One run: requests per second (wall time) and CPU microseconds per request (steadier on a shared machine). */
interface Run {
  readonly perSecond: number;
  readonly cpuMicros: number;
}

/** `requests` hot reads through `fetch`. */
async function measure(fetch: FetchHandler, requests: number, authorization: string): Promise<Run> {
  const init = { headers: { authorization } };
  const cpu = process.cpuUsage();
  const start = Bun.nanoseconds();
  for (let i = 0; i < requests; i++) {
    const answer = fetch(new Request(`http://127.0.0.1:11000/key/k${i % keyCount}?level=stale`, init));
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

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 7);
  const requests = Number(process.argv[3] ?? 200_000);
  const store = new MapStore();
  for (let i = 0; i < keyCount; i++) store.map.set(`k${i}`, `value-${i}`);
  const password = "bench-password";
  const hash = await Bun.password.hash(password); // argon2id, Bun's defaults: what an operator gets
  let slowChecks = 0;
  const auth = new Authenticator(
    { users: new Map([["bench", { username: "bench", passwordHash: hash, perms: permissionBits.read }]]), anonymousPerms: 0 },
    { verify: (pw, h) => (slowChecks++, Bun.password.verify(pw, h)) },
  );
  const authorization = `Basic ${Buffer.from(`bench:${password}`).toString("base64")}`;
  const off = createFetch(store);
  const on = createFetch(store, { auth });
  // Warm-up: the JIT for both, and the one slow check that remembers the password.
  await measure(off, 20_000, authorization);
  await measure(on, 20_000, authorization);
  const results = { off: [] as Run[], on: [] as Run[] };
  const show = (x: Run): string => `${Math.round(x.perSecond)} req/s (${x.cpuMicros.toFixed(2)} µs CPU/req)`;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const);
    for (const which of order) results[which].push(await measure(which === "off" ? off : on, requests, authorization));
    console.log(`round ${r + 1}: off ${show(results.off.at(-1)!)}, on ${show(results.on.at(-1)!)}`);
  }
  const rate = (which: "off" | "on"): number => median(results[which].map((x) => x.perSecond));
  const cpu = (which: "off" | "on"): number => median(results[which].map((x) => x.cpuMicros));
  console.log(
    `median: auth off ${Math.round(rate("off"))} req/s, ${cpu("off").toFixed(2)} µs CPU/req; ` +
      `auth on (cached credential) ${Math.round(rate("on"))} req/s, ${cpu("on").toFixed(2)} µs CPU/req; ` +
      `on/off throughput ${(rate("on") / rate("off")).toFixed(3)}; slow checks: ${slowChecks}`,
  );
}

await main();
