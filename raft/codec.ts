// The gateway between bytes and the Raft values we store: compact CBOR (cbor-x) encodings of
// entries, hard state and snapshot metadata, with a shape check of every decoded field.
// Messages are in raft/message_codec.ts. Values are checked once here and trusted inside the
// core (STYLE: validate at the gateway).

import { Decoder, Encoder } from "./cbor.ts";
import { headBytes, skipItem, skipItemHeader, writeHead } from "./cbor_items.ts";
import { arr, bytes, CodecError, fail, indexOf, membersCountMax, nodeIdOf, str, termOf } from "./codec_shapes.ts";
import type { Entry, EntryKind, HardState, Member, Membership, NodeId, SnapshotMeta } from "./core/mod.ts";

/** The gateway's error, for its importers (stable, snapshots, envelope). */
export { CodecError } from "./codec_shapes.ts";

// Arrays rather than maps keep encodings short: each value's position is its name.
// Changing any code or position below changes the on-disk and wire formats.
const kindCodes: Record<EntryKind, number> = { normal: 0, noop: 1, config: 2 };
const kindsByCode: readonly EntryKind[] = ["normal", "noop", "config"];
const encoder = new Encoder({ useRecords: false, tagUint8Array: false });
// copyBuffers: byte strings are copied out of the input (one allocation), so decoded values
// never alias or pin the buffer they came from (a 64 MiB segment, a reused socket buffer).
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, copyBuffers: true });
/**
 * The same without the copies: byte strings are views of the input. Only for input no one
 * reuses or changes (a transport frame: FrameDecoder's fresh copies), where a copy is pure cost.
 */
const viewDecoder = new Decoder({ useRecords: false, mapsAsObjects: true, copyBuffers: false });

/** Encodes one value with cbor-x; the result is a fresh view the caller may keep. */
function cbor(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** Decodes exactly one CBOR item, turning every cbor-x failure into a CodecError. */
function uncbor(bytes: Uint8Array, what: string, views = false): unknown {
  try {
    return (views ? viewDecoder : decoder).decode(bytes);
  } catch (err) {
    throw new CodecError(`${what}: malformed CBOR (${(err as Error).message})`);
  }
}

/**
 * Encodes any value with the codec's cbor-x settings (the stable and snapshot stores' files
 * and the transport's envelope use this pair).
 */
export function encodeCbor(value: unknown): Uint8Array {
  return cbor(value);
}

/** Decodes exactly one CBOR item; any malformed input becomes a CodecError naming `what`. */
export function decodeCbor(bytes: Uint8Array, what = "cbor"): unknown {
  return uncbor(bytes, what);
}

/**
 * decodeCbor() with byte strings as views of `bytes` rather than copies: only for bytes that
 * no one reuses or changes afterwards (a transport frame), see viewDecoder.
 */
export function decodeCborViews(bytes: Uint8Array, what = "cbor"): unknown {
  return uncbor(bytes, what, true);
}

// ---- encoding (trusts its input: values come from the core) ----

function membershipArray(m: Membership): unknown[] {
  return m.members.map((x) => [x.id, x.addr, x.suffrage === "voter" ? 0 : 1]);
}

/** An entry as the array encodeEntry writes (also inside AppendEntries). */
export function entryArray(e: Entry): unknown[] {
  const code = kindCodes[e.kind];
  if (code === undefined) throw new CodecError(`entry ${e.index}: unknown kind ${String(e.kind)}`);
  if (e.kind === "config") {
    if (e.membership === undefined) throw new CodecError(`entry ${e.index}: config without membership`);
    return [e.index, e.term, code, e.data, membershipArray(e.membership)];
  }
  return [e.index, e.term, code, e.data];
}

/** Snapshot metadata as the array encodeSnapshotMeta writes (also inside InstallSnapshot). */
export function metaArray(m: SnapshotMeta): unknown[] {
  return [m.lastIncludedIndex, m.lastIncludedTerm, membershipArray(m.membership)];
}

/**
 * Entries CBOR-encoded by this process so far: a work counter (tests count encodings through
 * it; each proposal should be encoded once on the leader, raft/entry_bytes.ts).
 */
export const entryEncodings = { count: 0 };

/** Encodes one log entry (the WAL record payload). */
export function encodeEntry(e: Entry): Uint8Array {
  entryEncodings.count++;
  return cbor(entryArray(e));
}

/** Several entries encoded at once: entry i is `bytes.subarray(ends[i-1] ?? 0, ends[i])`. */
export interface EncodedEntries {
  readonly bytes: Uint8Array;
  readonly ends: readonly number[];
}

/**
 * Encodes many entries with one cbor-x call (a quarter of the per-entry cost of encodeEntry,
 * measured: the per-call overhead dominates for small entries), then finds each entry's
 * bytes inside the array. Each slice is byte-identical to encodeEntry of that entry.
 */
export function encodeEntries(entries: readonly Entry[]): EncodedEntries {
  entryEncodings.count += entries.length;
  return writeEntries(entries) ?? cborEntries(entries);
}

/**
 * encodeEntries for a batch of normal and no-op entries with index and term below 2^32 (every
 * batch but one holding a membership change): each item [index, term, kind, data] written
 * directly, the bytes cbor-x writes for entryArray (shortest heads), in a third of its time.
 * Null for any other batch.
 */
function writeEntries(entries: readonly Entry[]): EncodedEntries | null {
  let size = 0;
  for (const e of entries) {
    if (e.kind === "config" || e.index >= 0x1_0000_0000 || e.term >= 0x1_0000_0000) return null;
    size += 2 + headBytes(e.index) + headBytes(e.term) + headBytes(e.data.length) + e.data.length;
  }
  const bytes = new Uint8Array(size);
  const ends = new Array<number>(entries.length);
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    bytes[at] = 0x84; // an array of four items
    at = writeHead(bytes, at + 1, 0, e.index);
    at = writeHead(bytes, at, 0, e.term);
    bytes[at] = kindCodes[e.kind];
    at = writeHead(bytes, at + 1, 2, e.data.length);
    bytes.set(e.data, at);
    at += e.data.length;
    ends[i] = at;
  }
  return { bytes, ends };
}

/** encodeEntries through cbor-x: one call for the whole batch, then each entry's bounds found. */
function cborEntries(entries: readonly Entry[]): EncodedEntries {
  const all = cbor(entries.map(entryArray));
  const head = skipItemHeader(all, 0);
  const ends: number[] = new Array<number>(entries.length);
  let at = head;
  for (let i = 0; i < entries.length; i++) {
    at = skipItem(all, at);
    ends[i] = at - head;
  }
  if (at !== all.length) throw new CodecError("encodeEntries: item boundaries do not match");
  return { bytes: all.subarray(head), ends };
}

/**
 * Decodes entries laid end to end in `bytes` (entry i ends at ends[i]), the inverse of
 * encodeEntries, with one cbor-x call for all of them: per-call setup dominates for small
 * entries. Each item must end exactly at its boundary, so no entry can borrow bytes from
 * its neighbour. Throws CodecError naming the first bad item.
 */
export function decodeEntries(bytes: Uint8Array, ends: readonly number[]): Entry[] {
  let at = 0;
  for (let i = 0; i < ends.length; i++) {
    try {
      at = skipItem(bytes, at);
    } catch {
      at = -1;
    }
    if (at !== ends[i]) throw new CodecError(`entry ${i}: item does not end at its record boundary`);
  }
  if (at !== bytes.length) throw new CodecError("entries: trailing bytes");
  // A definite-length array head (major type 4, 8-byte count) in front of the items.
  const framed = new Uint8Array(9 + bytes.length);
  framed[0] = 0x9b;
  for (let k = 0, n = ends.length; k < 8; k++, n = Math.floor(n / 256)) framed[8 - k] = n % 256;
  framed.set(bytes, 9);
  const list = arr(uncbor(framed, "entries"), "entries", ends.length);
  const out: Entry[] = new Array<Entry>(list.length);
  for (let i = 0; i < list.length; i++) out[i] = entryFrom(list[i], `entries[${i}]`);
  return out;
}

/** Encodes snapshot metadata (used inside the snapshot store's meta file). */
export function encodeSnapshotMeta(m: SnapshotMeta): Uint8Array {
  return cbor(metaArray(m));
}

/** Encodes the hard state (Figure 2's persistent currentTerm and votedFor). */
export function encodeHardState(h: HardState): Uint8Array {
  return cbor([h.currentTerm, h.votedFor]);
}

// ---- decoding (trusts nothing) ----

function membership(v: unknown, what: string): Membership {
  const list = arr(v, what);
  if (list.length > membersCountMax) fail(what, `more than ${membersCountMax} members`);
  const seen = new Set<NodeId>();
  const members: Member[] = [];
  for (let i = 0; i < list.length; i++) {
    const m = arr(list[i], `${what}[${i}]`, 3);
    const id = nodeIdOf(m[0], `${what}[${i}].id`);
    if (seen.has(id)) fail(what, `duplicate member ${id}`);
    seen.add(id);
    const code = m[2];
    if (code !== 0 && code !== 1) fail(`${what}[${i}].suffrage`, "expected 0 or 1");
    members.push({ id, addr: str(m[1], `${what}[${i}].addr`, true), suffrage: code === 0 ? "voter" : "learner" });
  }
  return { members };
}

/** Checks a decoded value is an entry (the inverse of entryArray); `what` names it in errors. */
export function entryFrom(v: unknown, what: string): Entry {
  const a = arr(v, what);
  const index = indexOf(a[0], `${what}.index`);
  if (index === 0) fail(`${what}.index`, "entries start at index 1");
  const term = termOf(a[1], `${what}.term`);
  const kind = typeof a[2] === "number" ? kindsByCode[a[2]] : undefined;
  if (kind === undefined) fail(`${what}.kind`, "unknown entry kind");
  const data = bytes(a[3], `${what}.data`);
  if (kind === "config") {
    if (a.length !== 5) fail(what, "config entry needs a membership");
    return { index, term, kind, data, membership: membership(a[4], `${what}.membership`) };
  }
  if (a.length !== 4) fail(what, `expected 4 items, got ${a.length}`);
  return { index, term, kind, data };
}

/** Checks a decoded value is snapshot metadata (the inverse of metaArray). */
export function snapshotMetaFrom(v: unknown, what: string): SnapshotMeta {
  const a = arr(v, what, 3);
  return {
    lastIncludedIndex: indexOf(a[0], `${what}.lastIncludedIndex`),
    lastIncludedTerm: termOf(a[1], `${what}.lastIncludedTerm`),
    membership: membership(a[2], `${what}.membership`),
  };
}

/** Decodes one log entry, or throws CodecError. */
export function decodeEntry(b: Uint8Array): Entry {
  return entryFrom(uncbor(b, "entry"), "entry");
}

/** Decodes snapshot metadata, or throws CodecError. */
export function decodeSnapshotMeta(b: Uint8Array): SnapshotMeta {
  return snapshotMetaFrom(uncbor(b, "snapshot meta"), "snapshot meta");
}

/** Decodes the hard state, or throws CodecError. */
export function decodeHardState(b: Uint8Array): HardState {
  const a = arr(uncbor(b, "hard state"), "hard state", 2);
  const votedFor = a[1] === null ? null : nodeIdOf(a[1], "hard state.votedFor");
  return { currentTerm: termOf(a[0], "hard state.currentTerm"), votedFor };
}
