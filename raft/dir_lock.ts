// One process per data directory (DESIGN "Persistence"). Two nodes on one directory both
// run, both lead, both acknowledge writes and corrupt each other's WAL, so a node takes an
// exclusive operating-system lock on <data-dir>/hraftd.lock before it reads anything there and
// holds it for the life of the process. The kernel drops the lock when the holder exits, by
// any means, SIGKILL and power loss included, so a stale lock never blocks a start; the pid
// written into the file only names the holder in the refusal.
//
// How the lock is taken, by runtime:
// - Bun on Linux and macOS: flock(LOCK_EX|LOCK_NB) through bun:ffi (raft/native.ts).
// - Bun on Windows: LockFileEx(LOCKFILE_EXCLUSIVE_LOCK|LOCKFILE_FAIL_IMMEDIATELY) through
//   bun:ffi on a handle from CreateFileW; the locked byte lies far beyond the end of the file,
//   because Windows byte-range locks are mandatory and the pid at offset 0 must stay readable.
// - Deno: Deno.FsFile.tryLockSync(true), which is flock on Unix and LockFileEx on Windows,
//   so a Deno node and a Bun node exclude each other too.
// - Anywhere none of these exists: a lock file created with O_EXCL holding the pid; one left
//   by a process that no longer exists is removed and taken over. Weaker (a reused pid looks
//   alive), but it never lets two live nodes in.

import * as fs from "node:fs";
import { join } from "node:path";
import { type BunFfi, bunFfi, LOCK_EX, LOCK_NB, LOCK_UN, loadLibc, wouldBlockErrno } from "./native.ts";

/** The file locked in the data directory (it stays there; removing it would race a locker). */
export const lockFileName = "hraftd.lock";
/** The fallback lock, present only while its process holds it. */
export const pidLockFileName = "hraftd.pid-lock";

/** A refusal: the directory is locked by another process, or cannot be locked at all. */
export class DirLockError extends Error {
  override readonly name = "DirLockError";
}

/** A lock held on a data directory until `release` (or the end of the process). */
export interface DirLock {
  /** The file the lock is on. */
  readonly path: string;
  /** How it was taken: "flock", "LockFileEx", "deno", or "pid-file". */
  readonly method: string;
  release(): void;
}

/** The pid written in a lock file, or null if there is none (not yet written, unreadable). */
export function lockHolderPid(path: string): number | null {
  try {
    const m = /^(\d+)\n/.exec(fs.readFileSync(path, "utf8"));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

function inUse(dataDir: string, path: string): DirLockError {
  const pid = lockHolderPid(path);
  const holder = pid === null ? "another process" : `another process (pid ${pid})`;
  return new DirLockError(
    `data directory ${dataDir} is in use by ${holder}; stop that node first, or give this one another directory`,
  );
}

function cannotLock(dataDir: string, reason: string): DirLockError {
  return new DirLockError(`cannot lock data directory ${dataDir}: ${reason}`);
}

function pidLine(): Uint8Array {
  return new TextEncoder().encode(`${process.pid}\n`);
}

/** Replaces the content of the open file `fd` with this process's pid. */
function writePid(fd: number): void {
  fs.ftruncateSync(fd, 0);
  const bytes = pidLine();
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, done);
}

/**
 * Takes the exclusive lock on `dataDir` (created if missing), or throws a DirLockError whose
 * message is one line naming the directory and, when known, the holder's pid.
 */
export function lockDataDir(dataDir: string): DirLock {
  makeDir(dataDir);
  const path = join(dataDir, lockFileName);
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (deno !== undefined && typeof deno.openSync === "function") return lockWithDeno(deno, dataDir, path);
  const libc = loadLibc();
  if (libc !== null) return lockWithFlock(libc, dataDir, path);
  const ffi = bunFfi();
  if (ffi !== null && process.platform === "win32") return lockWithLockFileEx(ffi, dataDir, path);
  return lockWithPidFile(dataDir);
}

function makeDir(dataDir: string): void {
  try {
    fs.mkdirSync(dataDir, { recursive: true });
  } catch (e) {
    throw cannotLock(dataDir, (e as Error).message);
  }
}

/** The fallback on its own, for tests: the O_EXCL pid file. */
export function lockDataDirWithPidFile(dataDir: string): DirLock {
  makeDir(dataDir);
  return lockWithPidFile(dataDir);
}

function lockWithFlock(libc: NonNullable<ReturnType<typeof loadLibc>>, dataDir: string, path: string): DirLock {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  } catch (e) {
    throw cannotLock(dataDir, (e as Error).message);
  }
  if (libc.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = libc.errno();
    fs.closeSync(fd);
    if (errno === wouldBlockErrno(process.platform)) throw inUse(dataDir, path);
    throw cannotLock(dataDir, `flock failed (errno ${errno})`);
  }
  writePid(fd);
  let held = true;
  return {
    path,
    method: "flock",
    release() {
      if (!held) return;
      held = false;
      libc.flock(fd, LOCK_UN);
      fs.closeSync(fd);
    },
  };
}

/** The part of Deno's API used here. */
interface DenoLike {
  openSync(path: string, options: { read: boolean; write: boolean; create: boolean }): DenoFile;
}
interface DenoFile {
  tryLockSync?(exclusive: boolean): boolean;
  unlockSync(): void;
  truncateSync(len?: number): void;
  writeSync(bytes: Uint8Array): number;
  close(): void;
}

function lockWithDeno(deno: DenoLike, dataDir: string, path: string): DirLock {
  let file: DenoFile;
  try {
    file = deno.openSync(path, { read: true, write: true, create: true });
  } catch (e) {
    throw cannotLock(dataDir, (e as Error).message);
  }
  if (typeof file.tryLockSync !== "function") {
    file.close();
    return lockWithPidFile(dataDir);
  }
  if (!file.tryLockSync(true)) {
    file.close();
    throw inUse(dataDir, path);
  }
  file.truncateSync(0);
  const bytes = pidLine();
  for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
  let held = true;
  return {
    path,
    method: "deno",
    release() {
      if (!held) return;
      held = false;
      file.unlockSync();
      file.close();
    },
  };
}

const GENERIC_READ_WRITE = 0xc0000000;
const FILE_SHARE_ALL = 0x7; // read | write | delete: others may read the pid
const OPEN_ALWAYS = 4;
const FILE_ATTRIBUTE_NORMAL = 0x80;
const LOCKFILE_FAIL_IMMEDIATELY = 0x1;
const LOCKFILE_EXCLUSIVE_LOCK = 0x2;
const ERROR_LOCK_VIOLATION = 33;
/** The locked byte: at 2^32, far past the pid (OVERLAPPED.OffsetHigh = 1). */
const lockedOffsetHigh = 1;

// Not exercised on the project's Linux machines: kept to the documented Win32 contract.
function lockWithLockFileEx(ffi: BunFfi, dataDir: string, path: string): DirLock {
  const k = ffi.dlopen("kernel32.dll", {
    CreateFileW: { args: ["ptr", "u32", "u32", "ptr", "u32", "u32", "ptr"], returns: "ptr" },
    LockFileEx: { args: ["ptr", "u32", "u32", "u32", "u32", "ptr"], returns: "i32" },
    CloseHandle: { args: ["ptr"], returns: "i32" },
    GetLastError: { args: [], returns: "u32" },
  }).symbols;
  const wide = new Uint16Array(path.length + 1);
  for (let i = 0; i < path.length; i++) wide[i] = path.charCodeAt(i);
  const handle = k["CreateFileW"]!(ffi.ptr(wide), GENERIC_READ_WRITE, FILE_SHARE_ALL, null, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, null);
  // INVALID_HANDLE_VALUE is (HANDLE)-1; a null handle is never valid either.
  if (handle === null || handle === 0 || handle === -1 || handle === 0xffffffffffffffffn) {
    throw cannotLock(dataDir, `CreateFileW failed (error ${String(k["GetLastError"]!())})`);
  }
  // OVERLAPPED on x64: Internal, InternalHigh (8 bytes each), Offset, OffsetHigh, hEvent.
  const overlapped = new Uint32Array(8);
  overlapped[5] = lockedOffsetHigh;
  const ok = k["LockFileEx"]!(handle, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ffi.ptr(overlapped));
  if (ok === 0) {
    const error = Number(k["GetLastError"]!());
    k["CloseHandle"]!(handle);
    if (error === ERROR_LOCK_VIOLATION) throw inUse(dataDir, path);
    throw cannotLock(dataDir, `LockFileEx failed (error ${error})`);
  }
  fs.writeFileSync(path, pidLine());
  let held = true;
  return {
    path,
    method: "LockFileEx",
    release() {
      if (!held) return;
      held = false;
      k["CloseHandle"]!(handle); // closing the handle releases its locks
    },
  };
}

/** True unless `pid` certainly names no process (kill 0 tests existence without a signal). */
function processMayExist(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

function lockWithPidFile(dataDir: string): DirLock {
  const path = join(dataDir, pidLockFileName);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = fs.openSync(path, "wx", 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw cannotLock(dataDir, (e as Error).message);
      const pid = lockHolderPid(path);
      // A file without a pid may be one being written right now: treat it as held.
      if (pid === null || processMayExist(pid)) throw inUse(dataDir, path);
      fs.rmSync(path, { force: true }); // left by a dead process
      continue;
    }
    writePid(fd);
    fs.closeSync(fd);
    let held = true;
    return {
      path,
      method: "pid-file",
      release() {
        if (!held) return;
        held = false;
        fs.rmSync(path, { force: true });
      },
    };
  }
  throw inUse(dataDir, path);
}
