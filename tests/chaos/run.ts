// One chaos run end to end (namespaces, 5 real nodes, clients, seeded faults, heal, converge,
// check), recorded under its run directory. CLI, where the same seed gives the same faults:
// bun tests/chaos/run.ts [--seed N] [--seconds S] [--kinds partition,kill,…] [--secure] [--binary PATH]

import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Verdict } from "../sim/checkers/linearizability.ts";
import { createSimRng } from "../sim/prng.ts";
import { Lab, netnsUnavailableReason, sweepStaleLabs } from "../support/netns.ts";
import { checkFinalStates, checkHistory, type Anomaly } from "./checks.ts";
import { ChaosCluster, waitForProxy } from "./cluster.ts";
import { describeFault, type NemesisContext, type NemesisEvent, type NemesisKind, planSchedule } from "./nemesis.ts";
import { healEverything, runSchedule } from "./nemesis_exec.ts";
import { secureSetup } from "./secure.ts";
import { checkWatchChains, type LogChanges, logChanges } from "./watch_check.ts";
import type { WatcherOutput } from "./watcher.ts";
import { allKeys, type ChaosOp, defaultKeySpace, type KeySpace, Workload } from "./workload.ts";

/** Options of runChaos. */
export interface ChaosOptions {
  readonly seed: number;
  readonly binary: string;
  /** Time under faults (the workload runs this long). */
  readonly durationMs: number;
  readonly nodesCount?: number;
  readonly clientsCount?: number;
  readonly kinds?: readonly NemesisKind[];
  /** Where the run directory is created; default <tmp>/hraftd-chaos. */
  readonly baseDir?: string;
  /** Progress lines (default: console.log). */
  readonly log?: (line: string) => void;
  /** Secure mode: HTTPS with client certificates, node TLS and -auth on every node (secure.ts). */
  readonly secure?: boolean;
}

/** What a run found. `anomalies` empty means the node passed every check. */
export interface ChaosReport {
  readonly seed: number;
  readonly durationMs: number;
  readonly secure: boolean;
  readonly kinds: readonly NemesisKind[] | null;
  readonly binary: string;
  readonly runDir: string;
  readonly historyPath: string;
  readonly opsByOutcome: Readonly<Record<string, number>>;
  readonly opsTotal: number;
  readonly nemesisEvents: Readonly<Record<string, number>>;
  readonly anomalies: readonly Anomaly[];
  readonly verdict: Verdict | null;
  readonly elapsedMs: number;
}

const convergeDeadlineMs = 30_000;
const bootstrapDeadlineMs = 20_000;
const proxyDeadlineMs = 10_000;
/** Prefixes the watchers follow (watcher.ts): every key, and the single keys. */
const watchPrefixes = ["", "k"];

/** Chooses snapshot settings per seed, so some runs compact (and install snapshots) often. */
function nodeFlags(seed: number): string[] {
  const threshold = createSimRng(seed).fork("flags").pick([64, 256, 8192]);
  return ["-snapshot-threshold", String(threshold), "-snapshot-interval", "0", "-snapshot-trailing", String(Math.floor(threshold / 2))];
}

function countBy<T>(items: readonly T[], keyOf: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of items) out[keyOf(t)] = (out[keyOf(t)] ?? 0) + 1;
  return out;
}

function opKindName(h: ChaosOp): string {
  if (h.label === "list") return `list-${h.level}`;
  if (h.label !== undefined) return h.label;
  if (h.op.type === "read") return `read-${h.level}`;
  if (h.op.type === "set") return Object.keys(h.op.values).length > 1 ? "multiset" : "set";
  return "delete";
}

/** JSON of an op for the history file; Infinity (an unknown completion) becomes null. */
function opJson(h: ChaosOp): string {
  return JSON.stringify(h, (_k, v: unknown) => (v === Infinity ? null : v));
}

/** Waits until every node applied the same index as the leader's commit, then reads each node's state. */
async function converge(cluster: ChaosCluster, keys: KeySpace): Promise<Array<Map<string, string | null> | null> | null> {
  const isSettled = await cluster.waitFor(async () => {
    const all = await cluster.statuses();
    const leader = all.find((s) => s?.state === "leader");
    if (leader === undefined || leader === null) return false;
    return all.every((s) => s !== null && s.applied === leader.commit && s.commit === leader.commit && s.lastIndex === leader.lastIndex);
  }, convergeDeadlineMs, 250);
  if (!isSettled) return null;
  const states: Array<Map<string, string | null> | null> = [];
  for (let i = 0; i < cluster.size; i++) {
    const state = new Map<string, string | null>();
    for (const key of allKeys(keys)) {
      const r = await cluster.request(i, "GET", `/key/${key}?level=stale`, { timeoutMs: 2000 });
      if (r.type !== "response" || (r.status !== 200 && r.status !== 404)) break;
      state.set(key, r.status === 404 ? null : ((JSON.parse(r.body) as Record<string, string>)[key] ?? null));
    }
    states.push(state.size === allKeys(keys).length ? state : null);
  }
  return states;
}

/** What the fault phase hands to the checking phase. */
interface Exercised {
  readonly history: ChaosOp[];
  readonly workload: Workload;
  readonly ctx: NemesisContext;
}

/** Clients and the fault schedule together, for options.durationMs; every fault healed after. */
async function exercise(options: ChaosOptions, cluster: ChaosCluster, lab: Lab, proxySocket: string, record: (e: NemesisEvent) => void): Promise<Exercised> {
  const plan = planSchedule({ seed: options.seed, durationMs: options.durationMs, nodesCount: cluster.size, kinds: options.kinds });
  const t0 = performance.now();
  const clock = (): number => performance.now() - t0;
  const workload = new Workload({
    cluster, proxySocket, keys: defaultKeySpace(), clock, clientsCount: options.clientsCount ?? 6, rng: createSimRng(options.seed).fork("clients"),
    writeTimeoutMs: 12_000, readTimeoutMs: 6000, thinkMsMax: 20,
  });
  const ctx: NemesisContext = { cluster, lab, clock, record };
  workload.start();
  await runSchedule(ctx, plan, () => clock() >= options.durationMs);
  return { history: await workload.stop(), workload, ctx };
}

/** Heals, waits for convergence, reads every key once more and runs every check. */
async function healAndCheck(ex: Exercised, log: (l: string) => void): Promise<{ finalReads: ChaosOp[]; anomalies: Anomaly[]; verdict: Verdict }> {
  const { cluster } = ex.ctx;
  const keys = defaultKeySpace();
  const anomalies: Anomaly[] = [];
  if (!(await healEverything(ex.ctx, convergeDeadlineMs))) anomalies.push({ kind: "notHealed", message: "the membership was not whole again after healing" });
  const states = await converge(cluster, keys);
  if (states === null) anomalies.push({ kind: "notHealed", message: `nodes did not converge within ${convergeDeadlineMs} ms of healing` });
  const leader = (await cluster.leader()) ?? 0;
  const finalReads: ChaosOp[] = [];
  for (const key of allKeys(keys)) finalReads.push(await ex.workload.perform(-1, leader, { type: "read", key, value: null }, "linearizable"));
  const checkStarted = performance.now();
  const checked = checkHistory(ex.history, finalReads);
  log(`chaos: history checked in ${(performance.now() - checkStarted).toFixed(0)} ms`);
  anomalies.push(...checked.anomalies);
  if (states !== null) anomalies.push(...checkFinalStates(states, finalReads, keys));
  return { finalReads, anomalies, verdict: checked.verdict };
}

/** Stops the watcher process (it writes its chains on SIGTERM) and reads what it wrote; null if nothing. */
async function stopWatcher(watcher: ChildProcess, path: string): Promise<WatcherOutput | null> {
  const exited = new Promise<void>((resolve) => {
    if (watcher.exitCode !== null || watcher.signalCode !== null) resolve();
    else watcher.once("exit", () => resolve());
  });
  watcher.kill("SIGTERM");
  await Promise.race([exited, Bun.sleep(5000)]);
  watcher.kill("SIGKILL");
  if (!existsSync(path)) return null;
  return JSON.parse(readFileSync(path, "utf8")) as WatcherOutput;
}

/**
 * With every node stopped, each chain the watchers got against the changes of the nodes' logs
 * read back from their data directories (watch_check.ts).
 */
function checkWatches(cluster: ChaosCluster, output: WatcherOutput | null, log: (l: string) => void): Anomaly[] {
  if (output === null) return [{ kind: "watchMismatch", message: "the watcher process wrote no chains" }];
  const logs: LogChanges[] = [];
  for (let i = 0; i < cluster.size; i++) {
    try {
      logs.push(logChanges(cluster.dataDir(i)));
    } catch (e) {
      log(`chaos: node${i}'s log could not be read back for the watch check: ${String(e)}`);
    }
  }
  const checked = checkWatchChains(output.chains, logs);
  const c = output.counts;
  log(`chaos: watches: ${output.chains.length} chains (${checked.judged} judged, ${checked.changes} changes; ${checked.agreed.pairs} pairs compared, ${checked.agreed.changes} changes), ${c.connects} connects, ` +
    `${c.resumes} resumes, ${c.gone} gone (410), ${c.refused} refused, ${c.errors} cut or lost; logs from ${logs.map((l) => `${l.start}..${l.end}`).join(" ")}`);
  return checked.anomalies;
}

/** Runs one chaos run; returns its report (throws only if the lab or cluster cannot start). */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? ((l: string) => console.log(l));
  const unavailable = netnsUnavailableReason();
  if (unavailable !== null) throw new Error(`network namespaces unavailable: ${unavailable}`);
  sweepStaleLabs();
  const started = performance.now();
  const nodesCount = options.nodesCount ?? 5;
  const runDir = join(options.baseDir ?? join(tmpdir(), "hraftd-chaos"), `seed-${options.seed}-${Date.now()}`);
  mkdirSync(runDir, { recursive: true });
  const historyPath = join(runDir, "history.jsonl");
  const plan = planSchedule({ seed: options.seed, durationMs: options.durationMs, nodesCount, kinds: options.kinds });
  writeFileSync(join(runDir, "schedule.txt"), plan.map((e, i) => `#${i} at ${e.startMs} ms for ${e.holdMs} ms: ${e.faults.map(describeFault).join(" + ")}\n`).join(""));
  log(`chaos: seed=${options.seed} duration=${options.durationMs} ms episodes=${plan.length}${options.secure === true ? " secure (TLS + auth)" : ""} dir=${runDir}`);

  const lab = new Lab({ hostsCount: nodesCount, withClient: true });
  const secure = options.secure === true ? await secureSetup(runDir, lab.hosts.map((h) => h.ip)) : null;
  const proxySocket = join(runDir, "proxy.sock");
  const proxy = lab.spawnIn(lab.client!, [process.execPath, join(import.meta.dirname, "proxy.ts"), proxySocket], {
    stdio: "inherit",
    ...(secure === null ? {} : { env: secure.proxyEnv }),
  });
  const cluster = new ChaosCluster({
    lab, binary: options.binary, runDir, proxySocket, extraFlags: nodeFlags(options.seed),
    ...(secure === null ? {} : { secure: { flagsFor: secure.flagsFor, joinFlags: secure.joinFlags, env: secure.nodeEnv } }),
  });
  const events: NemesisEvent[] = [];
  const record = (e: NemesisEvent): void => {
    events.push(e);
    log(`  t=${(e.timeMs / 1000).toFixed(1)}s #${e.episode} ${e.action} ${e.detail}`);
  };
  let isClean = false;
  try {
    if (!(await waitForProxy(proxySocket, proxyDeadlineMs))) throw new Error("the client proxy did not start");
    await cluster.bootstrap(bootstrapDeadlineMs);
    // Watchers (issue 16 item 5) go straight to the nodes, in secure mode as the proxy does.
    const watchPath = join(runDir, "watch.json");
    const nodeAddrs = Array.from({ length: nodesCount }, (_, i) => cluster.httpAddr(i)).join(",");
    const watcher = lab.spawnIn(lab.client!, [
      process.execPath, join(import.meta.dirname, "watcher.ts"), watchPath, String(options.seed), nodeAddrs, watchPrefixes.join(","),
    ], { stdio: "inherit", ...(secure === null ? {} : { env: secure.proxyEnv }) });
    const ex = await exercise(options, cluster, lab, proxySocket, record);
    const watched = await stopWatcher(watcher, watchPath);
    log(`chaos: ${ex.history.length} ops recorded; healing`);
    const { finalReads, anomalies, verdict } = await healAndCheck(ex, log);
    await cluster.stopAll();
    anomalies.push(...checkWatches(cluster, watched, log));
    writeFileSync(historyPath, [...ex.history, ...finalReads].map(opJson).join("\n") + "\n");
    writeFileSync(join(runDir, "nemesis.jsonl"), events.map((e) => JSON.stringify(e)).join("\n") + "\n");
    const report: ChaosReport = {
      seed: options.seed, durationMs: options.durationMs, secure: options.secure === true, kinds: options.kinds ?? null, binary: options.binary,
      runDir, historyPath, opsTotal: ex.history.length,
      opsByOutcome: countBy(ex.history, (h) => `${opKindName(h)}:${h.outcome}`),
      nemesisEvents: countBy(events.filter((e) => e.action === "start"), (e) => e.kind),
      anomalies, verdict, elapsedMs: performance.now() - started,
    };
    writeFileSync(join(runDir, "report.json"), JSON.stringify(report, null, 2));
    isClean = anomalies.length === 0;
    return report;
  } finally {
    await cluster.stopAll();
    proxy.kill("SIGKILL");
    lab.destroy();
    rmSync(proxySocket, { force: true });
    // Data directories are only worth keeping to diagnose a failure; the history always stays.
    if (isClean) for (let i = 0; i < nodesCount; i++) rmSync(cluster.dataDir(i), { recursive: true, force: true });
  }
}

/** How to word anomalies: `failureExpected` names why a test provoked them on purpose. */
export interface FormatOptions {
  readonly failureExpected?: string;
}

/**
 * One summary line per report, and the anomalies with the seed and history to replay. A
 * test that breaks the node on purpose passes `failureExpected`, so the log of a green run
 * says the failure was expected instead of printing an alarming "FAILED".
 */
export function formatReport(r: ChaosReport, options: FormatOptions = {}): string {
  const lines = [
    `chaos seed=${r.seed}${r.secure ? " (secure: TLS + auth)" : ""}: ${r.opsTotal} ops in ${(r.elapsedMs / 1000).toFixed(0)} s; ${r.anomalies.length} anomalies`,
    `  ops: ${Object.entries(r.opsByOutcome).sort().map(([k, n]) => `${k}=${n}`).join(" ")}`,
    `  nemesis: ${Object.entries(r.nemesisEvents).sort().map(([k, n]) => `${k}=${n}`).join(" ")}`,
  ];
  if (r.verdict !== null && r.verdict.ok && r.verdict.inconclusive.length > 0) lines.push(`  inconclusive keys: ${r.verdict.inconclusive.join(", ")}`);
  if (r.anomalies.length > 0) {
    const kinds = r.kinds === null ? "" : ` --kinds ${r.kinds.join(",")}`;
    lines.push(
      options.failureExpected === undefined
        ? `  FAILED: seed=${r.seed} history=${r.historyPath}`
        : `  EXPECTED FAILURE (${options.failureExpected}): seed=${r.seed} history=${r.historyPath}`,
      `  replay: bun tests/chaos/run.ts --seed ${r.seed} --seconds ${r.durationMs / 1000}${kinds}${r.secure ? " --secure" : ""} --binary ${r.binary}`,
    );
    for (const a of r.anomalies.slice(0, 10)) lines.push(`  ${a.kind}: ${a.message}`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const arg = (name: string): string | undefined => args[args.indexOf(name) + 1];
  const seed = args.includes("--seed") ? Number(arg("--seed")) : Math.floor(Math.random() * 2 ** 31);
  const seconds = args.includes("--seconds") ? Number(arg("--seconds")) : 60;
  const kinds = args.includes("--kinds") ? (arg("--kinds")!.split(",") as NemesisKind[]) : undefined;
  const { ensureBinary } = await import("../support/binary.ts");
  const binary = args.includes("--binary") ? arg("--binary")! : ensureBinary();
  const report = await runChaos({ seed, binary, durationMs: seconds * 1000, kinds, secure: args.includes("--secure") });
  console.log(formatReport(report));
  process.exit(report.anomalies.length === 0 ? 0 : 1);
}
