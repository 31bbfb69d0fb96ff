// The real Disk on node:fs, synchronous by design (see host.ts). This is the only module
// under raft/ that imports node:fs.

import * as fs from "node:fs";
import { dirname, resolve } from "node:path";
import type { Disk, DiskFile, OpenMode } from "./host.ts";

/** "a+" would force every write to the end on POSIX, ignoring positions: use O_RDWR|O_CREAT. */
function openFlags(mode: OpenMode): string | number {
  switch (mode) {
    case "read":
      return "r";
    case "write":
      return fs.constants.O_RDWR | fs.constants.O_CREAT;
    case "create":
      return "w+";
    default:
      return unreachable(mode);
  }
}

function unreachable(x: never): never {
  throw new Error(`unknown open mode ${String(x)}`);
}

/** One open file descriptor. Positional reads and writes, so the fd offset never matters. */
class FsFile implements DiskFile {
  private fd: number | null;

  constructor(fd: number) {
    this.fd = fd;
  }

  private handle(): number {
    if (this.fd === null) throw new Error("file is closed");
    return this.fd;
  }

  size(): number {
    return fs.fstatSync(this.handle()).size;
  }

  read(position: number, length: number): Uint8Array {
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.handle(), buf, done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done === length ? buf : buf.subarray(0, done);
  }

  write(bytes: Uint8Array, position: number): void {
    let done = 0;
    while (done < bytes.length) {
      done += fs.writeSync(this.handle(), bytes, done, bytes.length - done, position + done);
    }
  }

  truncate(size: number): void {
    fs.ftruncateSync(this.handle(), size);
  }

  sync(): void {
    fs.fdatasyncSync(this.handle());
  }

  // The callback form runs fdatasync on the runtime's thread pool, leaving the event loop
  // free to parse requests and take acks while the disk works (measured here: the same
  // latency as the blocking call, where the promise API costs about 1 ms more).
  syncAsync(done: (error: Error | null) => void): void {
    fs.fdatasync(this.handle(), (error) => done(error ?? null));
  }

  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    fs.closeSync(fd);
  }
}

// Windows refuses to open or fsync a directory; its NTFS metadata journal is what makes
// renames durable there, so skipping is the documented behaviour (DESIGN "Persistence").
const dirSyncRefusals = new Set(["EPERM", "EISDIR", "EACCES", "EINVAL", "ENOTSUP"]);

/**
 * Bun's mmap, where a mapped file may be removed: POSIX keeps the pages of an unlinked file,
 * Windows refuses to remove a mapped one (and old snapshots are removed), and Deno has none.
 */
function fileMapper(): ((path: string) => Uint8Array) | undefined {
  const bun = (globalThis as { Bun?: { mmap(path: string, options: { shared: boolean }): Uint8Array } }).Bun;
  if (bun === undefined || process.platform === "win32") return undefined;
  return (path) => bun.mmap(path, { shared: false });
}

/** Creates the real Disk. */
export function createFsDisk(): Disk {
  const mapFile = fileMapper();
  return {
    ...(mapFile === undefined ? {} : { mapFile }),
    open(path: string, mode: OpenMode): DiskFile {
      return new FsFile(fs.openSync(path, openFlags(mode), 0o644));
    },
    readFile: (path) => new Uint8Array(fs.readFileSync(path)),
    exists: (path) => fs.existsSync(path),
    isDir(path) {
      try {
        return fs.statSync(path).isDirectory();
      } catch {
        return false;
      }
    },
    list(dir) {
      if (!fs.existsSync(dir)) return [];
      return fs.readdirSync(dir).sort();
    },
    mkdirp(dir) {
      // A new directory's name is durable only once its parent is synced.
      const missing: string[] = [];
      for (let p = resolve(dir); !fs.existsSync(p); p = dirname(p)) {
        missing.push(p);
        if (dirname(p) === p) break;
      }
      if (missing.length === 0) return;
      fs.mkdirSync(dir, { recursive: true });
      for (const p of missing.reverse()) this.syncDir(dirname(p));
    },
    rename(from, to) {
      fs.renameSync(from, to);
    },
    remove(path) {
      fs.rmSync(path, { recursive: true, force: true });
    },
    syncDir(dir) {
      let fd: number;
      try {
        fd = fs.openSync(dir, "r");
      } catch (err) {
        if (dirSyncRefusals.has((err as NodeJS.ErrnoException).code ?? "")) return;
        throw err;
      }
      try {
        fs.fsyncSync(fd);
      } catch (err) {
        if (!dirSyncRefusals.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      } finally {
        fs.closeSync(fd);
      }
    },
    syncDirAsync(dir, done) {
      fs.open(dir, "r", (openError, fd) => {
        if (openError !== null) {
          done(dirSyncRefusals.has(openError.code ?? "") ? null : openError);
          return;
        }
        fs.fsync(fd, (syncError) => {
          fs.close(fd, () => {
            done(syncError === null || dirSyncRefusals.has(syncError.code ?? "") ? null : syncError);
          });
        });
      });
    },
  };
}
