// How much written data the operating system holds that has not reached the device yet: what
// a sync issued now may have to wait behind (raft/loop_sync.ts). On Linux that is the page
// cache's Dirty (written, not yet sent) plus Writeback (sent, not yet done) in /proc/meminfo,
// for every file of every process: a node cannot see the other members' snapshot writes any
// other way, and on a shared disk its own fdatasync queues behind their writeback. Elsewhere
// there is no such figure and no reader.

import { closeSync, openSync, readSync } from "node:fs";

/** The fields summed, each a line "<name>: <n> kB". */
const fields = ["\nDirty:", "\nWriteback:"] as const;

/**
 * A reader of the backlog in bytes, or undefined where the OS gives none (not Linux). The
 * file is opened at the first reading and kept open, read again from its start each time (one
 * pread, ~15 µs here). A file that cannot be opened or read, or a text that cannot be parsed,
 * reads as no backlog: a surprise costs only the early warning, never a sync.
 */
export function writebackBacklogReader(platform: string = process.platform, path = "/proc/meminfo"): (() => number) | undefined {
  if (platform !== "linux") return undefined;
  let fd: number | null = null;
  let isBroken = false;
  const buf = Buffer.alloc(16 * 1024);
  return (): number => {
    if (isBroken) return 0;
    try {
      fd ??= openSync(path, "r");
      return backlogBytesOf(buf.toString("latin1", 0, readSync(fd, buf, 0, buf.length, 0)));
    } catch {
      isBroken = true; // not readable after all: stop asking
      if (fd !== null) closeSync(fd);
      return 0;
    }
  };
}

/** Dirty + Writeback of a /proc/meminfo text, in bytes; 0 if either is missing or malformed. */
export function backlogBytesOf(meminfo: string): number {
  let kib = 0;
  for (const name of fields) {
    const at = meminfo.indexOf(name);
    if (at < 0) return 0;
    const n = Number.parseInt(meminfo.slice(at + name.length, meminfo.indexOf("\n", at + 1)), 10);
    if (!Number.isSafeInteger(n) || n < 0) return 0;
    kib += n;
  }
  return kib * 1024;
}
