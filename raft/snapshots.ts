// The snapshot store: `<dir>/<term>-<index>/{meta,state}`, written under a temp name,
// checksummed, fsynced and renamed into place; the newest two are kept (§7, thesis §5.1).
//
// Removal is crash-safe: a recursive delete is many steps, and one cut short by a crash
// left a directory without its meta that the next start took for damage. So a snapshot is
// first renamed aside (`<name>.removed`, one atomic step), the directory synced, and only
// then deleted; a start deletes whatever it finds aside. A start also tolerates leftovers
// of anything but the snapshot it needs, the newest: temp directories of installs that never
// finished, snapshots renamed aside, and older snapshots that cannot be read (half removed
// by an earlier version). Each is removed, the same way, and logged. An unreadable newest
// snapshot is damage: the start refuses, naming it, before it removes anything.

import { join } from "node:path";
import { CodecError, decodeCbor, decodeSnapshotMeta, encodeCbor, encodeSnapshotMeta } from "./codec.ts";
import type { Snapshot, SnapshotMeta } from "./core/mod.ts";
import type { Disk, DiskFile, Logger } from "./host.ts";
import { checksum, frameRecord, readSingleRecord, recordHeaderBytes, StorageDamageError } from "./wal_record.ts";

/** Snapshots kept on disk: the newest, and one older in case the newest is being replaced. */
export const snapshotsKept = 2;
const formatVersion = 1;
const namePattern = /^(\d{1,16})-(\d{1,16})$/;
const tempSuffix = ".tmp";
/** A snapshot renamed aside to be deleted: never read, always deleted at start. */
const asideSuffix = ".removed";

/** One stored snapshot, as found in its meta file. */
interface Stored {
  readonly meta: SnapshotMeta;
  readonly dir: string;
  readonly stateBytes: number;
  readonly stateCrc: number;
}

/** Receives a snapshot chunk by chunk (InstallSnapshot, thesis Figure 5.3). */
export interface SnapshotWriter {
  readonly meta: SnapshotMeta;
  /** Bytes received so far: the offset of the next chunk wanted. */
  readonly size: number;
  /** Writes `chunk` if `offset` equals size (else ignores it); returns the new size. */
  write(offset: number, chunk: Uint8Array): number;
  /**
   * write() with the bytes written off the event loop where the disk offers it; `chunk` is
   * kept, unchanged by the caller, until then; size and checksum advance at once. syncAsync
   * and finishAsync wait for every such write first and throw the first that failed.
   * `done`, if given, is called with `chunk` once this writer no longer reads it (written,
   * failed, or ignored), at once when the write is made on the loop.
   */
  writeOffLoop(offset: number, chunk: Uint8Array, done?: (chunk: Uint8Array) => void): number;
  /** Makes what was written so far durable, so that finish() has little left to sync. */
  sync(): void;
  /** sync() with the fsync off the event loop where the disk offers it. */
  syncAsync(): Promise<void>;
  /** Makes the snapshot durable and visible; returns its metadata. */
  finish(): SnapshotMeta;
  /**
   * finish() with every fsync (file, meta, directories) off the event loop where the disk
   * offers it: the same steps in the same order, so the same crash guarantees.
   */
  finishAsync(): Promise<SnapshotMeta>;
  /** Throws away what was received. */
  abort(): void;
  /**
   * What was written so far: a view of the file where the disk maps files (its pages the page
   * cache's, not the process's heap), else read whole (the simulator, MemDisk).
   */
  written(): Uint8Array;
  /**
   * abort() with the file's deletion off the event loop where the disk offers it (renamed
   * aside first, so a new writer of the same snapshot starts clean at once): unlinking a
   * large state file takes its time. A deletion cut short is finished by the next start.
   */
  discard(): void;
}

/** Reads a stored snapshot's state in chunks (to send InstallSnapshot). */
export interface SnapshotReader {
  readonly meta: SnapshotMeta;
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

/** The directory of snapshots. Invariant: `stored` is sorted by index, oldest first. */
export class SnapshotStore {
  private constructor(
    private readonly disk: Disk,
    private readonly dir: string,
    private stored: Stored[],
  ) {}

  /**
   * Opens the store. The newest snapshot (by its directory's name) must be readable, meta and
   * state: if not, StorageDamageError names the file and nothing is changed, because falling
   * back to an older one could lose committed entries the log no longer holds. Everything else
   * that is not a readable snapshot (see the header) is removed and logged; names this store
   * never writes are left alone.
   */
  static open(disk: Disk, dir: string, logger?: Pick<Logger, "warn">): SnapshotStore {
    disk.mkdirp(dir);
    const named: { name: string; index: number; term: number }[] = [];
    const leftovers: { name: string; why: string }[] = [];
    for (const name of disk.list(dir)) {
      const m = namePattern.exec(name);
      if (m !== null) named.push({ name, term: Number(m[1]), index: Number(m[2]) });
      else if (name.endsWith(tempSuffix)) leftovers.push({ name, why: "an install that never finished" });
      else if (name.endsWith(asideSuffix)) leftovers.push({ name, why: "a snapshot whose removal was cut short" });
    }
    named.sort((a, b) => a.index - b.index || a.term - b.term);
    const stored: Stored[] = [];
    const newest = named.pop();
    if (newest !== undefined) {
      const s = readMeta(disk, join(dir, newest.name));
      // Checked, then let go of: its pages were all read (latest() maps it again to restore).
      const checked = readState(disk, s);
      disk.unmapFile?.(checked);
      stored.push(s);
    }
    for (const { name } of named) {
      try {
        stored.push(readMeta(disk, join(dir, name)));
      } catch (err) {
        if (!(err instanceof StorageDamageError)) throw err;
        leftovers.push({ name, why: `an older snapshot, unreadable (${err.reason}; half removed?)` });
      }
    }
    stored.sort(byIndex);
    // What a start trusts must be durable before anything relies on it: a process that exited
    // between renaming a snapshot into place and syncing this directory leaves a name only the
    // page cache holds, and the WAL drops the segments it covers (world seed 1718321).
    if (stored.length > 0) disk.syncDir(dir);
    removeCrashSafely(disk, dir, leftovers.map((l) => l.name));
    for (const { name, why } of leftovers) logger?.warn(`snapshot store: removed ${join(dir, name)}: ${why}`);
    return new SnapshotStore(disk, dir, stored);
  }

  /** Metadata of every stored snapshot, oldest first. */
  list(): SnapshotMeta[] {
    return this.stored.map((s) => s.meta);
  }

  /** The newest snapshot with its state (mapped where the disk can), or null; its checksum is verified. */
  latest(): Snapshot | null {
    const newest = this.stored[this.stored.length - 1];
    return newest === undefined ? null : { meta: newest.meta, data: readState(this.disk, newest) };
  }

  /** Saves a whole snapshot durably; returns once it is on disk. */
  save(meta: SnapshotMeta, data: Uint8Array): void {
    const w = this.openWriter(meta);
    w.write(0, data);
    w.finish();
  }

  /** Starts receiving a snapshot into a temp directory. */
  openWriter(meta: SnapshotMeta): SnapshotWriter {
    const tmp = join(this.dir, `${dirName(meta)}${tempSuffix}`);
    this.disk.remove(tmp);
    this.disk.mkdirp(tmp);
    return new Writer(this.disk, tmp, meta, (w, durably) => this.install(w, tmp, durably));
  }

  /** Lets go of a view latest() or mapped() returned that nobody holds any more (Disk.unmapFile). */
  release(view: Uint8Array): void {
    this.disk.unmapFile?.(view);
  }

  /**
   * The stored state of the snapshot with this metadata, mapped from its file (see
   * Disk.mapFile), or null where files cannot be mapped or the state is empty. Stored files
   * are never rewritten, and the caller verified them when it wrote or first read them.
   */
  mapped(meta: SnapshotMeta): Uint8Array | null {
    const s = this.find(meta);
    if (s === undefined || s.stateBytes === 0 || this.disk.mapFile === undefined) return null;
    const view = this.disk.mapFile(join(s.dir, "state"));
    if (view.length !== s.stateBytes) throw new StorageDamageError(join(s.dir, "state"), 0, `mapped ${view.length} bytes, meta says ${s.stateBytes}`);
    return view;
  }

  private find(meta: SnapshotMeta): Stored | undefined {
    return this.stored.find((x) => x.meta.lastIncludedIndex === meta.lastIncludedIndex && x.meta.lastIncludedTerm === meta.lastIncludedTerm);
  }

  /** Opens the stored snapshot with this metadata's index and term for chunked reading. */
  openReader(meta: SnapshotMeta): SnapshotReader {
    const s = this.find(meta);
    if (s === undefined) throw new RangeError(`no snapshot ${dirName(meta)}`);
    const f = this.disk.open(join(s.dir, "state"), "read");
    return {
      meta: s.meta,
      size: s.stateBytes,
      read: (offset, length) => f.read(offset, Math.max(0, Math.min(length, s.stateBytes - offset))),
      close: () => f.close(),
    };
  }

  /**
   * Rewrites the meta of the stored snapshot with `meta`'s index and term, its state unchanged:
   * recovery from lost quorum (raft/peers_recovery.ts) gives it a new membership when the log
   * holds nothing after it. The new meta is written and synced under a temp name, renamed over
   * the old one (one atomic step) and the directory synced: a crash leaves the old or the new.
   */
  replaceMeta(meta: SnapshotMeta): void {
    const s = this.find(meta);
    if (s === undefined) throw new RangeError(`no snapshot ${dirName(meta)}`);
    const tmp = join(s.dir, `meta${tempSuffix}`);
    this.disk.remove(tmp);
    const f = this.disk.open(tmp, "create");
    try {
      f.write(frameRecord(metaPayload(meta, s.stateBytes, s.stateCrc)), 0);
      f.sync();
    } finally {
      f.close();
    }
    this.disk.rename(tmp, join(s.dir, "meta"));
    this.disk.syncDir(s.dir);
    this.stored = this.stored.map((x) => (x === s ? { ...s, meta } : x));
  }

  /**
   * The steps that make a written snapshot durable and visible: meta written and synced, the
   * temp directory synced, renamed into place, the parent synced; then older ones pruned.
   * Each sync is yielded (a promise where `durably` works off the loop) for the caller to await.
   */
  private *install(w: Writer, tmp: string, durably: Durability): Generator<void | Promise<void>> {
    const final = join(this.dir, dirName(w.meta));
    const meta = metaPayload(w.meta, w.size, w.crc);
    const f = this.disk.open(join(tmp, "meta"), "create");
    try {
      f.write(frameRecord(meta), 0);
      yield durably.file(f);
    } finally {
      f.close();
    }
    yield durably.dir(tmp);
    if (this.disk.exists(final)) {
      this.disk.remove(tmp); // The same snapshot is already stored (a repeated install).
      return;
    }
    this.disk.rename(tmp, final);
    yield durably.dir(this.dir);
    this.stored.push({ meta: w.meta, dir: final, stateBytes: w.size, stateCrc: w.crc });
    this.stored.sort(byIndex);
    if (this.stored.length <= snapshotsKept) return;
    const pruned = this.stored.splice(0, this.stored.length - snapshotsKept);
    const aside = pruned.map((p) => setAside(this.disk, p.dir));
    // The old names are gone durably before anything inside is deleted (see the header).
    yield durably.dir(this.dir);
    // Not synced again: a deletion that does not reach the disk is finished at the next start.
    // Off the loop where the disk offers it: unlinking a large state file takes its time.
    for (const a of aside) yield durably.remove(a);
  }
}

/** Renames `path` to its aside name (replacing a leftover of that name); returns the new path. */
function setAside(disk: Disk, path: string): string {
  const aside = `${path}${asideSuffix}`;
  disk.remove(aside);
  disk.rename(path, aside);
  return aside;
}

/**
 * Removes the named entries of `dir` crash-safely: names this store would read are renamed
 * aside and the directory synced before they are deleted; temp and aside names are never
 * read, so they are deleted at once.
 */
function removeCrashSafely(disk: Disk, dir: string, names: readonly string[]): void {
  if (names.length === 0) return;
  const readable = names.filter((name) => namePattern.test(name));
  const doomed = [...names.filter((name) => !namePattern.test(name)).map((name) => join(dir, name)), ...readable.map((name) => setAside(disk, join(dir, name)))];
  if (readable.length > 0) disk.syncDir(dir);
  for (const path of doomed) disk.remove(path);
  disk.syncDir(dir);
}

/**
 * How a sequence of steps makes things durable (and removes what was set aside): at once
 * (blocking the loop), or off the loop with a promise to await (see Disk.syncDirAsync,
 * Disk.removeAsync). Steps are written once, as generators.
 */
interface Durability {
  file(f: DiskFile): void | Promise<void>;
  dir(path: string): void | Promise<void>;
  /** Removes a snapshot already renamed aside (its name gone durably). */
  remove(path: string): void | Promise<void>;
}

function blockingDurability(disk: Disk): Durability {
  return { file: (f) => f.sync(), dir: (d) => disk.syncDir(d), remove: (p) => disk.remove(p) };
}

function offLoopDurability(disk: Disk): Durability {
  const settle = (resolve: () => void, reject: (e: Error) => void) => (e: Error | null) => (e === null ? resolve() : reject(e));
  return {
    file: (f) => (f.syncAsync === undefined ? f.sync() : new Promise((resolve, reject) => f.syncAsync!(settle(resolve, reject)))),
    dir: (d) => (disk.syncDirAsync === undefined ? disk.syncDir(d) : new Promise((resolve, reject) => disk.syncDirAsync!(d, settle(resolve, reject)))),
    remove: (p) => (disk.removeAsync === undefined ? disk.remove(p) : new Promise((resolve, reject) => disk.removeAsync!(p, settle(resolve, reject)))),
  };
}

/** Runs steps whose syncs block: nothing is yielded but undefined. */
function runBlocking(steps: Generator<void | Promise<void>>): void {
  for (const _ of steps);
}

/** Runs steps, awaiting each sync that went off the loop; a failed sync is thrown at its step. */
async function runOffLoop(steps: Generator<void | Promise<void>>): Promise<void> {
  let step = steps.next();
  while (step.done !== true) {
    try {
      if (step.value !== undefined) await step.value;
    } catch (e) {
      step = steps.throw(e); // Runs the step's `finally` (closing its file), then rethrows.
      continue;
    }
    step = steps.next();
  }
}

class Writer implements SnapshotWriter {
  size = 0;
  crc = 0;
  private file: DiskFile | null;
  /** Writes off the loop (writeOffLoop) not yet done, and a promise settled when all are. */
  private writesPending = 0;
  private writes: Promise<void> = Promise.resolve();
  private writeError: Error | null = null;

  constructor(
    private readonly disk: Disk,
    private readonly tmp: string,
    readonly meta: SnapshotMeta,
    private readonly install: (w: Writer, durably: Durability) => Generator<void | Promise<void>>,
  ) {
    this.file = disk.open(join(tmp, "state"), "create");
  }

  write(offset: number, chunk: Uint8Array): number {
    if (offset !== this.size) return this.size;
    this.live().write(chunk, offset);
    this.size += chunk.length;
    this.crc = checksum(chunk, this.crc);
    return this.size;
  }

  writeOffLoop(offset: number, chunk: Uint8Array, done?: (chunk: Uint8Array) => void): number {
    const f = this.live();
    if (f.writeAsync === undefined || offset !== this.size) {
      try {
        return this.write(offset, chunk);
      } finally {
        done?.(chunk);
      }
    }
    // Not copied (the copy cost the loop more than the write it moves: 113-453 ms against
    // 61-107 for 256 MiB in 512 KiB chunks): a received message's bytes are its own frame's,
    // which nothing changes, and they are let go once written.
    const bytes = chunk;
    this.writesPending++;
    const landed = new Promise<void>((resolve) => {
      const settle = (error: Error | null): void => {
        this.writesPending--;
        if (error !== null) this.writeError ??= error;
        done?.(bytes);
        resolve();
      };
      try {
        f.writeAsync!(bytes, offset, settle);
      } catch (e) {
        settle(e instanceof Error ? e : new Error(String(e)));
      }
    });
    this.writes = Promise.all([this.writes, landed]).then(() => undefined);
    this.size += chunk.length;
    this.crc = checksum(chunk, this.crc);
    return this.size;
  }

  sync(): void {
    this.mustHaveNoWritesPending();
    this.live().sync();
  }

  async syncAsync(): Promise<void> {
    await this.writesLanded();
    await offLoopDurability(this.disk).file(this.live());
  }

  finish(): SnapshotMeta {
    this.mustHaveNoWritesPending();
    runBlocking(this.finishSteps(blockingDurability(this.disk)));
    return this.meta;
  }

  async finishAsync(): Promise<SnapshotMeta> {
    await this.writesLanded();
    await runOffLoop(this.finishSteps(offLoopDurability(this.disk)));
    return this.meta;
  }

  abort(): void {
    this.closeFile();
    this.disk.remove(this.tmp);
  }

  /**
   * Writes still off the loop land in the view as they complete: the file is first extended
   * to the full size, so a mapping covers it all. The driver reads the view only once the
   * snapshot is persisted (finishAsync), after every write.
   */
  written(): Uint8Array {
    if (this.size === 0) return new Uint8Array(0);
    if (this.writesPending > 0 && this.file !== null && this.file.size() < this.size) this.file.truncate(this.size);
    const path = join(this.tmp, "state");
    return mapOrNull(this.disk, path) ?? this.disk.readFile(path);
  }

  discard(): void {
    if (this.disk.removeAsync === undefined) return this.abort();
    this.closeFile();
    if (!this.disk.exists(this.tmp)) return; // finished, or started afresh by another writer
    this.disk.removeAsync(setAside(this.disk, this.tmp), () => undefined);
  }

  private *finishSteps(durably: Durability): Generator<void | Promise<void>> {
    const f = this.live();
    yield durably.file(f);
    f.close();
    this.file = null;
    yield* this.install(this, durably);
  }

  private live(): DiskFile {
    if (this.file === null) throw new Error("snapshot writer is closed");
    return this.file;
  }

  /** Waits for every write off the loop; throws the first that failed. */
  private async writesLanded(): Promise<void> {
    await this.writes;
    if (this.writeError !== null) throw this.writeError;
  }

  private mustHaveNoWritesPending(): void {
    if (this.writesPending > 0) throw new Error("snapshot writer: a blocking sync with writes still off the loop");
    if (this.writeError !== null) throw this.writeError;
  }

  /** Closed once no write off the loop still uses its descriptor (a reused fd would take the bytes). */
  private closeFile(): void {
    const f = this.file;
    this.file = null;
    if (f === null) return;
    if (this.writesPending === 0) return f.close();
    void this.writes.then(() => {
      try {
        f.close();
      } catch {
        // nothing more is written through it; the writer is abandoned either way
      }
    });
  }
}

/** The meta file's record: format version, metadata, size and checksum of the state file. */
function metaPayload(meta: SnapshotMeta, stateBytes: number, stateCrc: number): Uint8Array {
  return encodeCbor([formatVersion, encodeSnapshotMeta(meta), stateBytes, stateCrc]);
}

function dirName(meta: SnapshotMeta): string {
  return `${meta.lastIncludedTerm}-${meta.lastIncludedIndex}`;
}

function byIndex(a: Stored, b: Stored): number {
  return a.meta.lastIncludedIndex - b.meta.lastIncludedIndex || a.meta.lastIncludedTerm - b.meta.lastIncludedTerm;
}

function readMeta(disk: Disk, dir: string): Stored {
  const path = join(dir, "meta");
  if (!disk.exists(path)) throw new StorageDamageError(path, 0, "snapshot meta file missing");
  const payload = readSingleRecord(disk.readFile(path), path);
  try {
    const v = decodeCbor(payload);
    if (!Array.isArray(v) || v.length !== 4 || v[0] !== formatVersion || !(v[1] instanceof Uint8Array)) {
      throw new CodecError("expected [version 1, meta, state bytes, state crc]");
    }
    const [, metaBytes, stateBytes, stateCrc] = v as [number, Uint8Array, unknown, unknown];
    if (!Number.isSafeInteger(stateBytes) || (stateBytes as number) < 0) throw new CodecError("bad state size");
    if (!Number.isInteger(stateCrc) || (stateCrc as number) < 0 || (stateCrc as number) >= 2 ** 32) throw new CodecError("bad state checksum");
    const meta = decodeSnapshotMeta(metaBytes);
    if (!dir.endsWith(dirName(meta))) throw new CodecError(`meta says ${dirName(meta)}, not the directory's name`);
    return { meta, dir, stateBytes: stateBytes as number, stateCrc: stateCrc as number };
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
    throw new StorageDamageError(path, recordHeaderBytes, `unreadable snapshot meta: ${err.message}`);
  }
}

/** The file mapped, or null where the disk cannot map it (or not this file: empty, say). */
function mapOrNull(disk: Disk, path: string): Uint8Array | null {
  if (disk.mapFile === undefined) return null;
  try {
    return disk.mapFile(path);
  } catch {
    return null; // read whole instead, whose checks name what is wrong
  }
}

/**
 * The state file, checked against its meta: mapped where the disk can (a start reads the newest
 * snapshot twice, to check it and to restore it; read into memory, each was a buffer the size
 * of the state, 289-336 MB at ten million keys, freed at once later; mapped, its pages are the
 * file's, shared with the page cache), else read whole.
 */
function readState(disk: Disk, s: Stored): Uint8Array {
  const path = join(s.dir, "state");
  if (!disk.exists(path)) throw new StorageDamageError(path, 0, "snapshot state file missing");
  const data = (s.stateBytes > 0 ? mapOrNull(disk, path) : null) ?? disk.readFile(path);
  if (data.length !== s.stateBytes) {
    throw new StorageDamageError(path, Math.min(data.length, s.stateBytes), `snapshot state is ${data.length} bytes, meta says ${s.stateBytes}`);
  }
  if (checksum(data) !== s.stateCrc) throw new StorageDamageError(path, 0, "snapshot state checksum mismatch");
  return data;
}
