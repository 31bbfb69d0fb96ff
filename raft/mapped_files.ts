// Who lets go of a removed file that is still mapped (issue 18: event-loop pauses at 10 M keys).
//
// A snapshot's state is held as a mapping (Disk.mapFile) and may be removed while mapped:
// POSIX keeps the inode alive for the mapping. Its blocks are freed only when the last
// reference goes, and if that is the mapping, it goes when the collector destroys the view, on
// the event loop: a follower's loop was measured in munmap for 67-73 ms there, freeing the
// extents of a ~300 MB deleted snapshot (the file system is mounted with discard), where the
// unlink itself had been moved off the loop.
//
// So before a mapped file is removed, the disk opens a descriptor to it and keeps it: the
// munmap is then never the last reference, and costs only the unmapping. Once the process's
// memory map (/proc/self/maps) no longer lists the file's inode, the file is shrunk through
// the descriptor a few MB at a time and the descriptor closed, all off the loop (node:fs's
// callback calls run on the runtime's thread pool): freeing the blocks at once would stall
// every writer on the device (raft/gradual_removal.ts). Linux only (it needs
// /proc/self/maps); elsewhere nothing is held, as before.

import * as fs from "node:fs";
import { join } from "node:path";
import { type RemovalFs, shrinkThenClose } from "./gradual_removal.ts";
import { unrefInterval } from "./real_time.ts";

/** How often the held descriptors are looked at while any is held. */
const checkEveryMs = 1_000;
const mapsPath = "/proc/self/maps";

/** A removed file's descriptor, held until no mapping of its inode is left. */
interface Held {
  /** Null where it could not be opened: its blocks are freed at the unlink, as before. */
  readonly fd: number | null;
  readonly ino: string;
}

export class MappedFiles {
  /** Files handed out as mappings: `dev:ino` -> ino (decimal, as /proc/self/maps prints it). */
  readonly #mapped = new Map<string, string>();
  readonly #held: Held[] = [];
  #stopTimer: (() => void) | null = null;
  #reading = false;

  /** `fsx`: the calls that shrink and close a let-go file (tests watch them). */
  constructor(private readonly fsx: RemovalFs = fs) {}

  /** Holds nothing where the process's memory map cannot be read. */
  static forPlatform(fsx?: RemovalFs): MappedFiles | null {
    return process.platform === "linux" && fs.existsSync(mapsPath) ? new MappedFiles(fsx) : null;
  }

  /** Notes that the file at `path` was just mapped. */
  noteMapped(path: string): void {
    try {
      const st = fs.statSync(path, { bigint: true });
      this.#mapped.set(`${st.dev}:${st.ino}`, String(st.ino));
    } catch {
      // not noted: its removal then frees it as before
    }
  }

  /**
   * Before `path` (a file or a directory tree) is removed: opens a descriptor to each mapped
   * file in it, and lists one that cannot be opened with a null descriptor (never to be shrunk,
   * raft/gradual_removal.ts). Pass the result to release() once the removal is done (or failed).
   */
  holdBeforeRemoval(path: string): Held[] {
    if (this.#mapped.size === 0) return [];
    const held: Held[] = [];
    const visit = (p: string): void => {
      let st: fs.BigIntStats;
      try {
        st = fs.lstatSync(p, { bigint: true });
      } catch {
        return; // absent: nothing to hold
      }
      if (st.isDirectory()) {
        for (const name of fs.readdirSync(p)) visit(join(p, name));
        return;
      }
      const key = `${st.dev}:${st.ino}`;
      const ino = this.#mapped.get(key);
      if (ino === undefined) return;
      this.#mapped.delete(key);
      // For writing, so that it can be shrunk before its close (read-only: freed at the close).
      // Listed even if it cannot be opened (EMFILE...): the caller must not shrink it either.
      let fd: number | null = null;
      for (const flags of ["r+", "r"]) {
        try {
          fd = fs.openSync(p, flags);
          break;
        } catch {
          // not held: its blocks are freed as before
        }
      }
      held.push({ fd, ino });
    };
    visit(path);
    return held;
  }

  /** Keeps `held` until their inodes are no longer mapped, then closes them off the loop. */
  release(held: readonly Held[]): void {
    const open = held.filter((h) => h.fd !== null);
    if (open.length === 0) return;
    this.#held.push(...open);
    this.#stopTimer ??= unrefInterval(() => this.#check(), checkEveryMs);
  }

  /** Descriptors held now (tests). */
  get heldCount(): number {
    return this.#held.length;
  }

  #check(): void {
    if (this.#reading) return;
    this.#reading = true;
    fs.readFile(mapsPath, "latin1", (error, text) => {
      this.#reading = false;
      // Unreadable: let go of everything (a pause maybe, as before, but never a leak).
      const mappedInodes = error === null ? inodesIn(text) : new Set<string>();
      for (let i = this.#held.length - 1; i >= 0; i--) {
        const h = this.#held[i]!;
        if (mappedInodes.has(h.ino)) continue;
        this.#held.splice(i, 1);
        shrinkThenClose(h.fd!, () => undefined, this.fsx);
      }
      if (this.#held.length === 0 && this.#stopTimer !== null) {
        this.#stopTimer();
        this.#stopTimer = null;
      }
    });
  }
}

/** The inode column of each line of /proc/<pid>/maps ("addr perms offset dev inode path"). */
function inodesIn(maps: string): Set<string> {
  const inodes = new Set<string>();
  for (const line of maps.split("\n")) {
    const fields = line.split(" ", 5);
    if (fields.length === 5 && fields[4] !== "0") inodes.add(fields[4]!);
  }
  return inodes;
}
