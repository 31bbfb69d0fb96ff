// What the machine is and what it can do without us: CPU, kernel, memory, load, tool
// versions, and the disk's rate of small appends each followed by fdatasync.

import { closeSync, fdatasyncSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { runText } from "./procs.ts";

/** Appends of `bytes` each followed by fdatasync, for `seconds`: syncs per second. */
export function fdatasyncRate(dir: string, seconds: number, bytes = 256): number {
  const path = `${dir}/fsync-probe`;
  const fd = openSync(path, "w");
  const buf = new Uint8Array(bytes).fill(7);
  let count = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    writeSync(fd, buf);
    fdatasyncSync(fd);
    count++;
  }
  const rate = count / ((performance.now() - t0) / 1000);
  closeSync(fd);
  rmSync(path);
  return rate;
}

function cpuModel(): string {
  const m = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
  return m?.[1]?.trim() ?? "unknown";
}

/** Load average over 1, 5 and 15 minutes, as /proc/loadavg has it. */
export function loadAvg(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

/** The machine description for RESULTS.md. */
export function describeMachine(dir: string, bunVersion: string): Record<string, string> {
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  return {
    "nproc": runText(["nproc"]),
    "CPU model": cpuModel(),
    "kernel": runText(["uname", "-r"]),
    "memory": `${(memKb / 2 ** 20).toFixed(1)} GiB`,
    "load average at start (1/5/15 min)": loadAvg(),
    "disk: 256-byte append + fdatasync, one appender": `${Math.round(fdatasyncRate(dir, 1))}/s`,
    "bun": bunVersion,
    "etcd": runText(["etcd", "--version"]).split("\n")[0] ?? "",
    "wrk": (runText(["wrk", "-v"]).split("\n")[0] ?? "").trim(),
  };
}
