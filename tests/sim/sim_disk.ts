// A simulated Disk that knows which bytes and names are durable. crash() keeps only what
// was fsynced, and in "tear" mode also any of what was not: a random prefix of the directory
// operations, and for file contents any subset of the changed 4 KiB pages, persisted in any
// order, some of them torn at 512-byte sectors (the model of raft/wal.ts's header comment).
// crashPersisting() is the same power loss with the pages chosen by the test;
// crashKeepingNameOps() keeps any subset of the unsynced name changes, chosen by the test
// (a file system may persist names not yet synced in any order); corrupt() is opt-in damage
// of synced data for detection tests. For the simulated world: armCrash() crashes in the middle
// of an operation, armFault() makes one fail with EIO or ENOSPC (a failed fsync drops the
// file's dirty pages, as Linux does after a writeback error), and stepwiseRemoval makes a
// recursive removal one unlink per file, so a crash can stop it part-way.

import { dirname, normalize } from "node:path";
import type { Disk, DiskFile, OpenMode } from "../../raft/host.ts";
import { ByteBuffer, isUnder, MemDiskError } from "../../raft/mem_disk.ts";

/** Seeded randomness (the same shape as the core's Rng). */
export interface SimDiskRng {
  int(n: number): number;
}

/** Unsynced file contents reach the disk a page at a time, in any order... */
export const simPageBytes = 4096;
/** ...and a page being written when the power fails may be torn, but only at sector boundaries. */
export const simSectorBytes = 512;

/** One file's data: what reads see now, what is on the disk, and what the last fsync wrote. */
interface Inode {
  current: ByteBuffer;
  /** What a power loss keeps for sure (what fsync wrote, or what survived the last crash). */
  durable: Uint8Array;
  /** The contents as of the last completed fsync of this file (survivors of a crash are not synced). */
  synced: Uint8Array;
}

/** A directory tree: path → inode for files, and the set of directory paths. */
interface Tree {
  files: Map<string, Inode>;
  dirs: Set<string>;
}

/** A change to names, durable once its parent directory is synced (or a crash keeps it). */
interface NameOp {
  /** Directories whose syncDir makes this op durable. */
  readonly parents: readonly string[];
  /** What it does, for test messages ("create p", "rename a b", "remove p"). */
  readonly what: string;
  apply(t: Tree): void;
}

/** What a crash keeps of unsynced work: nothing, or random pages (some torn) and a prefix of name changes. */
export type CrashMode = "drop" | "tear";

/** Counters for tests. */
export interface SimDiskStats {
  syncs: number;
  dirSyncs: number;
  /** Every write, durable ones included. */
  writes: number;
  /** Writes made durable by themselves (writeDurably), not counted in syncs. */
  durableWrites: number;
  crashes: number;
}

/** Thrown by a mutating operation when a crash armed with armCrash() fires. */
export class SimCrashError extends Error {
  override readonly name = "SimCrashError";
}

/** Picks the operations an armed crash or fault counts: syscall ("write", "fsync", "open", "rename", "unlink", "rmdir", "remove", "ftruncate") and path. */
export type SimOpFilter = (syscall: string, path: string) => boolean;

/** The errors armFault() injects. */
export type SimFaultCode = "EIO" | "ENOSPC";

/** Thrown by a mutating operation when a fault armed with armFault() fires (shaped like a system error). */
export class SimFaultError extends Error {
  override readonly name = "SimFaultError";
  constructor(
    readonly code: SimFaultCode,
    readonly syscall: string,
    readonly path: string,
  ) {
    super(`${code}: injected fault, ${syscall} '${path}'`);
  }
}

/** The simulated Disk. Handles opened before a crash throw afterwards, like a dead process's fds. */
export class SimDisk implements Disk {
  private live: Tree = { files: new Map(), dirs: new Set() };
  private durable: Tree = { files: new Map(), dirs: new Set() };
  private pending: NameOp[] = [];
  private generation = 0;
  private opsUntilCrash = -1;
  private opsUntilFault = -1;
  private faultCode: SimFaultCode = "EIO";
  /** Which operations count toward the armed crash / fault (all by default). */
  private crashFilter: SimOpFilter | null = null;
  private faultFilter: SimOpFilter | null = null;
  /**
   * When set, remove() of a directory is one unlink per file and one rmdir per directory,
   * deepest first, each a separate step and name change (durable when its own parent is
   * synced): a crash can stop it part-way, as it can stop `rm -r`. Off by default.
   */
  stepwiseRemoval = false;
  readonly stats: SimDiskStats = { syncs: 0, dirSyncs: 0, writes: 0, durableWrites: 0, crashes: 0 };

  open(path: string, mode: OpenMode): DiskFile {
    const p = normalize(path);
    if (this.live.dirs.has(p)) throw new MemDiskError("EISDIR", p);
    let node = this.live.files.get(p);
    if (node === undefined) {
      if (mode === "read") throw new MemDiskError("ENOENT", p);
      this.requireDir(dirname(p));
      this.step("open", p);
      const fresh: Inode = { current: new ByteBuffer(), durable: new Uint8Array(0), synced: new Uint8Array(0) };
      node = fresh;
      this.record([dirname(p)], `create ${p}`, (t) => void t.files.set(p, fresh));
    } else if (mode === "create") {
      this.step("open", p);
      node.current.truncate(0);
    }
    return new SimFile(this, node, p, this.generation);
  }

  readFile(path: string): Uint8Array {
    const node = this.live.files.get(normalize(path));
    if (node === undefined) throw new MemDiskError("ENOENT", path);
    return node.current.bytes();
  }

  exists(path: string): boolean {
    const p = normalize(path);
    return this.live.files.has(p) || this.live.dirs.has(p);
  }

  isDir(path: string): boolean {
    return this.live.dirs.has(normalize(path));
  }

  list(dir: string): string[] {
    const d = normalize(dir);
    const out: string[] = [];
    for (const p of [...this.live.files.keys(), ...this.live.dirs]) if (p !== d && dirname(p) === d) out.push(p.slice(d.length + 1));
    return out.sort();
  }

  /**
   * Durable at once: the real Disk syncs each new directory's parent, which makes the parent's
   * earlier name changes durable too, so they are applied first (a removal of the same name
   * left pending would otherwise run at a later sync and take the new directory with it: world
   * seed 2408640). Not a step: no crash or fault lands here (the real one could fail in between;
   * the simulator has never modelled that, and the worlds of every seed stay as they were).
   */
  mkdirp(dir: string): void {
    const missing: string[] = [];
    for (let p = normalize(dir); !this.live.dirs.has(p); p = dirname(p)) {
      missing.push(p);
      if (dirname(p) === p) break;
    }
    for (const p of missing.reverse()) {
      this.live.dirs.add(p);
      this.#applyPending(dirname(p));
      this.durable.dirs.add(p);
    }
  }

  rename(from: string, to: string): void {
    const f = normalize(from);
    const t = normalize(to);
    this.requireDir(dirname(t));
    if (!this.exists(f)) throw new MemDiskError("ENOENT", f);
    this.step("rename", f);
    this.record([dirname(f), dirname(t)], `rename ${f} ${t}`, (tree) => moveTree(tree, f, t));
  }

  remove(path: string): void {
    const p = normalize(path);
    if (!this.exists(p)) return;
    if (this.stepwiseRemoval && this.live.dirs.has(p)) {
      // Deepest first, as rm -r: files, then each directory once it is empty.
      const files = [...this.live.files.keys()].filter((f) => isUnder(f, p)).sort();
      const dirs = [...this.live.dirs].filter((d) => d === p || isUnder(d, p)).sort((a, b) => b.length - a.length);
      for (const f of files) {
        this.step("unlink", f);
        this.record([dirname(f)], `remove ${f}`, (t) => removeTree(t, f));
      }
      for (const d of dirs) {
        this.step("rmdir", d);
        this.record([dirname(d)], `remove ${d}`, (t) => removeTree(t, d));
      }
      return;
    }
    this.step("remove", p);
    this.record([dirname(p)], `remove ${p}`, (t) => removeTree(t, p));
  }

  syncDir(dir: string): void {
    const d = normalize(dir);
    this.requireDir(d);
    this.step("fsync", d);
    this.stats.dirSyncs++;
    this.#applyPending(d);
  }

  /** Makes the pending name changes in directory `d` durable, in the order they were made. */
  #applyPending(d: string): void {
    const rest: NameOp[] = [];
    for (const op of this.pending) (op.parents.includes(d) ? op.apply(this.durable) : rest.push(op));
    this.pending = rest;
  }

  /**
   * Simulates power loss: names revert to what directory syncs made durable and file data
   * to what fsync made durable. In "tear" mode a random prefix of the later name changes
   * survives, and each file keeps any subset of its changed pages (tornContents).
   */
  crash(mode: CrashMode, rng: SimDiskRng): void {
    const prefix = mode === "tear" ? rng.int(this.pending.length + 1) : 0;
    this.powerLoss((op) => op < prefix, (node) => (mode === "tear" ? tornContents(node, rng) : node.durable));
  }

  /**
   * The name changes (creations, renames, removals) not yet made durable by a directory
   * sync, oldest first: what crashKeepingNameOps() chooses from.
   */
  pendingNameOps(): string[] {
    return this.pending.map((op) => op.what);
  }

  /**
   * A power loss that keeps exactly the listed unsynced name changes (positions in
   * pendingNameOps()), whichever they are: a file system may persist names that were not
   * yet synced in any combination, a later one without an earlier one. File data reverts
   * to what fsync made durable.
   */
  crashKeepingNameOps(kept: readonly number[]): void {
    const keep = new Set(kept);
    this.powerLoss((op) => keep.has(op), (node) => node.durable);
  }

  /**
   * A power loss in which exactly the listed pages (index = offset / simPageBytes) of each
   * named file reach the disk whole, with the file's current length; every other unsynced
   * change to file data and names is lost. For tests that need one particular order.
   */
  crashPersisting(pages: ReadonlyMap<string, readonly number[]>): void {
    const byInode = new Map<Inode, readonly number[]>();
    for (const [path, list] of pages) {
      const node = this.live.files.get(normalize(path));
      if (node === undefined) throw new MemDiskError("ENOENT", path);
      byInode.set(node, list);
    }
    this.powerLoss(() => false, (node) => {
      const list = byInode.get(node);
      if (list === undefined) return node.durable;
      const cur = node.current.bytes();
      const out = new Uint8Array(Math.max(cur.length, node.durable.length));
      out.set(node.durable);
      for (const p of list) out.set(cur.subarray(p * simPageBytes, (p + 1) * simPageBytes), p * simPageBytes);
      return out.subarray(0, cur.length);
    });
  }

  /** Keeps the pending name changes `keepOp` picks (by position, applied oldest first) and each file's `contents`. */
  private powerLoss(keepOp: (position: number) => boolean, contents: (node: Inode) => Uint8Array): void {
    this.stats.crashes++;
    this.generation++;
    this.opsUntilCrash = -1;
    this.opsUntilFault = -1;
    for (let i = 0; i < this.pending.length; i++) if (keepOp(i)) this.pending[i]!.apply(this.durable);
    this.pending = [];
    const inodes = new Set(this.durable.files.values());
    for (const node of inodes) {
      const kept = contents(node);
      node.durable = kept;
      node.current = new ByteBuffer(kept);
    }
    this.live = { files: new Map(this.durable.files), dirs: new Set(this.durable.dirs) };
  }

  /** A file's contents as of its last completed fsync (null if absent): what a program may rely on. */
  synced(path: string): Uint8Array | null {
    const node = this.live.files.get(normalize(path));
    return node === undefined ? null : new Uint8Array(node.synced);
  }

  /** Opt-in damage: XORs the byte at `offset` of a file with `mask`, durably. */
  corrupt(path: string, offset: number, mask = 0xff): void {
    const node = this.live.files.get(normalize(path));
    if (node === undefined) throw new MemDiskError("ENOENT", path);
    const bytes = node.current.bytes();
    bytes[offset]! ^= mask;
    node.current = new ByteBuffer(bytes);
    if (offset < node.durable.length) {
      const d = new Uint8Array(node.durable);
      d[offset]! ^= mask;
      node.durable = d;
    }
  }

  /** Opt-in damage: cuts a file to `size` bytes, durably. */
  truncateDurably(path: string, size: number): void {
    const node = this.live.files.get(normalize(path));
    if (node === undefined) throw new MemDiskError("ENOENT", path);
    node.current.truncate(size);
    node.durable = node.current.bytes();
  }

  /**
   * Makes the `ops`-th mutating operation from now (write, truncate, sync, rename, remove,
   * file creation, syncDir) throw SimCrashError before it takes effect, so a test can crash
   * in the middle of a WAL append or a snapshot install. Follow it with crash().
   */
  armCrash(ops: number, only: SimOpFilter | null = null): void {
    this.opsUntilCrash = ops;
    this.crashFilter = only;
  }

  /**
   * Makes the `ops`-th mutating operation from now fail with `code` (a SimFaultError) instead
   * of taking effect; a write may have reached the page cache (POSIX leaves its effect
   * unspecified), a failed fsync drops the file's dirty pages. -1 disarms.
   */
  armFault(ops: number, code: SimFaultCode, only: SimOpFilter | null = null): void {
    this.opsUntilFault = ops;
    this.faultCode = code;
    this.faultFilter = only;
  }

  /** True while a crash or a fault is armed and has not fired. */
  get isArmed(): boolean {
    return this.opsUntilCrash >= 0 || this.opsUntilFault >= 0;
  }

  /** Counts one mutating operation toward an armed crash or fault. */
  step(syscall = "write", path = ""): void {
    if (this.opsUntilCrash >= 0 && (this.crashFilter === null || this.crashFilter(syscall, path))) {
      if (this.opsUntilCrash === 0) {
        this.opsUntilCrash = -1;
        this.generation++; // The "process" is dead: its handles stop working.
        throw new SimCrashError(`simulated crash during ${syscall} ${path}`);
      }
      this.opsUntilCrash--;
    }
    if (this.opsUntilFault >= 0 && (this.faultFilter === null || this.faultFilter(syscall, path))) {
      if (this.opsUntilFault === 0) {
        this.opsUntilFault = -1;
        throw new SimFaultError(this.faultCode, syscall, path);
      }
      this.opsUntilFault--;
    }
  }

  /** Called by SimFile: refuses handles from before the last crash. */
  checkGeneration(g: number, path: string): void {
    if (g !== this.generation) throw new MemDiskError("EBADF", path);
  }

  private record(parents: string[], what: string, apply: (t: Tree) => void): void {
    apply(this.live);
    this.pending.push({ parents, what, apply });
  }

  private requireDir(d: string): void {
    if (!this.live.dirs.has(d)) throw new MemDiskError("ENOENT", d);
  }
}

class SimFile implements DiskFile {
  private closed = false;
  constructor(
    private readonly disk: SimDisk,
    private readonly node: Inode,
    private readonly path: string,
    private readonly generation: number,
  ) {}

  private check(): Inode {
    if (this.closed) throw new MemDiskError("EBADF", this.path);
    this.disk.checkGeneration(this.generation, this.path);
    return this.node;
  }
  size(): number {
    return this.check().current.size;
  }
  read(position: number, length: number): Uint8Array {
    return this.check().current.read(position, length);
  }
  write(bytes: Uint8Array, position: number): void {
    const node = this.check();
    // The bytes reach the page cache before the crash fires: a tearing crash may keep part.
    node.current.write(bytes, position);
    this.disk.step("write", this.path);
    this.disk.stats.writes++;
  }
  truncate(size: number): void {
    const node = this.check();
    this.disk.step("ftruncate", this.path);
    node.current.truncate(size);
  }
  /**
   * O_DSYNC: the bytes reach the page cache, then this write alone is made durable (with the
   * size it needs; a gap before it reads as zeros). Crash and fault steps are the write's and
   * its sync's, as for write() + sync(): a crash at either keeps any part of it (torn), a
   * failure drops the file's dirty pages. Other unsynced writes stay unsynced.
   */
  writeDurably(bytes: Uint8Array, position: number): void {
    const node = this.check();
    node.current.write(bytes, position);
    this.disk.step("write", this.path);
    this.disk.stats.writes++;
    try {
      this.disk.step("fsync", this.path);
    } catch (e) {
      if (e instanceof SimFaultError) node.current = new ByteBuffer(node.durable);
      throw e;
    }
    node.durable = withWrite(node.durable, bytes, position);
    node.synced = withWrite(node.synced, bytes, position);
    this.disk.stats.durableWrites++;
  }
  sync(): void {
    const node = this.check();
    try {
      this.disk.step("fsync", this.path);
    } catch (e) {
      // After a writeback error Linux marks the dirty pages clean: what was not on the disk
      // may be gone from the cache too, and a later fsync will not bring it back.
      if (e instanceof SimFaultError) node.current = new ByteBuffer(node.durable);
      throw e;
    }
    node.durable = node.current.bytes();
    node.synced = node.durable;
    this.disk.stats.syncs++;
  }
  close(): void {
    this.closed = true;
  }
}

/**
 * What survives of one file in a tearing crash. A cut (the new contents shorter than the
 * durable ones) survives whole or not at all. Otherwise the file's length is the durable one,
 * the current one or anything between (the size may reach the disk before or after the
 * data), bytes past the durable length that no kept page covers read as zeros (a hole), and
 * each 4 KiB page that changed since the last fsync is independently kept, lost, or torn:
 * some of its 512-byte sectors new, the others as they were. A sector is never half written
 * (sector atomicity, the assumption raft/wal.ts states).
 */
function tornContents(node: Inode, rng: SimDiskRng): Uint8Array {
  const cur = node.current.bytes();
  const old = node.durable;
  if (cur.length < old.length) return rng.int(2) === 0 ? old : cur; // Cut or rewrite: all or nothing.
  const lengthChoice = rng.int(3);
  const length = lengthChoice === 0 ? old.length : lengthChoice === 1 ? cur.length : old.length + rng.int(cur.length - old.length + 1);
  const out = new Uint8Array(length);
  out.set(old.subarray(0, length));
  for (let page = 0; page < length; page += simPageBytes) {
    const end = Math.min(page + simPageBytes, length);
    if (sameBytes(cur, old, page, end)) continue;
    const fate = rng.int(3); // 0: lost, 1: kept, 2: torn
    if (fate === 0) continue;
    for (let s = page; s < end; s += simSectorBytes) {
      if (fate === 2 && rng.int(2) === 0) continue;
      out.set(cur.subarray(s, Math.min(s + simSectorBytes, end)), s);
    }
  }
  return out;
}

/** `base` with `bytes` written at `position` (a copy, extended with zeros as needed). */
function withWrite(base: Uint8Array, bytes: Uint8Array, position: number): Uint8Array {
  const out = new Uint8Array(Math.max(base.length, position + bytes.length));
  out.set(base);
  out.set(bytes, position);
  return out;
}

/** True if `a` and `b` hold the same bytes in [from, to) (a byte past either's end differs). */
function sameBytes(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  if (to > a.length || to > b.length) return false;
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return false;
  return true;
}

function moveTree(t: Tree, from: string, to: string): void {
  const file = t.files.get(from);
  if (file !== undefined) {
    t.files.delete(from);
    t.files.set(to, file);
    return;
  }
  if (!t.dirs.has(from)) return; // The op that created it was lost in a crash.
  for (const d of [...t.dirs]) if (isUnder(d, from)) (t.dirs.delete(d), t.dirs.add(to + d.slice(from.length)));
  for (const [p, n] of [...t.files]) if (isUnder(p, from)) (t.files.delete(p), t.files.set(to + p.slice(from.length), n));
}

function removeTree(t: Tree, path: string): void {
  t.files.delete(path);
  for (const d of [...t.dirs]) if (isUnder(d, path)) t.dirs.delete(d);
  for (const f of [...t.files.keys()]) if (isUnder(f, path)) t.files.delete(f);
}
