// The backup file format (GET /backup, -restore): written a record at a time from a frozen
// copy of the state, so a backup of any size streams with back-pressure and is never whole in
// memory; read back with every byte checked before a restore creates anything.
//
// Format, version 1 (all integers big-endian):
//   magic     8 bytes, ASCII "HRAFTDBK"
//   version   u32, 1
//   records   each: u32 length n (1 ≤ n ≤ backupRecordBytesMax), then n bytes of CBOR, an array
//             whose first element names the record:
//               ["header", index, term, pairCount, nodeId]       first, exactly once
//               ["pairs", [k1, v1, k2, v2, …]]                   0 or more, ≤ backupRecordPairs pairs each (fewer past backupRecordChars)
//               ["trailer", pairCount, pairsRecords, sha256]     last, exactly once
// `index` and `term` are those of the last entry applied to the captured state (index ≥ 1);
// sha256 (32 bytes) covers every byte of the file before the trailer's length prefix. Nothing
// may follow the trailer. Keys are non-empty strings, values strings, no key twice.
//
// Version 2 (issue 16) carries the rest of the state machine: "entries" records in place of
// "pairs", `["entries", [k1, v1, ver1, …]]` with each key's version, then 0 or more
// `["sessions", logClock, [id, digest, stamp, status, body, …]]` records (the once-only table,
// oldest entry first) before the trailer, whose record count counts "entries" records. Written
// when the state has versions or a once-only table; version 1 otherwise, and still read.
//
// Version 3 (issue 16, expiring keys) is version 2 followed, before the trailer, by 1 or more
// `["deadlines", logClock, [k1, deadline1, …]]` records (up to backupRecordPairs keys each):
// the deadlines of expiring keys in log time and the log clock they count in, every key one of
// the backup's. Written only when some key has a deadline; versions 1 and 2 are still read.

import { createHash, type Hash } from "node:crypto";
import { Decoder, Encoder } from "../raft/cbor.ts";
import { onceIdCharsMax } from "./commands.ts";
import type { SessionEntry } from "./sessions.ts";

export const backupMagic = "HRAFTDBK";
/** The version of a state without versions or once-only table (and the first this build reads). */
export const backupVersion = 1;
/** The version with versions and the once-only table. */
export const backupVersionState = 2;
/** The version with deadlines of expiring keys as well. */
export const backupVersionDeadlines = 3;
/** Session entries per "sessions" record. */
export const backupSessionsPerRecord = 4096;
/** Pairs per "pairs" record: one record is encoded per pull of the stream (~0.4 ms each). */
export const backupRecordPairs = 4096;
/**
 * Characters of keys and values past which a "pairs" record ends early (after at least one
 * pair): 4,096 pairs of 17 KiB values already passed backupRecordBytesMax. 4 Mi characters are
 * at most 12 MiB of UTF-8.
 */
export const backupRecordChars = 4 * 1024 * 1024;
/** Largest record accepted when reading: bounds what one bad length field can make us allocate. */
export const backupRecordBytesMax = 64 * 1024 * 1024;

const magicBytes = new TextEncoder().encode(backupMagic);
const prefixBytes = magicBytes.length + 4;
const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false });

/** What a backup says about itself (its header record). */
export interface BackupHeader {
  /** Index of the last entry applied to the state (≥ 1). */
  readonly index: number;
  /** Term of that entry. */
  readonly term: number;
  readonly pairCount: number;
  /** The node the backup was taken from. */
  readonly nodeId: string;
}

/** A frozen state to write: pairs in order, `size` of them. */
export interface BackupInput extends Omit<BackupHeader, "pairCount"> {
  readonly size: number;
  entries(): Iterator<[string, string]>;
  /** The same pairs with each key's version; given, the backup is version 2. */
  entriesVersioned?(): Iterator<[string, string, number]>;
  /** The once-only table as of the same state (with entriesVersioned). */
  readonly sessions?: { readonly logClock: number; readonly entries: readonly SessionEntry[] };
  /** Keys with a deadline (log-time ms) as of the same state (with entriesVersioned); some, the backup is version 3. */
  readonly deadlines?: readonly (readonly [string, number])[];
}

/** A backup that cannot be read: `message` is one line saying where and why. */
export class BackupError extends Error {
  override readonly name = "BackupError";
}

/**
 * The backup file as a sequence of pieces: the prefix with the header, one piece per "pairs"
 * record, the trailer. Lazy: each piece is encoded when asked for, so the caller's pace (a
 * ReadableStream's pull) is the encoder's.
 */
export function* backupPieces(input: BackupInput): Generator<Uint8Array, void, undefined> {
  const hash = createHash("sha256");
  const emit = (bytes: Uint8Array): Uint8Array => {
    hash.update(bytes);
    return bytes;
  };
  const versioned = input.entriesVersioned;
  const deadlines = versioned === undefined ? [] : input.deadlines ?? [];
  const prefix = new Uint8Array(prefixBytes);
  prefix.set(magicBytes, 0);
  new DataView(prefix.buffer).setUint32(magicBytes.length, versioned === undefined ? backupVersion : deadlines.length > 0 ? backupVersionDeadlines : backupVersionState);
  yield emit(concat(prefix, frame(["header", input.index, input.term, input.size, input.nodeId])));
  let records = 0;
  if (versioned === undefined) {
    for (const batch of pairBatches(input.size, input.entries())) {
      records++;
      yield emit(frame(["pairs", batch.flat()]));
    }
  } else {
    for (const batch of pairBatches(input.size, versioned.call(input))) {
      records++;
      yield emit(frame(["entries", batch.flat()]));
    }
    const sessions = input.sessions ?? { logClock: 0, entries: [] };
    for (let i = 0; i < sessions.entries.length; i += backupSessionsPerRecord) {
      const flat = sessions.entries.slice(i, i + backupSessionsPerRecord).flatMap((e) => [e.id, e.digest, e.stamp, e.outcome.status, e.outcome.body]);
      yield emit(frame(["sessions", sessions.logClock, flat]));
    }
    for (let i = 0; i < deadlines.length; i += backupRecordPairs) {
      yield emit(frame(["deadlines", sessions.logClock, deadlines.slice(i, i + backupRecordPairs).flat()]));
    }
  }
  yield frame(["trailer", input.size, records, new Uint8Array(hash.digest())]);
}

/**
 * The same state as a JSON document, in pieces: `{"format":"hraftd-backup","version":1,
 * "index":…,"term":…,"node":…,"count":…,"pairs":{"k":"v",…}}`. For people, not for -restore.
 */
export function* backupJsonPieces(input: BackupInput): Generator<Uint8Array, void, undefined> {
  const text = new TextEncoder();
  const head = { format: "hraftd-backup", version: backupVersion, index: input.index, term: input.term, node: input.nodeId, count: input.size };
  yield text.encode(`${JSON.stringify(head).slice(0, -1)},"pairs":{`);
  let done = 0;
  for (const batch of pairBatches(input.size, input.entries())) {
    const parts = batch.map(([k, v]) => `${done++ === 0 ? "" : ","}\n${JSON.stringify(k)}:${JSON.stringify(v)}`);
    yield text.encode(parts.join(""));
  }
  yield text.encode("\n}}\n");
}

/**
 * The state's pairs in batches of at most backupRecordPairs pairs, ending a batch early once
 * it holds backupRecordChars characters (every batch takes at least one pair).
 */
function* pairBatches<P extends [string, string] | [string, string, number]>(size: number, pairs: Iterator<P>): Generator<P[], void, undefined> {
  let held: P | null = null;
  let done = 0;
  while (done < size) {
    const batch: P[] = [];
    let chars = 0;
    while (batch.length < backupRecordPairs && done + batch.length < size) {
      let pair: P | null = held;
      held = null;
      if (pair === null) {
        const next = pairs.next();
        if (next.done === true) throw new Error("backup: the frozen state shrank while being written");
        pair = next.value;
      }
      const size = pair[0].length + pair[1].length;
      if (batch.length > 0 && chars + size > backupRecordChars) {
        held = pair;
        break;
      }
      batch.push(pair);
      chars += size;
    }
    done += batch.length;
    yield batch;
  }
}

/** Random access to the bytes of a backup (a file, or an array in tests). */
export interface BackupSource {
  readonly size: number;
  /** Up to `length` bytes at `position`; fewer only at the end. */
  read(position: number, length: number): Uint8Array;
}

/**
 * Reads and checks a whole backup: magic, version, every record's shape, the counts and the
 * checksum; hands each record's pairs to `onPairs` as it goes, with their versions (null in
 * version 1), and each "sessions" record's entries to `onSessions` (before the checksum is
 * known: a caller that keeps them must wait for the return). Throws BackupError naming the offset.
 */
export function readBackup(
  source: BackupSource,
  onPairs?: (pairs: ReadonlyArray<readonly [string, string]>, versions: readonly number[] | null) => void,
  onSessions?: (logClock: number, entries: readonly SessionEntry[]) => void,
  onDeadlines?: (logClock: number, deadlines: ReadonlyArray<readonly [string, number]>) => void,
): BackupHeader {
  const hash = createHash("sha256");
  const prefix = source.read(0, prefixBytes);
  if (prefix.length < magicBytes.length || !magicBytes.every((b, i) => prefix[i] === b)) {
    throw new BackupError(`not an hraftd backup: it does not start with "${backupMagic}"`);
  }
  if (prefix.length < prefixBytes) throw new BackupError(`truncated at byte ${prefix.length}: no format version`);
  const version = new DataView(prefix.buffer, prefix.byteOffset).getUint32(magicBytes.length);
  if (version !== backupVersion && version !== backupVersionState && version !== backupVersionDeadlines) {
    throw new BackupError(`backup format version ${version} is not supported (this build reads versions ${backupVersion} to ${backupVersionDeadlines})`);
  }
  const isV2 = version === backupVersionState || version === backupVersionDeadlines;
  const hasDeadlines = version === backupVersionDeadlines;
  const deadlineKeys = new Set<string>();
  let deadlinesSeen = false;
  const pairsTag = isV2 ? "entries" : "pairs";
  const stride = isV2 ? 3 : 2;
  const sessionIds = new Set<string>();
  let logClockSeen: number | null = null;
  hash.update(prefix);
  let at = prefixBytes;
  const header = headerFrom(nextRecord(source, at, hash), at);
  at += header.bytes;
  let pairCount = 0;
  let records = 0;
  for (;;) {
    const record = nextRecord(source, at, hash);
    const value = record.value;
    if (value[0] === "trailer") {
      if (hasDeadlines && !deadlinesSeen) throw new BackupError(`version-3 backup without a "deadlines" record before the trailer at byte ${at}`);
      checkTrailer(value, at, { header, pairCount, records, digest: hash.digest() });
      at += record.bytes;
      if (at !== source.size) throw new BackupError(`${source.size - at} unexpected bytes after the trailer at byte ${at}`);
      return header.header;
    }
    if (hasDeadlines && value[0] === "deadlines") {
      const deadlines = deadlinesFrom(value, at, deadlineKeys);
      if (logClockSeen !== null && logClockSeen !== value[1]) throw new BackupError(`record at byte ${at}: deadlines and sessions records disagree on the log clock`);
      logClockSeen = value[1] as number;
      deadlinesSeen = true;
      onDeadlines?.(logClockSeen, deadlines);
      at += record.bytes;
      continue;
    }
    if (isV2 && value[0] === "sessions" && !deadlinesSeen) {
      const entries = sessionsFrom(value, at, sessionIds);
      if (logClockSeen !== null && logClockSeen !== value[1]) throw new BackupError(`record at byte ${at}: sessions records disagree on the log clock`);
      logClockSeen = value[1] as number;
      onSessions?.(logClockSeen, entries);
      at += record.bytes;
      continue;
    }
    if (logClockSeen !== null || value[0] !== pairsTag || value.length !== 2 || !Array.isArray(value[1]) || value[1].length % stride !== 0) {
      throw new BackupError(`record at byte ${at} is neither "${pairsTag}"${isV2 ? ', "sessions"' : ""} nor "trailer" where it stands`);
    }
    const flat = value[1] as unknown[];
    const pairs: [string, string][] = new Array(flat.length / stride);
    const versions: number[] | null = isV2 ? new Array(flat.length / stride) : null;
    for (let i = 0; i < flat.length; i += stride) {
      const key = flat[i];
      const val = flat[i + 1];
      const ver = isV2 ? flat[i + 2] : 0;
      if (typeof key !== "string" || key.length === 0 || typeof val !== "string" || !isCount(ver)) {
        throw new BackupError(`record at byte ${at} has a bad pair at ${i / stride} (keys are non-empty strings, values strings, versions counts)`);
      }
      pairs[i / stride] = [key, val];
      if (versions !== null) versions[i / stride] = ver;
    }
    pairCount += pairs.length;
    records++;
    onPairs?.(pairs, versions);
    at += record.bytes;
  }
}

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

/**
 * A "deadlines" record's keys and deadlines, checked (no key twice across records; that each
 * is one of the backup's keys is checked where they are loaded, against the pairs).
 */
function deadlinesFrom(value: unknown[], at: number, seen: Set<string>): Array<readonly [string, number]> {
  const [, logClock, flat] = value;
  if (value.length !== 3 || !isCount(logClock) || !Array.isArray(flat) || flat.length === 0 || flat.length % 2 !== 0) {
    throw new BackupError(`deadlines record at byte ${at} is malformed`);
  }
  const out: Array<readonly [string, number]> = [];
  for (let i = 0; i < flat.length; i += 2) {
    const key: unknown = flat[i];
    const deadline: unknown = flat[i + 1];
    if (typeof key !== "string" || key.length === 0 || seen.has(key) || !isCount(deadline)) {
      throw new BackupError(`deadlines record at byte ${at} has a bad entry at ${i / 2} (a key, once, with a deadline)`);
    }
    seen.add(key);
    out.push([key, deadline]);
  }
  return out;
}

/** A "sessions" record's entries, checked (no id twice across records). */
function sessionsFrom(value: unknown[], at: number, ids: Set<string>): SessionEntry[] {
  const [, logClock, flat] = value;
  if (value.length !== 3 || !isCount(logClock) || !Array.isArray(flat) || flat.length % 5 !== 0) {
    throw new BackupError(`sessions record at byte ${at} is malformed`);
  }
  const entries: SessionEntry[] = [];
  for (let i = 0; i < flat.length; i += 5) {
    const [id, digest, stamp, status, body] = flat.slice(i, i + 5) as unknown[];
    const ok = typeof id === "string" && id.length > 0 && id.length <= onceIdCharsMax && !ids.has(id) && typeof digest === "string" &&
      isCount(stamp) && stamp <= logClock && typeof status === "number" && Number.isInteger(status) && status >= 100 && status <= 599 &&
      typeof body === "string";
    if (!ok) throw new BackupError(`sessions record at byte ${at} has a bad entry at ${i / 5}`);
    ids.add(id);
    entries.push({ id, digest, stamp, outcome: { status, body } });
  }
  return entries;
}

/** The header record, checked. */
function headerFrom(record: { value: unknown[]; bytes: number }, at: number): { header: BackupHeader; bytes: number } {
  const [tag, index, term, pairCount, nodeId] = record.value;
  if (tag !== "header" || record.value.length !== 5) throw new BackupError(`record at byte ${at} is not the header`);
  const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  if (!isCount(index) || index < 1 || !isCount(term) || term < 1 || !isCount(pairCount) || typeof nodeId !== "string") {
    throw new BackupError(`header at byte ${at} is malformed (index and term ≥ 1, a pair count, a node id)`);
  }
  return { header: { index, term, pairCount, nodeId }, bytes: record.bytes };
}

function checkTrailer(
  value: unknown[],
  at: number,
  seen: { header: { header: BackupHeader }; pairCount: number; records: number; digest: Buffer },
): void {
  const [, pairCount, records, digest] = value;
  if (value.length !== 4 || !(digest instanceof Uint8Array) || digest.length !== 32) throw new BackupError(`trailer at byte ${at} is malformed`);
  if (!seen.digest.equals(digest)) throw new BackupError(`checksum mismatch: the backup was changed or damaged (SHA-256 of bytes 0..${at} differs from its trailer)`);
  if (pairCount !== seen.pairCount || pairCount !== seen.header.header.pairCount || records !== seen.records) {
    throw new BackupError(`trailer at byte ${at} counts ${String(pairCount)} pairs in ${String(records)} records; the file holds ${seen.pairCount} in ${seen.records}`);
  }
}

/** The record at `at`: its decoded array and its length with the prefix; hashed unless a trailer. */
function nextRecord(source: BackupSource, at: number, hash: Hash): { value: unknown[]; bytes: number } {
  const head = source.read(at, 4);
  if (head.length < 4) throw new BackupError(`truncated at byte ${at + head.length}: the trailer is missing`);
  const length = new DataView(head.buffer, head.byteOffset).getUint32(0);
  if (length < 1 || length > backupRecordBytesMax) throw new BackupError(`record at byte ${at} has a bad length ${length}`);
  const payload = source.read(at + 4, length);
  if (payload.length < length) throw new BackupError(`truncated at byte ${at + 4 + payload.length}: a record of ${length} bytes ends early`);
  let value: unknown;
  try {
    value = decoder.decode(payload);
  } catch (e) {
    throw new BackupError(`record at byte ${at} is not valid CBOR: ${(e as Error).message}`);
  }
  if (!Array.isArray(value) || value.length === 0) throw new BackupError(`record at byte ${at} is not a tagged array`);
  // The trailer holds the checksum, so it is not covered by it.
  if (value[0] !== "trailer") {
    hash.update(head);
    hash.update(payload);
  }
  return { value, bytes: 4 + length };
}

/** A record: its length, then its CBOR. */
function frame(value: unknown): Uint8Array {
  const payload = encoder.encode(value);
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
