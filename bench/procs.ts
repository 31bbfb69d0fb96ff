// Processes the benchmark starts: spawning with logs in the run's directory, tracking every
// pid (in memory and in a pid file the bash wrapper's trap reads), killing them all on any
// exit, and reading CPU time and RSS of a pid from /proc.

import { appendFileSync, openSync, readFileSync, closeSync } from "node:fs";
import type { Subprocess } from "bun";

/** A process this run started, with the log file its stdout and stderr go to. */
export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly sub: Subprocess;
  readonly logPath: string;
  /** Resolves with the exit code (or signal number + 128) once the process has exited. */
  readonly exited: Promise<number>;
}

const live = new Set<Proc>();
let pidFile: string | null = null;
let logDir = "/tmp";

/** Where pids and logs go; the bash wrapper passes BENCH_PIDFILE so its trap can clean up too. */
export function setRunDirs(dir: string, pids: string): void {
  logDir = dir;
  pidFile = pids;
}

/** Starts `cmd` with stdout and stderr appended to <run dir>/<name>.log; tracked until it exits. */
export function spawnTracked(name: string, cmd: string[], env?: Record<string, string>): Proc {
  const logPath = `${logDir}/${name}.log`;
  const fd = openSync(logPath, "a");
  const sub = Bun.spawn({
    cmd,
    stdin: "ignore",
    stdout: fd,
    stderr: fd,
    env: env === undefined ? process.env : { ...process.env, ...env },
  });
  closeSync(fd);
  const proc: Proc = {
    name,
    pid: sub.pid,
    sub,
    logPath,
    exited: sub.exited.then((code) => {
      live.delete(proc);
      return code;
    }),
  };
  live.add(proc);
  if (pidFile !== null) appendFileSync(pidFile, `${sub.pid}\n`);
  return proc;
}

/** Sends `signal` and waits for the exit (SIGKILL after `graceMs` if it lingers). */
export async function stopProc(proc: Proc, signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<void> {
  if (!live.has(proc)) return;
  proc.sub.kill(signal);
  const timer = setTimeout(() => proc.sub.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** SIGKILLs every tracked process now (synchronous: safe in exit handlers). */
export function killAll(): void {
  for (const proc of live) {
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** Installs handlers so that any way out of this process kills what it started. */
export function killAllOnExit(): void {
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ; 100 on every Linux we target). */
export const clockTicksPerSecond = 100;

/** User + system CPU time of `pid` so far, in seconds (0 if the process is gone). */
export function cpuSeconds(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return 0;
  }
  // The command name (field 2) may hold spaces: fields are counted after its closing ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicksPerSecond;
}

/** Resident set size of `pid` in bytes (VmRSS), or 0 if the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` every `everyMs` until it returns true; false once `limitMs` has passed. */
export async function waitUntil(probe: () => Promise<boolean>, limitMs: number, everyMs = 20): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    if (await probe().catch(() => false)) return true;
    await sleep(everyMs);
  }
  return false;
}

/** Output of a short command run to completion (for du, nproc, versions). */
export function runText(cmd: string[]): string {
  const out = Bun.spawnSync({ cmd, stdout: "pipe", stderr: "pipe" });
  return `${out.stdout.toString()}${out.stderr.toString()}`.trim();
}

/** Bytes under a directory, as `du -sb` counts them. */
export function dirBytes(dir: string): number {
  return Number(runText(["du", "-sb", dir]).split(/\s+/)[0] ?? 0);
}
