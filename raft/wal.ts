// The write-ahead log: entries as CBOR records in segment files `<first-index>.seg`, with
// group commit (one write and one fdatasync per batch), suffix truncation, prefix
// compaction and crash recovery (DESIGN "Persistence").
//
// ---- The tail rule: what a crash may tear, and what is damage ----
//
// Crash model. A completed fdatasync makes every byte written before it durable. Bytes
// written after the last completed sync may reach the media a page at a time in any order,
// or not at all; the file's size may reach it before or after them (bytes between then read
// as zeros); a page being written when the power fails may be torn at sector boundaries.
// A sector (512 bytes) is assumed atomic: after the crash it holds its content as of the
// last sync or a later one, never a mix (etcd's WAL assumes the same). Synced bytes never
// change in a crash: if they do, that is damage, which Raft cannot tolerate.
//
// What the writer guarantees:
//  (W1) A record is only ever written where every byte from its start to the end of its
//       sector is zero or past the end of the file: records are appended, over zeros written
//       ahead (synced like records), or past a truncation that is synced at once
//       (truncateFrom, a recovery cut). Writes never change a byte once a record covers it.
//  (W2) Only the last segment takes writes: rollOver cuts a segment to its last record and
//       syncs it before the next one exists. A bad record in any other segment is damage.
//  (W3) Each record (wal_record.ts, format 2) has a header that checks itself (a length is
//       trusted only if its 24-bit check matches), a CRC32 of its payload, and three marks
//       that have four bits set each: its first byte, the last byte of its header, its last
//       byte. Every sector that holds part of a record holds one of its marks, unless the
//       sector lies wholly inside the payload.
//
// The rule. Recovery reads the last segment from its start. At the first record that is
// not intact (offset X):
//  - if every byte from X to the end of the file is zero, the log ends at X (zeros written
//    ahead); nothing is cut;
//  - if the record is torn, recovery cuts it and everything after it (truncates the file at
//    X and syncs) and logs file, offset, bytes, records and why. Torn means: its verified
//    length runs past the end of the file, or some sector it covers (the header's sectors
//    when the header does not verify) holds only zeros from X, or from the sector's start,
//    to the sector's end or the end of the file;
//  - otherwise it is damage: the node refuses to start (StorageDamageError, file, offset).
//
// Why it is sound. (1) A crash alone never makes recovery refuse: records synced are intact
// (the crash leaves their bytes alone, W1), so the first bad record R was written after the
// last sync. Some sector of R did not receive R; being atomic, it holds an earlier content,
// which from R's start on is zeros or the end of the file (W1). If R's header verifies that
// sector is among R's; if not, it is a sector of the header. So R is classified torn.
// (2) Nothing synced is cut: everything at or after R was written after R, hence after the
// last sync, and was never acknowledged; intact records beyond R are pages of the same
// unsynced tail that reached the disk out of order, which is why they do not make R damage.
// (3) Damage to synced bytes is refused: a flipped bit makes a synced record fail its header
// check or payload CRC (CRC32 and the 24-bit header check catch every one- and two-bit
// error), and cannot make it look torn: the first sector of the record, the sector of its
// header's end and its last sector each keep a mark that one flip cannot zero (W3), and its
// length cannot move past the end of the file unnoticed.
//
// Residual risk: damage that zeroes bytes (a sector read back as zeros, a mark byte set to
// exactly zero, a file cut short by the file system) looks like a lost write; so does damage
// to a record whose payload has a sector-aligned 512-byte run with at most one bit set (a
// value of more than 1,022 NUL characters). Such a record is cut, never silently: the cut
// is logged. A flipped bit in the zeros written ahead is refused when it lies in the sector
// where the records end, and cut and logged further on (no entry is lost either way).
// Random damage passes a checksum with odds of 2^-32 (2^-24 for a header alone).
// Hardware that tears inside a sector breaks the assumption the other way: a torn tail may
// then be refused as damage (the safe side). Segments written before format 2 have no
// header check or marks: a bad length in their last record can pass for a tear (logged);
// the first append after an upgrade starts a new segment, so this lasts one restart.
//
// Recovery also syncs the last segment and the directory before returning: entries a
// killed process left in the page cache become part of the log the node acknowledges from.
//
// ---- Removing segments: what a crash may leave ----
//
// Names changed since the last directory sync may persist after a power loss in any
// combination: a later removal without an earlier one. Deleting a file is one atomic change
// of one name (a snapshot, a tree of files, is renamed aside first for that: snapshots.ts);
// what makes removing several segments crash-safe is that a start accepts every combination
// a crash can leave. Which order and which syncs that takes depends on whether a start can
// tell the segments it no longer needs:
//  - Segments the snapshot covers (prefix compaction; a reset's segments that start at or
//    below snapshotIndex + 1). A start told the snapshot's index (WalOptions.snapshotIndex;
//    the snapshot is durable before any of them is removed) removes, unread, every segment
//    before the last one that starts at or below snapshotIndex + 1: those hold only entries
//    below that one's first index. Any subset of them may survive, gaps included, so they
//    need no order and no sync of their own; nor do the removals at the start, which the
//    next start would decide again.
//  - Segments above it (a conflict truncation; a reset's segments that start past
//    snapshotIndex + 1) hold entries a start cannot tell from live ones. They go newest
//    first, the directory synced after each, so a crash leaves the log cut from its end,
//    never with a gap; a gap above the snapshot stays damage.
// Directory syncs: a compaction's is the next sync()'s, off the event loop, as before; a reset
// takes one plus one per segment it drops past the snapshot; a truncation one per segment it
// drops (whole segments are truncated rarely: a deposed leader's unreplicated tail). append
// and sync are untouched.

import { join } from "node:path";
import type { Entry, LogIndex } from "./core/mod.ts";
import { entryItems } from "./entry_bytes.ts";
import type { Disk, DiskFile, Logger } from "./host.ts";
import { recoverLog, type Segment, segmentFileName } from "./wal_recovery.ts";
import { walRecordOverheadBytes, writeWalRecord } from "./wal_record.ts";

export { StorageDamageError } from "./wal_record.ts";

/**
 * Zeros are written ahead only after a flush smaller than this (and than preallocateBytes).
 * What they save is one journal commit per sync; what they cost is their bytes, written and
 * synced like records. For a flush this large the commit is small beside its own bytes, and
 * zeros ahead doubled what it wrote (issue 18, 64 KiB values at 16 connections: 1 MiB of
 * records then 1 MiB of zeros per batch on every member). Measured here, three appenders on
 * the one disk (as three members), fdatasync after each append, medians of alternating
 * rounds: 64 KiB appends synced in 0.25 ms with zeros, 0.45 without (and one connection of
 * 64 KiB values ran faster with them); 192-256 KiB about even; 1 MiB synced in 2.0-3.5 ms
 * without, 2.7-7.9 with, and wrote half the bytes.
 */
export const zeroFillFlushBytesMax = 256 * 1024;

/** Options of Wal.open; sizes in bytes. */
export interface WalOptions {
  /** A segment is sealed and a new one started once it would grow past this. */
  readonly segmentBytesMax?: number;
  /**
   * Zeros written ahead of the records at a time (0: none). Overwriting blocks that are
   * already allocated and written lets fdatasync skip the file system's journal (the file's
   * size does not change): measured here, 15-30% faster syncs, most with three nodes on one
   * disk. Recovery reads zeros after the last record as the end of the log. A large flush
   * writes none (zeroFillFlushBytesMax).
   */
  readonly preallocateBytes?: number;
  /** Where recovery says what it cut and why (warn), or that it met an older format or removed covered segments (info). */
  readonly logger?: Pick<Logger, "info" | "warn">;
  /**
   * Index of the newest snapshot, already durable (openStorage passes it). Segments wholly at
   * or below it are removed at open without being read: an interrupted removal may have left
   * any of them, with gaps between (header, "Removing segments"). Absent: every segment is read.
   */
  readonly snapshotIndex?: LogIndex;
}

/**
 * The append-only log of one node. Every method is synchronous. Entries appended become
 * durable only when sync() returns: a follower acknowledges, and a leader counts itself,
 * only after that (§5.3 with thesis §10.2.1).
 */
export class Wal {
  private scratch = new Uint8Array(64 * 1024);
  private zeros = new Uint8Array(0);
  private active: DiskFile | null = null;
  private activeDirty = false;
  /** Set by appendDurably while it appends: flush() may then write durably. */
  private isDurableWriteWanted = false;
  private dirDirty = false;

  private constructor(
    private readonly disk: Disk,
    private readonly dir: string,
    private readonly segmentBytesMax: number,
    private readonly preallocateBytes: number,
    private segments: Segment[],
  ) {}

  /**
   * Opens (creating if needed) the log in `dir` and recovers it by the tail rule (header):
   * a torn tail is cut and logged; damage throws StorageDamageError naming the file and
   * offset. What it returns is durable when it returns. The caller reconciles the result
   * with the newest snapshot (if the entries do not connect to it, call reset(snapshotIndex); §7).
   */
  static open(disk: Disk, dir: string, options: WalOptions = {}): { wal: Wal; entries: Entry[] } {
    const segmentBytesMax = options.segmentBytesMax ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(segmentBytesMax) || segmentBytesMax < 1024 || segmentBytesMax > 2 ** 32) {
      throw new RangeError(`segmentBytesMax ${segmentBytesMax} out of range`);
    }
    const preallocateBytes = options.preallocateBytes ?? 0;
    if (!Number.isSafeInteger(preallocateBytes) || preallocateBytes < 0 || preallocateBytes > segmentBytesMax) {
      throw new RangeError(`preallocateBytes ${preallocateBytes} out of range`);
    }
    disk.mkdirp(dir);
    const snapshotIndex = options.snapshotIndex;
    const { covered, segments, entries } = recoverLog(disk, dir, snapshotIndex, options.logger);
    // Only once the log reads clean: damage leaves the directory as it was found.
    for (const seg of covered) disk.remove(seg.path);
    if (covered.length > 0) {
      const paths = covered.map((seg) => seg.path).join(", ");
      options.logger?.info(`wal: removed ${paths} unread: every entry in them is covered by the snapshot at index ${snapshotIndex}`);
    }
    const wal = new Wal(disk, dir, segmentBytesMax, preallocateBytes, segments);
    const last = segments[segments.length - 1];
    if (last !== undefined) {
      // A killed process leaves its unsynced tail in the page cache, where recovery just read
      // it: make it durable before the node counts on it (and the names of its segments).
      wal.active = disk.open(last.path, "write");
      wal.active.sync();
      if (last.legacy) options.logger?.info(`wal: ${last.path} holds records of the previous format; new entries go to a new segment`);
    }
    if (last !== undefined || covered.length > 0) disk.syncDir(dir);
    return { wal, entries };
  }

  /** Index of the first entry held; lastIndex + 1 when the log is empty. */
  get firstIndex(): LogIndex {
    return this.segments[0]?.firstIndex ?? 1;
  }

  /** Index of the last entry held; firstIndex - 1 when the log is empty. */
  get lastIndex(): LogIndex {
    const last = this.segments[this.segments.length - 1];
    return last === undefined ? 0 : last.firstIndex + last.offsets.length - 1;
  }

  /**
   * Appends contiguous entries with one write per segment touched. If entries[0].index is
   * already held, the suffix from there is first truncated (a real term conflict, §5.3).
   */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    for (let i = 1; i < entries.length; i++) {
      if (entries[i]!.index !== first.index + i) throw new RangeError(`wal.append: entries not contiguous at ${entries[i]!.index}`);
    }
    if (first.index > this.lastIndex + 1) throw new RangeError(`wal.append: gap, last ${this.lastIndex}, got ${first.index}`);
    if (first.index <= this.lastIndex) this.truncateFrom(first.index);
    if (this.segments.length === 0) this.startSegment(first.index);
    const active = this.segments[this.segments.length - 1]!;
    if (active.legacy && active.offsets.length > 0) this.rollOver(first.index); // One format per segment.
    else active.legacy = false; // Empty (truncated to nothing): written afresh in format 2.
    // Items already encoded for this Ready's AppendEntries, or received from the leader, are
    // written as they are (raft/entry_bytes.ts); the rest are encoded here.
    const items = entryItems(entries, "write");
    let used = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const payload = items[i]!;
      const recordBytes = walRecordOverheadBytes + payload.length;
      const seg = this.segments[this.segments.length - 1]!;
      if (seg.size + used > 0 && seg.size + used + recordBytes > this.segmentBytesMax) {
        this.flush(used);
        used = 0;
        this.rollOver(e.index);
      }
      const tail = this.segments[this.segments.length - 1]!;
      if (used + recordBytes > this.scratch.length) this.growScratch(used + recordBytes, used);
      writeWalRecord(this.scratch, used, payload);
      tail.offsets.push(tail.size + used);
      used += recordBytes;
    }
    this.flush(used);
  }

  /**
   * append() then sync(), the records written with one durable write (DiskFile.writeDurably,
   * O_DSYNC) where they land inside zeros already written ahead and synced and nothing
   * before them is unsynced: measured here for 120-byte records, 162/214 µs (min/median) per
   * durable write against 226/401 for write + fdatasync, and less CPU (issue 18, p99 at one
   * connection: a follower's append and a leader's lone write sync on the event loop). Past
   * the zeros (new zeros: a journal commit), after a truncation or a roll, the plain pair.
   */
  appendDurably(entries: readonly Entry[]): void {
    this.isDurableWriteWanted = true;
    try {
      this.append(entries);
    } finally {
      this.isDurableWriteWanted = false;
    }
    this.sync();
  }

  /** Makes everything appended so far durable: fdatasync, then the directory if it changed. */
  sync(): void {
    if (this.activeDirty && this.active !== null) this.active.sync();
    this.activeDirty = false;
    if (this.dirDirty) this.disk.syncDir(this.dir);
    this.dirDirty = false;
  }

  /**
   * sync() with the fdatasync off the event loop where the disk offers it; `done` runs once
   * everything appended so far is durable (at once, before returning, where it does not).
   * A changed directory (a new segment, or segments compacted away) is synced alongside,
   * and `done` waits for both. The caller must not append, truncate, reset or close until
   * `done` has run.
   */
  syncAsync(done: (error: Error | null) => void): void {
    const file = this.activeDirty ? this.active : null;
    const dirDirty = this.dirDirty;
    this.activeDirty = false;
    this.dirDirty = false;
    let waiting = 1; // Released below once both syncs have been started.
    let failure: Error | null = null;
    const settle = (error: Error | null): void => {
      failure ??= error;
      if (--waiting === 0) done(failure);
    };
    if (dirDirty && this.disk.syncDirAsync !== undefined) {
      waiting++;
      this.disk.syncDirAsync(this.dir, settle);
    } else if (dirDirty) {
      this.disk.syncDir(this.dir);
    }
    if (file !== null && file.syncAsync !== undefined) {
      waiting++;
      file.syncAsync(settle);
    } else if (file !== null) {
      file.sync();
    }
    settle(null);
  }

  /**
   * Deletes whole segments whose entries are all <= index (prefix compaction, §7), once a
   * snapshot at or past `index` is durable. The next sync() makes the removals durable; a
   * crash before it may keep any of them, which a start drops (header, "Removing segments").
   */
  compact(index: LogIndex): void {
    while (this.compactOne(index));
  }

  /**
   * compact() a segment at a time: deletes the oldest segment if every entry in it is <= index,
   * and says whether it did. A caller on the event loop removes one per turn: unlinking a
   * 64 MiB segment took ~9 ms here, and a large state's snapshot covers several (issue 18).
   */
  compactOne(index: LogIndex): boolean {
    const path = this.takeCompactable(index);
    if (path === null) return false;
    this.disk.remove(path);
    return true;
  }

  /**
   * compactOne() with the unlink off the event loop where the disk offers it (Disk.removeAsync):
   * unlinking a 64 MiB segment took ~9 ms on a quiet disk here and far longer behind other
   * writers (a 300 MB file 81-585 ms). The log forgets the segment at once and never reads it
   * again; the next directory sync makes its removal durable, and a crash before that leaves a
   * segment the snapshot covers, which a start drops.
   */
  async compactOneAsync(index: LogIndex): Promise<boolean> {
    const path = this.takeCompactable(index);
    if (path === null) return false;
    await this.removeForgotten(path);
    return true;
  }

  /** Forgets the oldest segment if every entry in it is <= index; returns its path, or null. */
  private takeCompactable(index: LogIndex): string | null {
    if (this.segments.length <= 1 || this.segments[1]!.firstIndex - 1 > index) return null;
    this.dirDirty = true;
    return this.segments.shift()!.path;
  }

  /**
   * Drops every entry, after a snapshot covering `snapshotIndex` has been saved durably
   * (§7: a snapshot that replaces the whole log); the next append is snapshotIndex + 1.
   * Segments past what the snapshot covers go first, newest first, each durably; the covered
   * rest goes with the new segment created, under one directory sync (header).
   */
  reset(snapshotIndex: LogIndex): void {
    this.resetTo(snapshotIndex, false);
  }

  /**
   * reset(), except that segments holding only entries at or below `snapshotIndex` are
   * forgotten rather than unlinked: their paths are returned for the caller to unlink later,
   * off the event loop (removeForgotten). An install at ten million keys finds several 64 MiB
   * segments, ~9 ms each to unlink on a quiet disk, 18-81 ms under load. Safe to leave: a start
   * drops unread the segments the newest snapshot covers (openStorage), and that snapshot is
   * durable before any reset. Segments with entries past it still go at once, durably: they
   * are another history's, and one a crash brought back beside the new segment would overlap it.
   */
  resetDeferring(snapshotIndex: LogIndex): string[] {
    return this.resetTo(snapshotIndex, true);
  }

  private resetTo(snapshotIndex: LogIndex, defersCovered: boolean): string[] {
    this.closeActive();
    this.removeNewestSegments(snapshotIndex + 2, 0);
    const covered: string[] = [];
    const last = this.lastIndex;
    this.segments.forEach((seg, i) => {
      const segLast = (this.segments[i + 1]?.firstIndex ?? last + 1) - 1;
      // firstIndex ≤ snapshotIndex: never the path of the segment started below.
      if (defersCovered && seg.firstIndex <= snapshotIndex && segLast <= snapshotIndex) covered.push(seg.path);
      else this.disk.remove(seg.path);
    });
    this.segments = [];
    this.startSegment(snapshotIndex + 1);
    this.disk.syncDir(this.dir);
    // Unlinks still to come are made durable by a later sync of the directory.
    this.dirDirty = covered.length > 0;
    return covered;
  }

  /** Unlinks `path` (a segment resetDeferring forgot) off the event loop where the disk can. */
  async removeForgotten(path: string): Promise<void> {
    const disk = this.disk;
    if (disk.removeAsync === undefined) disk.remove(path);
    else await new Promise<void>((resolve, reject) => disk.removeAsync!(path, (e) => (e === null ? resolve() : reject(e))));
  }

  close(): void {
    this.closeActive();
  }

  private flush(bytes: number): void {
    if (bytes === 0) return;
    const seg = this.segments[this.segments.length - 1]!;
    const file = this.active!;
    // Durable by itself only if every byte before it is (activeDirty) and it overwrites zeros
    // that are (allocated, synced with them): then it changes no metadata to sync.
    if (this.isDurableWriteWanted && !this.activeDirty && file.writeDurably !== undefined && seg.size + bytes <= seg.allocated) {
      file.writeDurably(this.scratch.subarray(0, bytes), seg.size);
      seg.size += bytes;
      return;
    }
    file.write(this.scratch.subarray(0, bytes), seg.size);
    seg.size += bytes;
    if (seg.size > seg.allocated) {
      if (bytes < Math.min(this.preallocateBytes, zeroFillFlushBytesMax)) this.writeAhead(seg);
      else seg.allocated = seg.size; // A large flush grows the file itself (zeroFillFlushBytesMax).
    }
    this.activeDirty = true;
  }

  /**
   * The records ran past the zeros written ahead: write the next preallocateBytes of zeros
   * after them (not past segmentBytesMax). The next sync makes them durable with the records,
   * the one sync in a while that also commits the journal.
   */
  private writeAhead(seg: Segment): void {
    seg.allocated = seg.size;
    const end = Math.min(seg.size + this.preallocateBytes, this.segmentBytesMax);
    if (end <= seg.size) return;
    if (this.zeros.length < end - seg.size) this.zeros = new Uint8Array(this.preallocateBytes);
    this.active!.write(this.zeros.subarray(0, end - seg.size), seg.size);
    seg.allocated = end;
  }

  private growScratch(needed: number, keep: number): void {
    const grown = new Uint8Array(Math.max(needed, this.scratch.length * 2));
    grown.set(this.scratch.subarray(0, keep));
    this.scratch = grown;
  }

  /**
   * Seals the active segment durably before starting the next, so only the last can be torn;
   * zeros written ahead are cut off first (a sealed segment ends with its last record).
   */
  private rollOver(firstIndex: LogIndex): void {
    const seg = this.segments[this.segments.length - 1]!;
    if (seg.allocated > seg.size) {
      this.active!.truncate(seg.size);
      seg.allocated = seg.size;
      this.activeDirty = true;
    }
    if (this.activeDirty) this.active!.sync();
    this.activeDirty = false;
    this.closeActive();
    this.startSegment(firstIndex);
  }

  private startSegment(firstIndex: LogIndex): void {
    const path = join(this.dir, segmentFileName(firstIndex));
    this.active = this.disk.open(path, "create");
    this.segments.push({ firstIndex, path, offsets: [], size: 0, allocated: 0, legacy: false });
    this.dirDirty = true;
  }

  private closeActive(): void {
    this.active?.close();
    this.active = null;
  }

  /**
   * Removes the segments that start at or past `firstIndex`, keeping at least `keep`: newest
   * first, the directory synced after each, so a crash leaves the log cut from its end, never
   * with a gap (header, "Removing segments"). True if any went.
   */
  private removeNewestSegments(firstIndex: LogIndex, keep: number): boolean {
    let removed = false;
    while (this.segments.length > keep && this.segments[this.segments.length - 1]!.firstIndex >= firstIndex) {
      this.closeActive();
      this.disk.remove(this.segments.pop()!.path);
      this.disk.syncDir(this.dir);
      removed = true;
    }
    if (removed) this.dirDirty = false;
    return removed;
  }

  /**
   * Removes entries >= index. Later segments go first, newest first, each durably (header,
   * "Removing segments"), and the directory is synced before the cut is made durable, so a
   * crash can never leave a cut segment beside a stale later one, nor a gap.
   */
  private truncateFrom(index: LogIndex): void {
    if (index < this.firstIndex) throw new RangeError(`wal: cannot truncate at ${index}, below first index ${this.firstIndex}`);
    const removed = this.removeNewestSegments(index + 1, 1);
    if (!removed && this.dirDirty) this.disk.syncDir(this.dir);
    this.dirDirty = false;
    const seg = this.segments[this.segments.length - 1]!;
    if (this.active === null) this.active = this.disk.open(seg.path, "write");
    const offset = seg.offsets[index - seg.firstIndex]!;
    seg.offsets.length = index - seg.firstIndex;
    seg.size = offset;
    seg.allocated = offset;
    this.active.truncate(offset);
    this.active.sync();
    this.activeDirty = false;
  }
}
