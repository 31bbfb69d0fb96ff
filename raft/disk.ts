// The real Disk on node:fs, synchronous by design (see host.ts). Besides raft/dir_lock.ts
// (the data directory's lock), raft/mapped_files.ts (its helper for removing mapped files) and
// raft/gradual_removal.ts (its way of removing large files), this is the only module under
// raft/ that imports node:fs.
//
// How a sync reaches the media, per OS (what Bun's node:fs does was read in Bun's source,
// src/bun.js/node/node_fs.zig NodeFS.fdatasync/fsync, and libuv's src/win/fs.c):
// - Linux: fdatasync(2) for files, fsync(2) for directories; both flush the drive's cache.
// - macOS: Bun's fdatasync/fsync call libc fdatasync/fsync, which hand the data to the drive
//   without flushing its cache, so under Bun files and directories are synced with
//   fcntl(F_FULLFSYNC) through bun:ffi (raft/native.ts), falling back to fsync only where the
//   file system does not support it (as SQLite does). F_FULLFSYNC has no thread-pool form in
//   Bun, so the "async" sync runs on the event loop there. Under Deno, fdatasync is Rust's
//   File::sync_data, which is F_FULLFSYNC on macOS already.
// - Windows: fdatasync and fsync are both FlushFileBuffers (libuv), which flushes the drive's
//   cache. A directory cannot be flushed through a read-only handle (EPERM), so directory
//   syncs are skipped; see dirSyncRefusals.

import * as fs from "node:fs";
import { dirname, resolve } from "node:path";
import type { Disk, DiskFile, OpenMode } from "./host.ts";
import { type RemovalFs, removeGradually } from "./gradual_removal.ts";
import { MappedFiles } from "./mapped_files.ts";
import { F_FULLFSYNC, type Libc, loadLibc } from "./native.ts";
import { endOfTurn } from "./real_time.ts";
import { unreachable } from "../unreachable.ts";

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

/** How written bytes are made durable: a file's data, or everything (directories). */
export interface Syncer {
  /** "fdatasync" (node:fs) or "F_FULLFSYNC" (macOS under Bun). */
  readonly method: "fdatasync" | "F_FULLFSYNC";
  data(fd: number): void;
  dataAsync(fd: number, done: (error: Error | null) => void): void;
  full(fd: number): void;
  fullAsync(fd: number, done: (error: Error | null) => void): void;
}

/** Errors of F_FULLFSYNC that mean "not supported here" (ENOTSUP, EINVAL, ENOTTY on macOS). */
const fullFsyncUnsupported = new Set([45, 22, 25]);

/** node:fs's own calls: right on Linux and Windows, and under Deno everywhere. */
const nodeFsSyncer: Syncer = {
  method: "fdatasync",
  data: (fd) => fs.fdatasyncSync(fd),
  // The callback form runs fdatasync on the runtime's thread pool, leaving the event loop
  // free to parse requests and take acks while the disk works (measured here: the same
  // latency as the blocking call, where the promise API costs about 1 ms more).
  dataAsync: (fd, done) => fs.fdatasync(fd, (error) => done(error ?? null)),
  full: (fd) => fs.fsyncSync(fd),
  fullAsync: (fd, done) => fs.fsync(fd, (error) => done(error ?? null)),
};

function fullFsyncSyncer(libc: Pick<Libc, "fcntlNoArg" | "errno">): Syncer {
  const sync = (fd: number): void => {
    if (libc.fcntlNoArg(fd, F_FULLFSYNC) !== -1) return;
    const errno = libc.errno();
    if (!fullFsyncUnsupported.has(errno)) {
      throw Object.assign(new Error(`fcntl(F_FULLFSYNC) failed on fd ${fd} (errno ${errno})`), { errno: -errno, code: "EIO" });
    }
    fs.fsyncSync(fd);
  };
  // Bun offers no thread-pool FFI: the sync runs here, its result is delivered after the
  // current task, as a callback from the thread pool would be.
  const async = (fd: number, done: (error: Error | null) => void): void => {
    let error: Error | null = null;
    try {
      sync(fd);
    } catch (e) {
      error = e as Error;
    }
    endOfTurn(() => done(error));
  };
  return { method: "F_FULLFSYNC", data: sync, dataAsync: async, full: sync, fullAsync: async };
}

/**
 * The syncer for `platform`: F_FULLFSYNC on macOS when the C library is reachable (Bun), the
 * node:fs calls otherwise. `libc` is injectable so tests can take the macOS path anywhere.
 */
export function syncerFor(platform: string, libc: Pick<Libc, "fcntlNoArg" | "errno"> | null): Syncer {
  return platform === "darwin" && libc !== null ? fullFsyncSyncer(libc) : nodeFsSyncer;
}

/** One open file descriptor. Positional reads and writes, so the fd offset never matters. */
class FsFile implements DiskFile {
  private fd: number | null;
  private readonly syncer: Syncer;

  constructor(fd: number, syncer: Syncer) {
    this.fd = fd;
    this.syncer = syncer;
  }

  private handle(): number {
    if (this.fd === null) throw new Error("file is closed");
    return this.fd;
  }

  /** The descriptor, for a subclass; throws once closed. */
  protected descriptor(): number {
    return this.handle();
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

  writeAsync(bytes: Uint8Array, position: number, done: (error: Error | null) => void): void {
    const fd = this.handle();
    // The callback form runs pwrite on the runtime's thread pool, as dataAsync does fdatasync.
    const from = (offset: number): void => {
      fs.write(fd, bytes, offset, bytes.length - offset, position + offset, (error, n) => {
        if (error !== null) return done(error);
        if (n === 0 && bytes.length > 0) return done(new Error(`write of ${bytes.length - offset} bytes at ${position + offset} wrote nothing`));
        if (offset + n < bytes.length) return from(offset + n);
        done(null);
      });
    };
    from(0);
  }

  truncate(size: number): void {
    fs.ftruncateSync(this.handle(), size);
  }

  sync(): void {
    this.syncer.data(this.handle());
  }

  syncAsync(done: (error: Error | null) => void): void {
    this.syncer.dataAsync(this.handle(), done);
  }

  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    fs.closeSync(fd);
  }
}

/**
 * Linux: an FsFile that also writes durably through a second descriptor of the same file
 * opened with O_DSYNC, on first use: each pwrite there returns once its bytes, and the size
 * they need, are on the media (the kernel syncs that range and flushes the drive's cache, as
 * fdatasync would), one syscall instead of pwrite + fdatasync. Where the written blocks were
 * already allocated and synced (the WAL's zeros ahead), no journal commit is needed either.
 */
class DsyncFsFile extends FsFile {
  private dsyncFd: number | null = null;

  constructor(
    fd: number,
    syncer: Syncer,
    private readonly path: string,
  ) {
    super(fd, syncer);
  }

  writeDurably(bytes: Uint8Array, position: number): void {
    const fd = this.dsyncFd ?? this.openDsync();
    let done = 0;
    while (done < bytes.length) {
      done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
    }
  }

  /** The O_DSYNC descriptor, refused unless it is the same file as ours (the path was not replaced). */
  private openDsync(): number {
    const fd = fs.openSync(this.path, fs.constants.O_WRONLY | fs.constants.O_DSYNC);
    const ours = fs.fstatSync(this.descriptor());
    const theirs = fs.fstatSync(fd);
    if (ours.ino !== theirs.ino || ours.dev !== theirs.dev) {
      fs.closeSync(fd);
      throw new Error(`${this.path} was replaced while open`);
    }
    this.dsyncFd = fd;
    return fd;
  }

  override close(): void {
    if (this.dsyncFd !== null) {
      const fd = this.dsyncFd;
      this.dsyncFd = null;
      fs.closeSync(fd);
    }
    super.close();
  }
}

// Windows refuses to open or fsync a directory; its NTFS metadata journal is what makes
// renames durable there, so skipping is the documented behaviour (DESIGN "Persistence").
const dirSyncRefusals = new Set(["EPERM", "EISDIR", "EACCES", "EINVAL", "ENOTSUP"]);

/**
 * Lets go of a mapping at once: ArrayBuffer.prototype.transfer(0) detaches the buffer and
 * frees what it owned, which for Bun's mmap is the munmap the collector would otherwise do
 * whenever it next finds the view dead (for a view that outlived a young collection, only at
 * a full one: tens of seconds, the file's pages resident meanwhile). Only buffers in `mapped`
 * are touched, so a caller's mistake can never empty a buffer of another origin.
 */
function unmapper(mapped: WeakSet<ArrayBufferLike>): (view: Uint8Array) => void {
  return (view) => {
    const buffer = view.buffer as ArrayBufferLike & { transfer?: (length: number) => ArrayBuffer };
    if (!mapped.has(buffer) || typeof buffer.transfer !== "function") return;
    mapped.delete(buffer);
    buffer.transfer(0);
  };
}

/**
 * Bun's mmap, where a mapped file may be removed: POSIX keeps the pages of an unlinked file,
 * Windows refuses to remove a mapped one (and old snapshots are removed), and Deno has none.
 */
function fileMapper(): ((path: string) => Uint8Array) | undefined {
  const bun = (globalThis as { Bun?: { mmap(path: string, options: { shared: boolean }): Uint8Array } }).Bun;
  if (bun === undefined || process.platform === "win32") return undefined;
  return (path) => bun.mmap(path, { shared: false });
}

/** What createFsDisk may be given instead of the real platform (tests). */
export interface FsDiskOptions {
  readonly platform?: string;
  readonly libc?: Pick<Libc, "fcntlNoArg" | "errno"> | null;
  /** The calls removeAsync and the release of removed mapped files make (tests watch them). */
  readonly removalFs?: RemovalFs;
  /** false: as where the process's mappings cannot be read (macOS), whatever this OS (tests). */
  readonly seesMappings?: boolean;
}

/** The sync method the real Disk uses on this machine and runtime. */
export function fsSyncMethod(): Syncer["method"] {
  return syncerFor(process.platform, loadLibc()).method;
}

/** Creates the real Disk. */
export function createFsDisk(options: FsDiskOptions = {}): Disk {
  const mapper = fileMapper();
  // A removed file still mapped is let go of off the loop, never by the collector's munmap.
  const mapped = mapper === undefined || options.seesMappings === false ? null : MappedFiles.forPlatform(options.removalFs);
  // A file is shrunk before its removal only where none can be mapped unseen: shrinking one
  // under a live mapping would fault its reader (SIGBUS) where an unlink leaves its pages.
  const shrinksRemoved = mapper === undefined || mapped !== null;
  const views = new WeakSet<ArrayBufferLike>();
  const mapFile =
    mapper === undefined
      ? undefined
      : (path: string): Uint8Array => {
          const view = mapper(path);
          views.add(view.buffer);
          mapped?.noteMapped(path);
          return view;
        };
  const platform = options.platform ?? process.platform;
  const syncer = syncerFor(platform, options.libc !== undefined ? options.libc : loadLibc());
  // O_DSYNC is fdatasync's per-write form on Linux; elsewhere (macOS: no drive-cache flush
  // without F_FULLFSYNC) the WAL keeps write + sync.
  const isDsync = platform === "linux" && process.platform === "linux" && fs.constants.O_DSYNC !== undefined;
  return {
    ...(mapFile === undefined ? {} : { mapFile, unmapFile: unmapper(views) }),
    open(path: string, mode: OpenMode): DiskFile {
      const fd = fs.openSync(path, openFlags(mode), 0o644);
      return isDsync && mode !== "read" ? new DsyncFsFile(fd, syncer, path) : new FsFile(fd, syncer);
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
      const held = mapped?.holdBeforeRemoval(path) ?? [];
      try {
        fs.rmSync(path, { recursive: true, force: true });
      } finally {
        mapped?.release(held);
      }
    },
    removeAsync(path, done) {
      const held = mapped?.holdBeforeRemoval(path) ?? [];
      // A few MB at a time: freeing a large file at once stalls every writer on the device,
      // the other members' WAL appends included (raft/gradual_removal.ts).
      const removed = (error: Error | null): void => {
        mapped?.release(held);
        done(error);
      };
      if (shrinksRemoved) removeGradually(path, new Set(held.map((h) => h.ino)), removed, options.removalFs);
      else (options.removalFs ?? fs).rm(path, { recursive: true, force: true }, removed);
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
        syncer.full(fd);
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
        syncer.fullAsync(fd, (syncError) => {
          fs.close(fd, () => {
            const code = (syncError as NodeJS.ErrnoException | null)?.code ?? "";
            done(syncError === null || dirSyncRefusals.has(code) ? null : syncError);
          });
        });
      });
    },
  };
}
