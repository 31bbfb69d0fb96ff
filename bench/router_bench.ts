// Is the fast path in front of Hono (http/fast_fetch.ts) worth having? One real node (-inmem,
// a single voter) serves the same store twice in one process: through the server's own fetch
// handler (fast path + Hono) on one port and through the Hono app alone on another. wrk drives
// each in turn with the hot requests (stale and linearizable reads of preloaded keys, writes),
// alternating the order every round, and the medians of the rounds are compared: requests
// per second, the server's CPU time per request (from /proc: steadier than throughput on a
// machine shared with other work), and the ratio of the two handlers within each round.
//
// Usage: node_modules/.bin/bun bench/router_bench.ts [rounds=7] [seconds=4] [connections=32]
// Needs wrk on PATH. Prints one line per run and a table of medians.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFlags } from "../flags.ts";
import { createApp } from "../http/app.ts";
import { serve } from "../http/serve.ts";
import { startNode } from "../server.ts";

const luaDir = join(import.meta.dirname, "lua");
const keyCount = 1000;

/** The server side: a node whose store is served by both handlers. Prints "READY". */
async function runServer(dir: string, fastPort: number, honoPort: number, raftPort: number): Promise<void> {
  const outcome = parseFlags(
    ["-inmem", "-id", "n1", "-haddr", `127.0.0.1:${fastPort}`, "-raddr", `127.0.0.1:${raftPort}`, dir],
    "bench",
  );
  if (outcome.kind !== "run") throw new Error(outcome.stderr);
  const quiet = { info() {}, warn() {}, error: (t: string) => process.stderr.write(`${t}\n`) };
  const running = await startNode(outcome.config, quiet);
  await serve({ hostname: "127.0.0.1", port: honoPort, fetch: createApp(running.store).fetch });
  process.stdout.write("READY\n");
}

/** One wrk workload: a Lua script of bench/lua and its arguments. */
interface Workload {
  readonly name: string;
  readonly script: string;
  readonly args: readonly string[];
}

const workloads: readonly Workload[] = [
  { name: "GET stale", script: "get_hraftd.lua", args: ["r-", String(keyCount), "stale"] },
  { name: "GET linearizable", script: "get_hraftd.lua", args: ["r-", String(keyCount), "linearizable"] },
  { name: "POST /key", script: "put_hraftd.lua", args: ["w", "value-0123456789"] },
];

/** CPU time (user + system) of process `pid` so far, in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** One run's outcome: throughput and the server's CPU time per request. */
interface Run {
  readonly perSec: number;
  readonly cpuUsPerRequest: number;
}

/** Runs wrk once against `port` while the server `pid` is measured. */
async function measure(pid: number, port: number, w: Workload, seconds: number, connections: number): Promise<Run> {
  const before = cpuSeconds(pid);
  const { perSec, requests } = await wrk(port, w, seconds, connections);
  return { perSec, cpuUsPerRequest: ((cpuSeconds(pid) - before) * 1e6) / requests };
}

/** Requests per second of one wrk run (non-2xx answers and socket errors make it fail). */
async function wrk(port: number, w: Workload, seconds: number, connections: number): Promise<{ perSec: number; requests: number }> {
  const cmd = [
    "wrk", "-t", "1", "-c", String(connections), "-d", `${seconds}s`, "--timeout", "5s",
    "-s", join(luaDir, w.script), `http://127.0.0.1:${port}`, "--", ...w.args,
  ];
  const proc = Bun.spawn({ cmd, stdout: "pipe", stderr: "inherit", env: { ...process.env, LUA_PATH: `${luaDir}/?.lua;;` } });
  const text = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`wrk failed: ${text}`);
  const line = text.split("\n").find((l) => l.startsWith("BENCHJSON "));
  if (line === undefined) throw new Error(`no result from wrk: ${text}`);
  const j = JSON.parse(line.slice("BENCHJSON ".length));
  const errors = j.err_connect + j.err_read + j.err_write + j.err_status + j.err_timeout;
  if (errors > 0) throw new Error(`wrk saw ${errors} errors on ${w.name}: ${line}`);
  return { perSec: j.requests / (j.duration_us / 1e6), requests: j.requests };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function runDriver(rounds: number, seconds: number, connections: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "router-bench-"));
  const base = 20000 + Math.floor(Math.random() * 20000);
  const ports = { fast: base, hono: base + 1, raft: base + 2 };
  const server = Bun.spawn({
    cmd: [process.execPath, import.meta.path, "serve", dir, String(ports.fast), String(ports.hono), String(ports.raft)],
    stdout: "pipe",
    stderr: "inherit",
  });
  try {
    const reader = server.stdout.getReader();
    let seen = "";
    while (!seen.includes("READY")) {
      const { done, value } = await reader.read();
      if (done) throw new Error("server exited before READY");
      seen += new TextDecoder().decode(value);
    }
    // Preload the keys the reads ask for (the node becomes leader on its own first).
    for (let i = 0; i < keyCount; i += 100) {
      const body: Record<string, string> = {};
      for (let k = i; k < i + 100; k++) body[`r-${k}`] = "value-0123456789";
      for (;;) {
        const r = await fetch(`http://127.0.0.1:${ports.fast}/key`, { method: "POST", body: JSON.stringify(body) });
        if (r.status === 200) break;
        await Bun.sleep(100);
      }
    }
    console.log(`bun ${Bun.version}, wrk -t1 -c${connections} -d${seconds}s, ${rounds} rounds, order alternating`);
    // Warm-up: each handler and workload once, not counted.
    for (const w of workloads) for (const p of [ports.fast, ports.hono]) await wrk(p, w, 2, connections);

    const results = new Map<string, { fast: Run[]; hono: Run[] }>();
    for (const w of workloads) results.set(w.name, { fast: [], hono: [] });
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (["fast", "hono"] as const) : (["hono", "fast"] as const);
      for (const w of workloads) {
        for (const variant of order) {
          const run = await measure(server.pid, ports[variant], w, seconds, connections);
          results.get(w.name)![variant].push(run);
          console.log(
            `round ${round + 1} ${w.name.padEnd(17)} ${variant.padEnd(4)} ${run.perSec.toFixed(0).padStart(6)} req/s ` +
              `${run.cpuUsPerRequest.toFixed(1).padStart(6)} µs CPU/req`,
          );
        }
      }
    }
    const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
    console.log("\nmedians over the rounds (Hono vs fast: throughput change, CPU per request change)");
    console.log("workload           fast req/s  Hono req/s  paired  |  fast µs/req  Hono µs/req  paired");
    for (const [name, r] of results) {
      const rate = (v: Run[]) => median(v.map((x) => x.perSec));
      const cpu = (v: Run[]) => median(v.map((x) => x.cpuUsPerRequest));
      const pairedRate = median(r.hono.map((h, i) => h.perSec / r.fast[i]!.perSec - 1));
      const pairedCpu = median(r.hono.map((h, i) => h.cpuUsPerRequest / r.fast[i]!.cpuUsPerRequest - 1));
      console.log(
        `${name.padEnd(17)}  ${rate(r.fast).toFixed(0).padStart(10)}  ${rate(r.hono).toFixed(0).padStart(10)}  ${pct(pairedRate).padStart(6)}  |` +
          `  ${cpu(r.fast).toFixed(1).padStart(11)}  ${cpu(r.hono).toFixed(1).padStart(11)}  ${pct(pairedCpu).padStart(6)}`,
      );
    }
  } finally {
    server.kill();
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
if (argv[0] === "serve") {
  await runServer(argv[1]!, Number(argv[2]), Number(argv[3]), Number(argv[4]));
} else {
  await runDriver(Number(argv[0] ?? 7), Number(argv[1] ?? 4), Number(argv[2] ?? 32));
}
