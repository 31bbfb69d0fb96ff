// What a process's main thread is doing when it is not running JavaScript, seen from outside
// (issue 18): every ~1 ms it reads /proc/<pid>/task/<pid>/stat (state) and, unless the thread
// is running, /proc/<pid>/task/<pid>/syscall (the system call it sleeps in) and wchan. Runs of
// one (state, syscall) lasting 5 ms or more are written as JSON lines
//   {"pid", "from", "to" (epoch ms), "key": "<state> <syscall number|running|->", "wchan"}
// leaving out the idle wait (epoll_wait 232, epoll_pwait 281). D fdatasync (75) in
// folio_wait_bit means a sync on the loop waiting for the disk; S futex (202) the thread waiting
// for another (the collector's helpers); S rt_sigsuspend (130) a sampling profiler suspending
// it (so do not trust "blocked" time with --cpu-prof on a loaded machine).
// bench/stall_snapshot.ts starts one per node; it exits when every pid has.
//
//   bun bench/stall_syscalls.ts <out.jsonl> <pid> [<pid> …]

import { closeSync, openSync, readlinkSync, readSync, writeSync } from "node:fs";

const out = openSync(process.argv[2]!, "a");
const pids = process.argv.slice(3).map(Number);
const buf = Buffer.alloc(512);
const idle = new Set(["232", "281"]);
const runMinMs = 5;

function read(path: string): string | null {
  try {
    const fd = openSync(path, "r");
    const n = readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
    return buf.toString("latin1", 0, n);
  } catch {
    return null; // the process is gone
  }
}

/** write, pwrite64, fsync, fdatasync, writev, pwritev. */
const fileCalls = new Set(["1", "18", "74", "75", "20", "296"]);

/** The path behind a descriptor of `pid`, shortened to its last two parts ("" if gone). */
function fileOf(pid: number, fd: number): string {
  try {
    return readlinkSync(`/proc/${pid}/fd/${fd}`).split("/").slice(-2).join("/");
  } catch {
    return "";
  }
}

const now = (): number => performance.timeOrigin + performance.now();
const current = new Map<number, { key: string; from: number; wchan: string }>();
const tick = new Int32Array(new SharedArrayBuffer(4));
for (;;) {
  let alive = 0;
  for (const pid of pids) {
    const stat = read(`/proc/${pid}/task/${pid}/stat`);
    if (stat === null) continue;
    alive++;
    const close = stat.lastIndexOf(")");
    const state = stat.slice(close + 2, close + 3);
    const call = state === "R" ? ["-"] : (read(`/proc/${pid}/task/${pid}/syscall`) ?? "?").trim().split(" ");
    const sys = call[0]!;
    // A write or sync names its file (the first argument is the descriptor): which of the
    // WAL, a snapshot or the stable state the loop waited on.
    const file = fileCalls.has(sys) && call[1] !== undefined ? fileOf(pid, Number(call[1])) : "";
    const key = `${state} ${sys}${file === "" ? "" : ` ${file}`}`;
    const t = now();
    const c = current.get(pid);
    if (c !== undefined && c.key === key) continue;
    if (c !== undefined && t - c.from >= runMinMs && !idle.has(c.key.split(" ")[1]!)) {
      writeSync(out, JSON.stringify({ pid, from: +c.from.toFixed(1), to: +t.toFixed(1), key: c.key, wchan: c.wchan }) + "\n");
    }
    current.set(pid, { key, from: t, wchan: state === "R" ? "" : read(`/proc/${pid}/task/${pid}/wchan`) ?? "" });
  }
  if (alive === 0) break;
  Atomics.wait(tick, 0, 0, 1);
}
