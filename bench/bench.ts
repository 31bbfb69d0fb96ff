// Entry of a benchmark run (started by bench/run, which installs tools and builds binaries):
// reads the knobs from the environment, runs the phases against fresh clusters of ours and
// etcd, and writes bench/RESULTS.md and bench/RESULTS.json. Kills everything it started.

import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { nativeDriver } from "./drivers.ts";
import { describeMachine, loadAvg } from "./machine.ts";
import { type BenchConfig, makeClusters, phaseFailover, phaseKeys, phaseReads, phaseStart, phaseWrites } from "./phases.ts";
import { killAll, killAllOnExit, runText, setRunDirs } from "./procs.ts";
import { type Results, renderResults } from "./report.ts";
import { emptyTlsResults, phaseTls } from "./tls_phase.ts";
import { emptyCeilingResults, phaseCeiling } from "./ceiling_phase.ts";
import { emptyFiveResults, phaseFive } from "./five_nodes_phase.ts";
import { emptyLargeResults, phaseLarge } from "./large_values_phase.ts";
import { apiRuns, emptyApiResults, phaseApi } from "./api_cost_phase.ts";
import { emptyWatchResults, phaseWatch } from "./watch_phase.ts";
import { emptyUiResults, phaseUi } from "./ui_phase.ts";

const env = process.env;
const isQuick = env["BENCH_QUICK"] === "1";

function envInt(name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(v)}`);
  return n;
}

const phaseNames = ["start", "writes", "reads", "failover", "keys", "tls", "ceiling", "large", "five", "api", "watch", "ui"] as const;

function config(): BenchConfig & { phases: Set<string>; out: string } {
  const dir = env["BENCH_DIR"];
  const binary = env["BENCH_BINARY"];
  const bare = env["BENCH_BARE"];
  if (dir === undefined || binary === undefined || bare === undefined) throw new Error("run through bench/run (BENCH_DIR, BENCH_BINARY, BENCH_BARE unset)");
  const phases = new Set((env["BENCH_PHASES"] ?? phaseNames.join(",")).split(",").map((s) => s.trim()));
  for (const p of phases) if (!(phaseNames as readonly string[]).includes(p)) throw new Error(`unknown phase ${p}; known: ${phaseNames.join(",")}`);
  return {
    dir,
    binary,
    bare,
    portBase: envInt("BENCH_PORT_BASE", 31100),
    seconds: envInt("BENCH_SECONDS", isQuick ? 2 : 10),
    repeats: Math.max(3, envInt("BENCH_REPEATS", 3)),
    failovers: envInt("BENCH_FAILOVERS", isQuick ? 3 : 5),
    keys: envInt("BENCH_KEYS", isQuick ? 10_000 : 10_000_000),
    connections: (env["BENCH_CONNECTIONS"] ?? "1,16,64,256").split(",").map(Number),
    phases,
    out: env["BENCH_OUT"] ?? join(import.meta.dirname, "RESULTS.md"),
  };
}

function emptyResults(cfg: ReturnType<typeof config>): Results {
  return {
    date: new Date().toISOString().replace("T", " ").slice(0, 16) + " UTC",
    mode: isQuick ? "quick" : "default",
    machine: {},
    params: {
      seconds_per_wrk_run: cfg.seconds,
      repeats: cfg.repeats,
      api_seconds_per_run: apiRuns(cfg).seconds,
      api_repeats: apiRuns(cfg).repeats,
      failovers: cfg.failovers,
      keys: cfg.keys,
      phases: [...cfg.phases].join("+"),
    },
    writes: {},
    cpuPerWriteUs: {},
    cpuCores: {},
    reads: {},
    failoverMs: {},
    singleStartMs: {},
    startupMs: {},
    binaryBytes: {},
    keys: cfg.keys,
    rssBytes: {},
    rssEmptyBytes: {},
    dataBytes: {},
    restartMs: {},
    tls: emptyTlsResults(),
    notes: [],
  };
}

/**
 * Ports of the run already taken on 127.0.0.1 (another bench run, a helper's cluster): a member
 * that cannot bind exits, and wrk would then measure whoever holds the port.
 */
async function takenPorts(base: number): Promise<number[]> {
  const taken: number[] = [];
  for (let port = base; port <= base + 120; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (!free) taken.push(port);
  }
  return taken;
}

async function main(): Promise<void> {
  killAllOnExit();
  const cfg = config();
  const taken = await takenPorts(cfg.portBase);
  if (taken.length > 0) throw new Error(`ports ${taken.join(", ")} on 127.0.0.1 are in use (another bench run?): stop it or set BENCH_PORT_BASE`);
  setRunDirs(cfg.dir, env["BENCH_PIDFILE"] ?? `${cfg.dir}/pids`);
  const r = emptyResults(cfg);
  const t0 = performance.now();
  r.machine = describeMachine(cfg.dir, runText([process.execPath, "--version"]));
  const etcdPath = runText(["sh", "-c", "command -v etcd"]);
  r.binaryBytes = { hraftd: statSync(cfg.binary).size, bare: statSync(cfg.bare).size, etcd: statSync(etcdPath).size };
  console.log(`[bench] machine: ${JSON.stringify(r.machine)}`);

  const loadStart = Number(loadAvg().split(" ")[0]);
  const cores = Number(r.machine["nproc"]);
  const save = (): void => {
    r.machine["load average at end (1/5/15 min)"] = loadAvg();
    const loadEnd = Number(loadAvg().split(" ")[0]);
    if (Math.max(loadStart, loadEnd) > cores) {
      r.notes.push(`The machine was busy with other work (1-minute load ${loadStart} at start, ${loadEnd} at end, on ${cores} cores, ` +
        "this run's own load included): rates, latencies and times are noisy; CPU per write and sizes are steadier.");
    }
    r.params["wall_seconds"] = Math.round((performance.now() - t0) / 1000);
    // BENCH_OUT may name a directory not made yet: an hour's results must not be lost to it.
    mkdirSync(dirname(cfg.out), { recursive: true });
    writeFileSync(cfg.out, renderResults(r));
    writeFileSync(cfg.out.replace(/\.md$/, "") + ".json", `${JSON.stringify(r, null, 1)}\n`);
  };
  // A phase that fails is noted and the run goes on: one broken measurement must not cost the
  // others (a full run takes most of an hour).
  const attempt = async (name: string, run: () => Promise<void>): Promise<void> => {
    if (!cfg.phases.has(name)) return;
    try {
      await run();
    } catch (e) {
      const text = `phase ${name} failed: ${e instanceof Error ? e.message : String(e)}`;
      console.log(`[bench] ${text}`);
      r.notes.push(text);
      killAll();
    }
  };
  try {
    await attempt("start", () => phaseStart(cfg, r));
    if (cfg.phases.has("writes") || cfg.phases.has("reads") || cfg.phases.has("failover")) {
      const { ours, etcd } = makeClusters(cfg);
      await Promise.all([ours.startAll(), etcd.startAll()]);
      // etcd's native gRPC client (bench/etcd_load, built by bench/run) on the same etcd cluster.
      const load = env["BENCH_ETCD_LOAD"];
      const native = load === undefined || load === "" ? [] : [nativeDriver(etcd, load, envInt("BENCH_NATIVE_CONNECTIONS", 1))];
      if (native.length === 0) r.notes.push("BENCH_ETCD_LOAD unset: no etcd-native peer in this run (run through bench/run)");
      await attempt("writes", () => phaseWrites(cfg, r, [ours, etcd, ...native]));
      await attempt("reads", () => phaseReads(cfg, r, ours, etcd, native));
      await attempt("failover", () => phaseFailover(cfg, r, [ours, etcd]));
      await Promise.all([ours.stopAll(), etcd.stopAll()]);
    }
    await attempt("keys", async () => {
      const { ours, etcd } = makeClusters(cfg);
      const only = env["BENCH_KEYS_SYSTEMS"]; // "hraftd" or "etcd": one side only (development)
      await phaseKeys(cfg, r, [ours, etcd].filter((c) => only === undefined || only === "" || only.split(",").includes(c.label)));
    });
    await attempt("tls", () => phaseTls(cfg, r.tls, env["BENCH_TLS_BREAKDOWN"] === "1"));
    // Issue 18's scale phases, each on clusters of its own (bench/scale_report.ts renders them).
    await attempt("ceiling", () => phaseCeiling(cfg, ((r.scale ??= {}).ceiling = emptyCeilingResults())));
    await attempt("large", () => phaseLarge(cfg, ((r.scale ??= {}).large = emptyLargeResults())));
    await attempt("five", () => phaseFive(cfg, ((r.scale ??= {}).five = emptyFiveResults())));
    await attempt("api", () => phaseApi(cfg, (r.api = emptyApiResults())));
    await attempt("watch", () => phaseWatch(cfg, (r.watch = emptyWatchResults())));
    await attempt("ui", () => phaseUi(cfg, (r.ui = emptyUiResults())));
  } catch (e) {
    r.notes.push(`run stopped early: ${e instanceof Error ? e.message : String(e)}`);
    save();
    throw e;
  } finally {
    killAll();
  }
  save();
  console.log(`[bench] wrote ${cfg.out} in ${Math.round((performance.now() - t0) / 1000)} s`);
}

await main();
