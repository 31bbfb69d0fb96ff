// Reading the log back at start (raft/wal.ts's header states the tail rule it applies):
// lists the segments, leaves out those the snapshot covers, reads each one and cuts a torn
// tail of the last, or refuses damage with StorageDamageError naming file and offset.

import { join } from "node:path";
import { decodeEntries, decodeEntry } from "./codec.ts";
import type { Entry, LogIndex } from "./core/mod.ts";
import type { Disk, Logger } from "./host.ts";
import {
  isWalRecordStart,
  readRecord,
  readWalRecord,
  recordHeaderBytes,
  recordPayloadBytesMax,
  StorageDamageError,
  walHeaderBytes,
} from "./wal_record.ts";

/** One segment file. Invariant: offsets[i] is where the record of entry firstIndex+i starts. */
export interface Segment {
  readonly firstIndex: LogIndex;
  readonly path: string;
  readonly offsets: number[];
  /** Bytes of records written to the file (durable or not). */
  size: number;
  /** Length of the file: records, then zeros written ahead (see WalOptions.preallocateBytes). */
  allocated: number;
  /** Holds records of format 1 (written before format 2): never appended to (see Wal.append). */
  legacy: boolean;
}

/** Where recovery says what it cut and why (warn), or that it met an older format (info). */
type RecoveryLogger = Pick<Logger, "info" | "warn">;

/** Segment files are named by their first index: `<first-index>.seg`. */
const segmentNamePattern = /^(\d{1,16})\.seg$/;

/** The file name of the segment whose first entry is `firstIndex`. */
export function segmentFileName(firstIndex: LogIndex): string {
  return `${firstIndex}.seg`;
}

/** What recoverLog found: the segments read (durable once the caller syncs), and the rest. */
export interface RecoveredLog {
  /** Segments wholly covered by the snapshot, left unread: the caller removes them. */
  readonly covered: readonly { readonly path: string }[];
  readonly segments: Segment[];
  readonly entries: Entry[];
}

/**
 * Reads the log in `dir` by the tail rule. Every segment before the last one that starts at
 * or below snapshotIndex + 1 is covered: it is returned unread (header of wal.ts, "Removing
 * segments"). Throws StorageDamageError for a gap, an empty segment before the last, or damage.
 */
export function recoverLog(
  disk: Disk,
  dir: string,
  snapshotIndex: LogIndex | undefined,
  logger: RecoveryLogger | undefined,
): RecoveredLog {
  const all = disk.list(dir).flatMap((name) => {
    const m = segmentNamePattern.exec(name);
    return m === null ? [] : [{ firstIndex: Number(m[1]), path: join(dir, name) }];
  });
  all.sort((a, b) => a.firstIndex - b.firstIndex);
  // Every segment before the last one that starts at or below snapshotIndex + 1 is covered.
  let coveredCount = 0;
  if (snapshotIndex !== undefined) for (let i = 1; i < all.length && all[i]!.firstIndex <= snapshotIndex + 1; i++) coveredCount = i;
  const covered = all.slice(0, coveredCount);
  const names = all.slice(coveredCount);
  const entries: Entry[] = [];
  const segments: Segment[] = [];
  for (let i = 0; i < names.length; i++) {
    const { firstIndex, path } = names[i]!;
    const prev = segments[segments.length - 1];
    if (prev !== undefined && firstIndex !== prev.firstIndex + prev.offsets.length) {
      throw new StorageDamageError(path, 0, `gap: previous segment ends at index ${prev.firstIndex + prev.offsets.length - 1}`);
    }
    const isLast = i === names.length - 1;
    const seg = recoverSegment(disk, path, firstIndex, isLast, entries, logger);
    if (!isLast && seg.offsets.length === 0) throw new StorageDamageError(path, 0, "empty segment before the last");
    segments.push(seg);
  }
  return { covered, segments, entries };
}

/** Bytes the tail rule takes as written atomically (the crash model in wal.ts's header). */
const sectorBytes = 512;

/** A record read in either format, with the extent a bad one covers (readWalRecord). */
type AnyRecordRead = ReturnType<typeof readWalRecord>;

/** Reads a record of format 1 (before the header checked itself) in the shape of format 2. */
function readLegacyRecord(buf: Uint8Array, at: number): AnyRecordRead {
  const r = readRecord(buf, at);
  if (r.type !== "bad") return r;
  const length = ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
  const inRange = length > 0 && length <= recordPayloadBytesMax;
  return { type: "bad", reason: r.reason, extentEnd: at + recordHeaderBytes + (inRange ? length : 0) };
}

/**
 * Reads one segment, pushing its entries. In the last segment a torn tail is cut and
 * logged; anything else that is not intact is damage (the tail rule, wal.ts header).
 */
function recoverSegment(
  disk: Disk,
  path: string,
  firstIndex: LogIndex,
  isLast: boolean,
  out: Entry[],
  logger: RecoveryLogger | undefined,
): Segment {
  const buf = disk.readFile(path);
  // One format per segment, told by its first byte: 0xA0.. for format 2, 0..4 for format 1
  // (a zeroed start reads as format 1, whose rule then finds it torn or the end).
  const legacy = buf.length > 0 && !isWalRecordStart(buf[0]!);
  const read = legacy ? readLegacyRecord : readWalRecord;
  const offsets: number[] = [];
  const payloads: Uint8Array[] = [];
  let at = 0;
  let allocated = buf.length;
  while (at < buf.length) {
    // Zeros to the end are space written ahead of records (WalOptions.preallocateBytes).
    if (isLast && buf[at] === 0 && isZeroFrom(buf, at)) break;
    const r = read(buf, at);
    if (r.type !== "ok") {
      const torn = !isLast ? null : r.type === "short" ? "it runs past the end of the file" : tornSector(buf, at, r.extentEnd);
      if (torn === null) throw new StorageDamageError(path, at, `${r.reason}${isLast ? " in bytes no crash can have torn" : ""}`);
      const intact = countIntactAfter(buf, at, read);
      cutTornTail(disk, path, at);
      logger?.warn(
        `wal: recovery cut ${path} at offset ${at}: ${buf.length - at} bytes, a torn record (${r.reason}; ${torn}) and ${intact} intact record(s) after it, ` +
          "all written after the last completed sync, so none was acknowledged",
        { event: "recovery_cut", file: path, offset: at, bytes: buf.length - at },
      );
      allocated = at;
      break;
    }
    offsets.push(at);
    payloads.push(r.payload);
    at = r.end;
  }
  const entries = decodeSegment(path, payloads, offsets);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.index !== firstIndex + i) throw new StorageDamageError(path, offsets[i]!, `expected index ${firstIndex + i}, found ${e.index}`);
    out.push(e);
  }
  return { firstIndex, path, offsets, size: at, allocated, legacy: legacy && offsets.length > 0 };
}

/**
 * Says why the bad record at `from` (covering bytes up to `to`) is torn: the first sector
 * it covers that holds only zeros from `from` (or the sector's start) to the sector's end or
 * the end of the file, i.e. a sector the record never reached. Null if there is none.
 */
function tornSector(buf: Uint8Array, from: number, to: number): string | null {
  const end = Math.min(to, buf.length);
  for (let sector = from - (from % sectorBytes); sector < end; sector += sectorBytes) {
    const lo = Math.max(from, sector);
    const hi = Math.min(sector + sectorBytes, buf.length);
    let zero = true;
    for (let i = lo; i < hi && zero; i++) zero = buf[i] === 0;
    if (zero) return `bytes ${lo}..${hi - 1} were never written`;
  }
  return null;
}

/** Intact records after a torn one (diagnostics for the log): unsynced pages that reached the disk out of order. */
function countIntactAfter(buf: Uint8Array, torn: number, read: (buf: Uint8Array, at: number) => AnyRecordRead): number {
  let last = buf.length;
  while (last > torn && buf[last - 1] === 0) last--;
  let count = 0;
  for (let at = torn + 1; at + walHeaderBytes <= last; ) {
    if (read === readWalRecord && !isWalRecordStart(buf[at]!)) {
      at++;
      continue;
    }
    const r = read(buf, at);
    if (r.type === "ok") (count++, (at = r.end));
    else at++;
  }
  return count;
}

/** True if every byte of `buf` from `from` on is zero. */
function isZeroFrom(buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Decodes all payloads at once (fast path); on failure finds the first bad record. */
function decodeSegment(path: string, payloads: Uint8Array[], offsets: number[]): Entry[] {
  let total = 0;
  for (const p of payloads) total += p.length;
  const joined = new Uint8Array(total);
  const ends: number[] = new Array<number>(payloads.length);
  let at = 0;
  for (let i = 0; i < payloads.length; i++) {
    joined.set(payloads[i]!, at);
    at += payloads[i]!.length;
    ends[i] = at;
  }
  try {
    return decodeEntries(joined, ends);
  } catch {
    for (let i = 0; i < payloads.length; i++) {
      try {
        decodeEntry(payloads[i]!);
      } catch (err) {
        throw new StorageDamageError(path, offsets[i]!, `undecodable entry: ${(err as Error).message}`);
      }
    }
    throw new StorageDamageError(path, 0, "undecodable entries");
  }
}

function cutTornTail(disk: Disk, path: string, at: number): void {
  const f = disk.open(path, "write");
  try {
    f.truncate(at);
    f.sync();
  } finally {
    f.close();
  }
}
