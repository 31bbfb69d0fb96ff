// What stalls the leader's event loop under write load (issue 18, item 3).
//
//   bun bench/stall_trace.ts [seconds per phase, default 8]
//
// A 3-node cluster on loopback: node 0 (which bootstraps, so leads) runs from source under
// `bun --preload bench/stall_probe.ts --cpu-prof main.ts`, nodes 1 and 2 run the binary
// (STALL_BINARY, default dist/hraftd-linux-x64). Every node runs with BUN_JSC_logGC=1: the
// collector's log (each collection's kind and pause) of node 0 is read through a pipe and
// stamped with the time each line arrived. wrk then writes unique keys at node 0 at 1, 16
// and 64 connections. bench/stall_analyze.ts reads what was recorded and prints, per phase:
// the write latency, the stalls the probe saw (longest first, each with how the thread spent
// it, the callbacks that ran long, the collections and the profile's stacks inside it) and a
// summary by cause. STALL_CPU_PROF=0 leaves the profiler off (its sampling costs a little).
// Everything goes to a directory under /var/tmp, printed at the start and kept.

import { mkdtempSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { HraftdCluster, type MemberSpec } from "./clusters.ts";
import { analyze } from "./stall_analyze.ts";
import { killAll, killAllOnExit, type Proc, setRunDirs, sleep } from "./procs.ts";
import { formatTail, type TailResult, tailWrites } from "./tail_wrk.ts";

const root = join(import.meta.dirname, "..");
const seconds = Number(process.argv[2] ?? "8");
const binary = process.env["STALL_BINARY"] ?? join(root, "dist/hraftd-linux-x64");
const cpuProf = process.env["STALL_CPU_PROF"] !== "0";
const portBase = Number(process.env["STALL_PORT_BASE"] ?? "36100");
const bun = join(root, "node_modules/.bin/bun");

/** Node 0 from source with the probe, the profiler and a pipe for the collector's log. */
class TracedCluster extends HraftdCluster {
  constructor(readonly dir: string, members: MemberSpec[]) {
    super(binary, members, "traced");
  }

  protected override memberEnv(): Record<string, string> {
    return { BUN_JSC_logGC: "1" };
  }

  override spawn(i: number): Proc {
    if (i !== 0) return super.spawn(i);
    const args = this.command(0).slice(1);
    const prof = cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${this.dir}`, "--cpu-prof-interval=250"] : [];
    const sub = Bun.spawn({
      cmd: [bun, "--preload", join(root, "bench/stall_probe.ts"), ...prof, join(root, "main.ts"), ...args],
      cwd: root,
      stdin: "ignore",
      stdout: openSync(join(this.dir, "node0.stdout.log"), "a"),
      stderr: "pipe",
      env: { ...process.env, BUN_JSC_logGC: "1", STALL_PROBE_OUT: join(this.dir, "probe.jsonl") },
    });
    void stampLines(sub.stderr, join(this.dir, "node0.stderr.log"));
    const proc: Proc = { name: "node0", pid: sub.pid, sub, logPath: join(this.dir, "node0.stderr.log"), exited: sub.exited };
    this.procs[0] = proc;
    node0Pid = sub.pid;
    return proc;
  }
}

/** Copies `stream` line by line to `path`, each line prefixed with its arrival time (epoch ms). */
async function stampLines(stream: ReadableStream<Uint8Array>, path: string): Promise<void> {
  const fd = openSync(path, "a");
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    const now = (performance.timeOrigin + performance.now()).toFixed(3);
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop()!;
    if (lines.length > 0) writeSync(fd, lines.map((l) => `${now} ${l}\n`).join(""));
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync("/var/tmp/h18-stall.");
  setRunDirs(dir, join(dir, "pids"));
  killAllOnExit();
  console.log(`stall_trace: ${dir}; ${seconds} s per phase; node 0 from source${cpuProf ? " with --cpu-prof" : ""}; others ${binary}`);
  const members: MemberSpec[] = [0, 1, 2].map((i) => ({
    name: `n${i}`, clientPort: portBase + i, peerPort: portBase + 10 + i, dataDir: join(dir, `n${i}`),
  }));
  const c = new TracedCluster(dir, members);
  await c.startAll();
  const phases: { name: string; start: number; end: number; result: TailResult; leader: number | null }[] = [];
  const now = (): number => performance.timeOrigin + performance.now();
  await tailWrites(c.url(0), 64, 3, `warm${process.pid}`, "warmup");
  for (const conns of [1, 16, 64]) {
    const start = now();
    const result = await tailWrites(c.url(0), conns, seconds, `t${process.pid}c${conns}`, `c${conns}`);
    const end = now();
    const leader = await c.leader();
    phases.push({ name: `c=${conns}`, start, end, result, leader });
    console.log(`${formatTail(result)}${leader === 0 ? "" : ` (leader now ${leader})`}`);
    await sleep(500);
  }
  writeFileSync(join(dir, "phases.json"), JSON.stringify(phases, null, 1));
  // SIGTERM: node 0 hands leadership off and exits cleanly, which writes the profile.
  const node0 = c.procs[0]!;
  node0.sub.kill("SIGTERM");
  const late = setTimeout(() => node0.sub.kill("SIGKILL"), 15_000);
  await node0.exited;
  clearTimeout(late);
  c.procs[0] = null;
  await c.stopAll();
  await sleep(200);
  console.log(analyze(dir));
}

let node0Pid = 0;
process.on("exit", () => {
  if (node0Pid !== 0) try { process.kill(node0Pid, "SIGKILL"); } catch { /* gone */ }
});
await main().finally(killAll);
