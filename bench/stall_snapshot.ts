// Where a node's event loop stalls while a large state is loaded, snapshotted and installed
// (issue 18: no pause above 20 ms at ten million keys), on every member at once.
//
//   bun bench/stall_snapshot.ts [keys, default 2000000] [dir]
//
// A 3-node cluster on loopback, every member run from source (STALL_SRC, default this tree)
// under `bun --preload bench/stall_probe.ts` with the collector's log (BUN_JSC_logGC) stamped
// as it arrives, and a bench/stall_syscalls.ts sampler on its main thread. Phases: `load`
// (the keys written at the leader, 100 a request, 64 at a time: snapshots are taken along the
// way), `snapshot` (keys overwritten until every member saved another snapshot), `install`
// (a follower stopped, writes until the leader's log moved past it, the follower restarted
// and caught up). Each member's directory gets probe.jsonl, sys.jsonl, the collector's log,
// phases.json and analysis.txt (bench/stall_analyze.ts); the summary printed at the end ranks
// stalls by the main thread's time on a CPU plus blocked, leaving out the time it waited for a
// CPU (the machine's load, not ours to fix), with the system calls and collections inside.
// STALL_ROUNDS=n repeats the snapshot phase n times (phases snapshot0..): the bench's pause
// phase runs three rounds, and at ten million keys the later rounds' stalls differ from the
// first's (on-loop WAL writes waiting on the device, where the first is mostly CPU).
// STALL_CPU_PROF=1 adds --cpu-prof (its sampler suspends the thread: blocked times inflate).
// STALL_PERF=1 records each member's main thread with `perf record` (native and kernel frames,
// wall-clock stamps, perf.data in its directory), for stalls where no JavaScript was sampled:
// `bun bench/stall_perf.ts <member dir>` ranks the symbols inside each stall. STALL_JIT_NAMES=1
// (with STALL_PERF=1) has each member write its JIT's code loads, so those ranks name functions.
// Memory: about 200 MB per member per million keys.

import { mkdirSync, openSync, readFileSync, readdirSync, existsSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { HraftdCluster, type MemberSpec } from "./clusters.ts";
import { loadKeys, value16 } from "./phases.ts";
import { killAll, killAllOnExit, type Proc, setRunDirs, sleep, waitUntil } from "./procs.ts";
import { analyze } from "./stall_analyze.ts";

const root = join(import.meta.dirname, "..");
const keys = Number(process.argv[2] ?? "2000000");
const dir = process.argv[3] ?? `/var/tmp/h18-snap.${process.pid}`;
const src = process.env["STALL_SRC"] ?? root;
const cpuProf = process.env["STALL_CPU_PROF"] === "1";
const perf = process.env["STALL_PERF"] === "1";
const jitNames = process.env["STALL_JIT_NAMES"] === "1";
const portBase = Number(process.env["STALL_PORT_BASE"] ?? "36300");
const bun = join(root, "node_modules/.bin/bun");
const now = (): number => performance.timeOrigin + performance.now();

interface Phase {
  name: string;
  start: number;
  end: number;
  result: { p50: number; p90: number; p99: number; p999: number; max: number; perSec: number };
}

/** Copies `stream` line by line to `path`, each line prefixed with its arrival time (epoch ms). */
async function stampLines(stream: ReadableStream<Uint8Array>, path: string): Promise<void> {
  const fd = openSync(path, "a");
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    const t = now().toFixed(3);
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop()!;
    if (lines.length > 0) writeSync(fd, lines.map((l) => `${t} ${l}\n`).join(""));
  }
}

/** Every member from source with the probe, the collector's log and a syscall sampler; a directory per process. */
class TracedCluster extends HraftdCluster {
  readonly processDirs: string[] = [];
  #spawned = 0;

  override spawn(i: number): Proc {
    const d = join(dir, `n${i}-${this.#spawned++}`);
    mkdirSync(d, { recursive: true });
    this.processDirs.push(d);
    const prof = cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${d}`, "--cpu-prof-interval=500"] : [];
    const sub = Bun.spawn({
      cmd: [bun, "--preload", join(root, "bench/stall_probe.ts"), ...prof, join(src, "main.ts"), ...this.command(i).slice(1)],
      cwd: src,
      stdin: "ignore",
      stdout: openSync(join(d, "stdout.log"), "a"),
      stderr: "pipe",
      env: {
        ...process.env,
        BUN_JSC_logGC: "1",
        STALL_PROBE_OUT: join(d, "probe.jsonl"),
        // The JIT's code loads, so stall_perf.ts names the JavaScript in perf's samples (bench/jit_names.ts).
        ...(jitNames ? { BUN_JSC_useJITDump: "1", BUN_JSC_jitDumpDirectory: d } : {}),
      },
    });
    void stampLines(sub.stderr, join(d, "node0.stderr.log"));
    Bun.spawn({ cmd: [bun, join(root, "bench/stall_syscalls.ts"), join(d, "sys.jsonl"), String(sub.pid)], stdin: "ignore", stdout: "ignore", stderr: "ignore" }).unref();
    if (perf) {
      // The main thread (its tid is the pid), or with STALL_PERF_THREADS=1 every thread (whose
      // lock a spinning main thread waits on), 997 Hz, frame-pointer stacks, realtime stamps.
      const who = process.env["STALL_PERF_THREADS"] === "1" ? ["-p", String(sub.pid)] : ["-t", String(sub.pid)];
      const cmd = ["perf", "record", "-q", "-F", "997", "-g", "-k", "CLOCK_REALTIME", ...who, "-o", join(d, "perf.data")];
      Bun.spawn({ cmd, stdin: "ignore", stdout: "ignore", stderr: openSync(join(d, "perf.log"), "a") }).unref();
    }
    const proc: Proc = { name: `n${i}`, pid: sub.pid, sub, logPath: join(d, "stdout.log"), exited: sub.exited };
    this.procs[i] = proc;
    return proc;
  }

  override async stop(i: number, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const p = this.procs[i];
    if (p === null || p === undefined) return;
    p.sub.kill(signal);
    await p.exited;
    this.procs[i] = null;
  }
}

async function snapshotsSaved(c: HraftdCluster, i: number): Promise<number> {
  try {
    const text = await (await fetch(`${c.url(i)}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    return Number(/^etcd_debugging_snap_save_total_duration_seconds_count (\d+)/m.exec(text)?.[1] ?? -1);
  } catch {
    return -1;
  }
}

async function leaderOf(c: HraftdCluster): Promise<number> {
  for (;;) {
    const l = await c.leader();
    if (l !== null) return l;
    await sleep(100);
  }
}

/** Overwrites the loaded keys at `at`, 100 a request, until `done()` (asked every 100 requests). */
async function overwrite(c: HraftdCluster, at: number, done: () => Promise<boolean>): Promise<number> {
  let next = 0;
  for (let requests = 1; ; requests++) {
    const pairs = Array.from({ length: 100 }, (_, j) => [`key-${(next + j) % keys}`, value16] as const);
    next = (next + 100) % keys;
    await c.writeMany(at, pairs, 10_000);
    if (requests % 100 === 0 && (await done())) return requests;
  }
}

/** The worst stalls of each phase per process, by CPU + blocked time, with what was inside them. */
function summary(dirs: readonly string[], phases: readonly Phase[]): string {
  const syscalls: Record<string, string> = { "1": "write", "18": "pwrite", "74": "fsync", "75": "fdatasync", "202": "futex", "130": "sigsuspend", "263": "unlinkat", "-": "" };
  const lines: string[] = [];
  for (const ph of phases) {
    lines.push(`== ${ph.name} (${((ph.end - ph.start) / 1000).toFixed(1)} s)`);
    for (const d of dirs) {
      const jsonl = (f: string): Record<string, never>[] =>
        existsSync(join(d, f)) ? readFileSync(join(d, f), "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l)) : [];
      const stalls = (jsonl("probe.jsonl") as unknown as { end: number; gapMs: number; cpuMs: number; runqMs: number; blockedMs: number }[])
        .filter((s) => s.end > ph.start && s.end <= ph.end)
        .sort((a, b) => b.cpuMs + b.blockedMs - (a.cpuMs + a.blockedMs));
      if (stalls.length === 0) continue;
      const sys = jsonl("sys.jsonl") as unknown as { from: number; to: number; key: string; wchan: string }[];
      const own = (s: (typeof stalls)[number]): number => s.cpuMs + s.blockedMs;
      lines.push(`  ${d.split("/").pop()}: ${stalls.filter((s) => own(s) > 20).length} stalls over 20 ms (cpu + blocked); worst:`);
      for (const s of stalls.slice(0, 4)) {
        const from = s.end - s.gapMs;
        const inside = sys.filter((r) => r.to > from && r.from < s.end && !r.key.startsWith("R")).map((r) => {
          const [state, nr, file] = r.key.split(" ");
          return `${state} ${syscalls[nr!] ?? nr}${file === undefined ? "" : `(${file})`}${r.wchan === "" ? "" : `/${r.wchan}`} ${(Math.min(r.to, s.end) - Math.max(r.from, from)).toFixed(0)}ms`;
        });
        lines.push(`    ${own(s).toFixed(0)} ms (cpu ${s.cpuMs.toFixed(0)}, blocked ${s.blockedMs.toFixed(0)}, waiting for a CPU ${s.runqMs.toFixed(0)}) ${inside.join(", ")}`);
      }
    }
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  setRunDirs(dir, join(dir, "pids"));
  killAllOnExit();
  console.log(`stall_snapshot: ${keys} keys, ${dir}; members from ${src}`);
  const members: MemberSpec[] = [0, 1, 2].map((i) => ({
    name: `n${i}`, clientPort: portBase + i, peerPort: portBase + 10 + i, dataDir: join(dir, `data${i}`),
  }));
  const c = new TracedCluster(join(src, "main.ts"), members, "traced");
  const phases: Phase[] = [];
  const zero = { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, perSec: 0 };
  try {
    await c.startAll();
    let l = await leaderOf(c);
    let t = now();
    await loadKeys(c, l, "key-", keys, 100);
    phases.push({ name: "load", start: t, end: now(), result: zero });
    const after = await c.leader();
    console.log(`loaded in ${((now() - t) / 1000).toFixed(1)} s; leader ${l} before, ${after} after`);
    await sleep(2_000);
    l = await leaderOf(c);
    for (let round = 0; round < Number(process.env["STALL_ROUNDS"] ?? "1"); round++) {
      const before = await Promise.all([0, 1, 2].map((i) => snapshotsSaved(c, i)));
      t = now();
      await overwrite(c, l, async () => (await Promise.all([0, 1, 2].map((i) => snapshotsSaved(c, i)))).every((n, i) => n > before[i]!));
      phases.push({ name: `snapshot${round}`, start: t, end: now(), result: zero });
    }
    l = await leaderOf(c);
    const f = [0, 1, 2].find((i) => i !== l)!;
    await c.stop(f);
    // The leader must snapshot at an index more than its trailing log (-snapshot-trailing,
    // 10,240 entries) past the follower's last entry, or the follower catches up from the log
    // and installs nothing: two snapshots saved after that many entries, as the pause phase.
    let written = 0;
    let savedAtCrossing: number | null = null;
    await overwrite(c, l, async () => {
      written += 100; // entries: one a request
      const saved = await snapshotsSaved(c, l);
      if (savedAtCrossing === null && written > 10_240 + 1_000) savedAtCrossing = saved;
      return savedAtCrossing !== null && saved >= savedAtCrossing + 2;
    });
    await c.writeMany(l, [["stall-marker", String(process.pid)]], 10_000);
    t = now();
    c.spawn(f);
    await waitUntil(async () => (await c.read(f, "stall-marker", "stale", 1_000)) === String(process.pid), 600_000, 50);
    phases.push({ name: "install", start: t, end: now(), result: zero });
    await sleep(500);
  } finally {
    for (let i = 0; i < 3; i++) c.procs[i]?.sub.kill("SIGTERM");
    await Promise.race([Promise.all(c.procs.map((p) => p?.exited)), sleep(20_000)]);
    killAll();
  }
  for (const d of c.processDirs) {
    writeFileSync(join(d, "phases.json"), JSON.stringify(phases));
    writeFileSync(join(d, "analysis.txt"), analyze(d));
  }
  console.log(summary(c.processDirs, phases));
  console.log(`(per process: ${readdirSync(dir).filter((x) => /^n\d-\d+$/.test(x)).map((x) => `${x}/analysis.txt`).join(", ")})`);
}

await main();
process.exit(0);
