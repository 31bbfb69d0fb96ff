// A Disk that removes a directory the way `rm -rf` does (one file at a time, then the
// directories, deepest first) and can stop part-way, as a crash or power loss would: what
// was removed stays removed and the rest stays. Everything else goes to the disk it wraps.

import { join } from "node:path";
import type { Disk, DiskFile, OpenMode } from "../../raft/host.ts";

/** Thrown when an armed interruption fires in the middle of a recursive removal. */
export class RemovalInterrupted extends Error {
  override readonly name = "RemovalInterrupted";
}

/** The wrapper; `inner` may be the real file system, MemDisk or SimDisk. */
export class InterruptingDisk implements Disk {
  /** Names removed one by one so far (files and directories), for assertions. */
  readonly removed: string[] = [];
  private removalsLeft = -1;

  constructor(private readonly inner: Disk) {
    // Optional seams are offered only where the wrapped disk has them.
    if (inner.syncDirAsync !== undefined) this.syncDirAsync = (dir, done) => inner.syncDirAsync!(dir, done);
    if (inner.mapFile !== undefined) this.mapFile = (path) => inner.mapFile!(path);
    if (inner.unmapFile !== undefined) this.unmapFile = (view) => inner.unmapFile!(view);
  }

  syncDirAsync?(dir: string, done: (error: Error | null) => void): void;
  mapFile?(path: string): Uint8Array;
  unmapFile?(view: Uint8Array): void;

  /** The next recursive removal stops after removing `n` names (files or directories). */
  interruptAfter(n: number): void {
    this.removalsLeft = n;
  }

  /** True while an interruption is armed and has not fired. */
  get isArmed(): boolean {
    return this.removalsLeft >= 0;
  }

  remove(path: string): void {
    if (!this.inner.exists(path)) return;
    if (!this.inner.isDir(path)) {
      this.removeOne(path);
      return;
    }
    for (const name of this.inner.list(path)) this.remove(join(path, name));
    this.removeOne(path);
  }

  private removeOne(path: string): void {
    if (this.removalsLeft === 0) {
      this.removalsLeft = -1;
      throw new RemovalInterrupted(`removal interrupted before ${path}`);
    }
    if (this.removalsLeft > 0) this.removalsLeft--;
    this.inner.remove(path);
    this.removed.push(path);
  }

  open(path: string, mode: OpenMode): DiskFile {
    return this.inner.open(path, mode);
  }
  readFile(path: string): Uint8Array {
    return this.inner.readFile(path);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  isDir(path: string): boolean {
    return this.inner.isDir(path);
  }
  list(dir: string): string[] {
    return this.inner.list(dir);
  }
  mkdirp(dir: string): void {
    this.inner.mkdirp(dir);
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to);
  }
  syncDir(dir: string): void {
    this.inner.syncDir(dir);
  }
}
