// Work counted per turn of the event loop (issue 18: no turn grows with the state): a
// scheduler whose deferred work the test runs a turn at a time, and a MemDisk whose syncs
// complete in a later turn, counting what each turn wrote and removed, with an operation log.

import type { Disk, DiskFile, OpenMode, Scheduler } from "../../../raft/host.ts";
import { MemDisk } from "../../../raft/mem_disk.ts";

/** Work done in the turn running now, by kind: bytes written, copied, decoded; files removed. */
export interface TurnBytes {
  written: number;
  copied: number;
  decoded: number;
  removed: number;
}

const kinds = ["written", "copied", "decoded", "removed"] as const;

function none(): TurnBytes {
  return { written: 0, copied: 0, decoded: 0, removed: 0 };
}

/** Runs work a turn at a time and keeps the largest count of each kind seen in one turn. */
export class Turns {
  readonly queue: (() => void)[] = [];
  now: TurnBytes = none();
  worst: TurnBytes = none();
  count = 0;
  readonly scheduler: Scheduler = { defer: (fn) => this.queue.push(fn) };

  /** One turn: `fn`, then every microtask it caused (setImmediate runs after them all). */
  async turn(fn: () => void): Promise<void> {
    this.now = none();
    fn();
    await new Promise((resolve) => setImmediate(resolve));
    this.count++;
    for (const k of kinds) this.worst[k] = Math.max(this.worst[k], this.now[k]);
  }

  /** Runs deferred work until there is none (or `until` holds). */
  async run(until: () => boolean = () => false, turnsMax = 100_000): Promise<void> {
    for (let i = 0; i < turnsMax && this.queue.length > 0 && !until(); i++) await this.turn(this.queue.shift()!);
  }
}

/** A MemDisk whose syncs complete in a later turn, counting bytes written per turn, with an operation log. */
export class TurnDisk implements Disk {
  readonly inner = new MemDisk();
  readonly log: string[] = [];
  /** True inside a write: the MemDisk's own buffer copies are the write, not a copy to count. */
  isWriting = false;
  constructor(private readonly turns: Turns) {}

  open(path: string, mode: OpenMode): DiskFile {
    const f = this.inner.open(path, mode);
    const disk = this;
    return {
      size: () => f.size(),
      read: (p, n) => f.read(p, n),
      write(bytes, position) {
        disk.turns.now.written += bytes.length;
        disk.isWriting = true;
        try {
          f.write(bytes, position);
        } finally {
          disk.isWriting = false;
        }
      },
      // Off the loop as the real disk's thread pool: not counted in the turn that asked. The
      // bytes land at once (a schedule the pool allows), `done` runs in a later turn.
      writeAsync(bytes, position, done) {
        disk.log.push(`writeAsync ${path}`);
        disk.isWriting = true;
        try {
          f.write(bytes, position);
        } finally {
          disk.isWriting = false;
        }
        disk.turns.scheduler.defer(() => {
          disk.log.push(`written ${path}`);
          done(null);
        });
      },
      truncate: (n) => f.truncate(n),
      sync() {
        disk.log.push(`sync ${path}`);
      },
      syncAsync(done) {
        disk.turns.scheduler.defer(() => {
          disk.log.push(`sync ${path}`);
          done(null);
        });
      },
      close: () => f.close(),
    };
  }
  readFile = (p: string): Uint8Array => this.inner.readFile(p);
  exists = (p: string): boolean => this.inner.exists(p);
  isDir = (p: string): boolean => this.inner.isDir(p);
  list = (d: string): string[] => this.inner.list(d);
  mkdirp = (d: string): void => this.inner.mkdirp(d);
  rename(from: string, to: string): void {
    this.log.push(`rename ${from} ${to}`);
    this.inner.rename(from, to);
  }
  remove(p: string): void {
    this.turns.now.removed++;
    this.log.push(`remove ${p}`);
    this.inner.remove(p);
  }
  syncDir(d: string): void {
    this.log.push(`syncDir ${d}`);
  }
  syncDirAsync(d: string, done: (error: Error | null) => void): void {
    this.turns.scheduler.defer(() => {
      this.log.push(`syncDir ${d}`);
      done(null);
    });
  }
  /** A removal off the loop: done in a later turn, and not counted in the turn that asked. */
  removeAsync(p: string, done: (error: Error | null) => void): void {
    this.turns.scheduler.defer(() => {
      this.log.push(`removeAsync ${p}`);
      this.inner.remove(p);
      done(null);
    });
  }
  /** A "mapped" view: a copy of the file, standing for a view backed by it. */
  mapFile(path: string): Uint8Array {
    return this.inner.readFile(path);
  }
}
