// Per-thread CPU time and bytes written to storage of a process, from /proc (Linux only):
// the ceiling phase needs the leader's main thread apart from Bun's helper threads (GC,
// pools), and the large-values phase needs what the nodes really wrote to disk.

import { readdirSync, readFileSync } from "node:fs";
import { clockTicksPerSecond } from "./procs.ts";

/** One thread's name (comm) and user + system CPU seconds so far. */
export interface ThreadCpu {
  readonly tid: number;
  readonly name: string;
  readonly seconds: number;
}

/** utime + stime of a /proc stat line, in seconds (fields counted after the command's ')'). */
function statSeconds(text: string): number {
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
}

/** CPU seconds of thread `tid` of `pid` (the main thread is tid = pid); 0 if gone. */
export function threadCpuSeconds(pid: number, tid = pid): number {
  try {
    return statSeconds(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"));
  } catch {
    return 0;
  }
}

/** Every thread of `pid` with its CPU seconds so far ([] if the process is gone). */
export function threadsCpu(pid: number): ThreadCpu[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tids.flatMap((t) => {
    try {
      const name = readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim();
      return [{ tid: Number(t), name, seconds: statSeconds(readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8")) }];
    } catch {
      return []; // the thread ended between the listing and the read
    }
  });
}

/**
 * CPU seconds per thread between two `threadsCpu` readings, grouped by thread name (Bun's
 * pools have many threads of one name), largest first; the main thread is named "main".
 */
export function threadCpuDelta(pid: number, before: readonly ThreadCpu[], after: readonly ThreadCpu[]): [string, number][] {
  const was = new Map(before.map((t) => [t.tid, t.seconds]));
  const byName = new Map<string, number>();
  for (const t of after) {
    const name = t.tid === pid ? "main" : t.name;
    byName.set(name, (byName.get(name) ?? 0) + t.seconds - (was.get(t.tid) ?? 0));
  }
  return [...byName].filter(([, s]) => s > 0).sort((a, b) => b[1] - a[1]);
}

/** Bytes `pid` caused to be written to storage so far (/proc/<pid>/io write_bytes); 0 if gone. */
export function storageWriteBytes(pid: number): number {
  try {
    const m = /^write_bytes:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}
