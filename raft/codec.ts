// The gateway between bytes and Raft values: compact CBOR (cbor-x) encodings of entries,
// messages, hard state and snapshot metadata, with a shape check of every decoded field.
// Values are checked once here and trusted inside the core (STYLE: validate at the gateway).

import { Decoder, Encoder } from "./cbor.ts";
import type {
  AppendEntries,
  AppendEntriesReply,
  Entry,
  EntryKind,
  HardState,
  InstallSnapshot,
  InstallSnapshotReply,
  Member,
  Membership,
  Message,
  ReadIndexReply,
  ReadIndexRequest,
  RequestVote,
  RequestVoteReply,
  SnapshotMeta,
  TimeoutNow,
} from "./core/mod.ts";

/** Thrown for any byte string that is not a well-formed encoding of the expected value. */
export class CodecError extends Error {
  override readonly name = "CodecError";
}

/** Longest node id, address or read context accepted from the outside, in characters. */
export const stringCharsMax = 4096;
/** Most members in one configuration. */
export const membersCountMax = 1024;
/** Most read contexts in one ReadIndex message. */
export const readCtxsCountMax = 65536;

// Arrays rather than maps keep encodings short: each value's position is its name.
// Changing any code or position below changes the on-disk and wire formats.
const kindCodes: Record<EntryKind, number> = { normal: 0, noop: 1, config: 2 };
const kindsByCode: readonly EntryKind[] = ["normal", "noop", "config"];
const typeCodes: Record<Message["type"], number> = {
  RequestVote: 1,
  RequestVoteReply: 2,
  AppendEntries: 3,
  AppendEntriesReply: 4,
  InstallSnapshot: 5,
  InstallSnapshotReply: 6,
  TimeoutNow: 7,
  ReadIndex: 8,
  ReadIndexReply: 9,
};

const encoder = new Encoder({ useRecords: false, tagUint8Array: false });
// copyBuffers: byte strings are copied out of the input (one allocation), so decoded values
// never alias or pin the buffer they came from (a 64 MiB segment, a reused socket buffer).
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/** Encodes one value with cbor-x; the result is a fresh view the caller may keep. */
function cbor(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** Decodes exactly one CBOR item, turning every cbor-x failure into a CodecError. */
function uncbor(bytes: Uint8Array, what: string): unknown {
  try {
    return decoder.decode(bytes);
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

/** Decodes exactly one CBOR item; any malformed input becomes a CodecError. */
export function decodeCbor(bytes: Uint8Array): unknown {
  return uncbor(bytes, "cbor");
}

// ---- encoding (trusts its input: values come from the core) ----

function membershipArray(m: Membership): unknown[] {
  return m.members.map((x) => [x.id, x.addr, x.suffrage === "voter" ? 0 : 1]);
}

function entryArray(e: Entry): unknown[] {
  const code = kindCodes[e.kind];
  if (code === undefined) throw new CodecError(`entry ${e.index}: unknown kind ${String(e.kind)}`);
  if (e.kind === "config") {
    if (e.membership === undefined) throw new CodecError(`entry ${e.index}: config without membership`);
    return [e.index, e.term, code, e.data, membershipArray(e.membership)];
  }
  return [e.index, e.term, code, e.data];
}

function metaArray(m: SnapshotMeta): unknown[] {
  return [m.lastIncludedIndex, m.lastIncludedTerm, membershipArray(m.membership)];
}

/** Encodes one log entry (the WAL record payload). */
export function encodeEntry(e: Entry): Uint8Array {
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
  for (let i = 0; i < list.length; i++) out[i] = entry(list[i], `entries[${i}]`);
  return out;
}

/** Length of a CBOR head's argument bytes, by its additional-info field (RFC 8949 §3). */
function argumentBytes(info: number): number {
  if (info < 24) return 0;
  if (info <= 27) return 1 << (info - 24);
  throw new CodecError(`unsupported CBOR additional info ${info}`);
}

function argumentAt(b: Uint8Array, at: number, info: number): number {
  if (info < 24) return info;
  let v = 0;
  for (let k = 0, n = argumentBytes(info); k < n; k++) v = v * 256 + b[at + 1 + k]!;
  return v;
}

/** Offset just after the head (type and argument) of the item at `at`. */
function skipItemHeader(b: Uint8Array, at: number): number {
  return at + 1 + argumentBytes(b[at]! & 31);
}

/** Offset just after the whole item at `at`; only the definite-length forms cbor-x writes. */
function skipItem(b: Uint8Array, at: number): number {
  if (at >= b.length) throw new CodecError("item runs past the end");
  const major = b[at]! >> 5;
  const info = b[at]! & 31;
  const arg = argumentAt(b, at, info);
  let next = skipItemHeader(b, at);
  // Every item takes at least one byte: a count above what is left is malformed (and
  // would otherwise make the loops below run for 2^64 steps).
  if (next > b.length || (major >= 2 && major <= 5 && arg > b.length - next)) throw new CodecError("item runs past the end");
  switch (major) {
    case 2: // byte string
    case 3: // text string
      return next + arg;
    case 4: // array
      for (let k = 0; k < arg; k++) next = skipItem(b, next);
      return next;
    case 5: // map
      for (let k = 0; k < 2 * arg; k++) next = skipItem(b, next);
      return next;
    case 6: // tag: one item follows
      return skipItem(b, next);
    default: // integers, simple values, floats: the head is the whole item
      return next;
  }
}

/** Encodes snapshot metadata (used inside the snapshot store's meta file). */
export function encodeSnapshotMeta(m: SnapshotMeta): Uint8Array {
  return cbor(metaArray(m));
}

/** Encodes the hard state (Figure 2's persistent currentTerm and votedFor). */
export function encodeHardState(h: HardState): Uint8Array {
  return cbor([h.currentTerm, h.votedFor]);
}

/** Encodes one message as [type, from, to, term, ...fields]. */
export function encodeMessage(msg: Message): Uint8Array {
  return cbor([typeCodes[msg.type], msg.from, msg.to, msg.term, ...messageFields(msg)]);
}

function messageFields(msg: Message): unknown[] {
  switch (msg.type) {
    case "RequestVote":
      return [msg.preVote, msg.lastLogIndex, msg.lastLogTerm, msg.transfer];
    case "RequestVoteReply":
      return [msg.preVote, msg.voteGranted];
    case "AppendEntries":
      return [msg.prevLogIndex, msg.prevLogTerm, msg.entries.map(entryArray), msg.leaderCommit, msg.readRound];
    case "AppendEntriesReply":
      return [msg.success, msg.matchIndex, msg.conflictIndex, msg.conflictTerm, msg.readRound];
    case "InstallSnapshot":
      return [metaArray(msg.meta), msg.offset, msg.data, msg.done];
    case "InstallSnapshotReply":
      return [msg.lastIncludedIndex, msg.nextOffset, msg.done];
    case "TimeoutNow":
      return [];
    case "ReadIndex":
      return [msg.ctxs];
    case "ReadIndexReply":
      return [msg.ctxs, msg.readIndex];
    default:
      return unreachable(msg);
  }
}

function unreachable(x: never): never {
  throw new CodecError(`unknown message type ${String((x as { type?: unknown }).type)}`);
}

// ---- decoding (trusts nothing) ----

function fail(what: string, why: string): never {
  throw new CodecError(`${what}: ${why}`);
}

function arr(v: unknown, what: string, length?: number): unknown[] {
  if (!Array.isArray(v)) fail(what, "expected an array");
  if (length !== undefined && v.length !== length) fail(what, `expected ${length} items, got ${v.length}`);
  return v;
}

/** A non-negative safe integer: terms, indexes, offsets, counters. */
function nat(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) fail(what, "expected a non-negative safe integer");
  return v;
}

/** A safe integer >= -1, for the fields where -1 means "none" or "restart". */
function natOrMinusOne(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < -1) fail(what, "expected a safe integer >= -1");
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== "boolean") fail(what, "expected a boolean");
  return v;
}

function str(v: unknown, what: string, allowEmpty = false): string {
  if (typeof v !== "string") fail(what, "expected a string");
  if (v.length > stringCharsMax) fail(what, `string longer than ${stringCharsMax}`);
  if (!allowEmpty && v.length === 0) fail(what, "empty string");
  return v;
}

/** Already a copy (copyBuffers); a Buffer copy is re-viewed as a plain Uint8Array. */
function bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(what, "expected a byte string");
  return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function membership(v: unknown, what: string): Membership {
  const list = arr(v, what);
  if (list.length > membersCountMax) fail(what, `more than ${membersCountMax} members`);
  const seen = new Set<string>();
  const members: Member[] = [];
  for (let i = 0; i < list.length; i++) {
    const m = arr(list[i], `${what}[${i}]`, 3);
    const id = str(m[0], `${what}[${i}].id`);
    if (seen.has(id)) fail(what, `duplicate member ${id}`);
    seen.add(id);
    const code = m[2];
    if (code !== 0 && code !== 1) fail(`${what}[${i}].suffrage`, "expected 0 or 1");
    members.push({ id, addr: str(m[1], `${what}[${i}].addr`, true), suffrage: code === 0 ? "voter" : "learner" });
  }
  return { members };
}

function entry(v: unknown, what: string): Entry {
  const a = arr(v, what);
  const index = nat(a[0], `${what}.index`);
  if (index === 0) fail(`${what}.index`, "entries start at index 1");
  const term = nat(a[1], `${what}.term`);
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

function snapshotMeta(v: unknown, what: string): SnapshotMeta {
  const a = arr(v, what, 3);
  return {
    lastIncludedIndex: nat(a[0], `${what}.lastIncludedIndex`),
    lastIncludedTerm: nat(a[1], `${what}.lastIncludedTerm`),
    membership: membership(a[2], `${what}.membership`),
  };
}

/** Decodes one log entry, or throws CodecError. */
export function decodeEntry(b: Uint8Array): Entry {
  return entry(uncbor(b, "entry"), "entry");
}

/** Decodes snapshot metadata, or throws CodecError. */
export function decodeSnapshotMeta(b: Uint8Array): SnapshotMeta {
  return snapshotMeta(uncbor(b, "snapshot meta"), "snapshot meta");
}

/** Decodes the hard state, or throws CodecError. */
export function decodeHardState(b: Uint8Array): HardState {
  const a = arr(uncbor(b, "hard state"), "hard state", 2);
  const votedFor = a[1] === null ? null : str(a[1], "hard state.votedFor");
  return { currentTerm: nat(a[0], "hard state.currentTerm"), votedFor };
}

/**
 * Decodes one message and checks every field against raft/core/messages.ts. Entries in an
 * AppendEntries must be contiguous after prevLogIndex, with terms that never decrease and
 * never exceed the message's term (Log Matching, §5.3), so the core can trust the slice.
 */
export function decodeMessage(b: Uint8Array): Message {
  const a = arr(uncbor(b, "message"), "message");
  if (a.length < 4) fail("message", "too short");
  const code = a[0];
  const type = typeof code === "number" ? messageTypeByCode[code] : undefined;
  if (type === undefined) fail("message", `unknown type code ${String(code)}`);
  const w = `${type}`;
  const from = str(a[1], `${w}.from`);
  const to = str(a[2], `${w}.to`);
  const term = nat(a[3], `${w}.term`);
  return decodeFields(type, { from, to, term }, a, w);
}

const messageTypeByCode: Record<number, Message["type"] | undefined> = Object.fromEntries(
  Object.entries(typeCodes).map(([k, v]) => [v, k as Message["type"]]),
);

interface Head {
  readonly from: string;
  readonly to: string;
  readonly term: number;
}

function want(a: unknown[], n: number, w: string): void {
  if (a.length !== 4 + n) fail(w, `expected ${4 + n} items, got ${a.length}`);
}

function decodeFields(type: Message["type"], h: Head, a: unknown[], w: string): Message {
  switch (type) {
    case "RequestVote": {
      want(a, 4, w);
      const m: RequestVote = { type, ...h, preVote: bool(a[4], `${w}.preVote`), lastLogIndex: nat(a[5], `${w}.lastLogIndex`), lastLogTerm: nat(a[6], `${w}.lastLogTerm`), transfer: bool(a[7], `${w}.transfer`) };
      return m;
    }
    case "RequestVoteReply": {
      want(a, 2, w);
      const m: RequestVoteReply = { type, ...h, preVote: bool(a[4], `${w}.preVote`), voteGranted: bool(a[5], `${w}.voteGranted`) };
      return m;
    }
    case "AppendEntries":
      want(a, 5, w);
      return appendEntries(h, a, w);
    case "AppendEntriesReply": {
      want(a, 5, w);
      const m: AppendEntriesReply = { type, ...h, success: bool(a[4], `${w}.success`), matchIndex: nat(a[5], `${w}.matchIndex`), conflictIndex: nat(a[6], `${w}.conflictIndex`), conflictTerm: nat(a[7], `${w}.conflictTerm`), readRound: nat(a[8], `${w}.readRound`) };
      return m;
    }
    case "InstallSnapshot": {
      want(a, 4, w);
      const m: InstallSnapshot = { type, ...h, meta: snapshotMeta(a[4], `${w}.meta`), offset: nat(a[5], `${w}.offset`), data: bytes(a[6], `${w}.data`), done: bool(a[7], `${w}.done`) };
      return m;
    }
    case "InstallSnapshotReply": {
      want(a, 3, w);
      const m: InstallSnapshotReply = { type, ...h, lastIncludedIndex: nat(a[4], `${w}.lastIncludedIndex`), nextOffset: natOrMinusOne(a[5], `${w}.nextOffset`), done: bool(a[6], `${w}.done`) };
      return m;
    }
    case "TimeoutNow": {
      want(a, 0, w);
      const m: TimeoutNow = { type, ...h };
      return m;
    }
    case "ReadIndex": {
      want(a, 1, w);
      const m: ReadIndexRequest = { type, ...h, ctxs: ctxs(a[4], `${w}.ctxs`) };
      return m;
    }
    case "ReadIndexReply": {
      want(a, 2, w);
      const m: ReadIndexReply = { type, ...h, ctxs: ctxs(a[4], `${w}.ctxs`), readIndex: natOrMinusOne(a[5], `${w}.readIndex`) };
      return m;
    }
    default:
      return unreachable(type as never);
  }
}

function ctxs(v: unknown, what: string): string[] {
  const list = arr(v, what);
  if (list.length > readCtxsCountMax) fail(what, `more than ${readCtxsCountMax} contexts`);
  return list.map((c, i) => str(c, `${what}[${i}]`, true));
}

function appendEntries(h: Head, a: unknown[], w: string): AppendEntries {
  const prevLogIndex = nat(a[4], `${w}.prevLogIndex`);
  const prevLogTerm = nat(a[5], `${w}.prevLogTerm`);
  const list = arr(a[6], `${w}.entries`);
  const entries: Entry[] = new Array<Entry>(list.length);
  let lastTerm = prevLogTerm;
  for (let i = 0; i < list.length; i++) {
    const e = entry(list[i], `${w}.entries[${i}]`);
    if (e.index !== prevLogIndex + 1 + i) fail(`${w}.entries[${i}]`, `index ${e.index} is not contiguous`);
    if (e.term < lastTerm || e.term > h.term) fail(`${w}.entries[${i}]`, `term ${e.term} out of order`);
    lastTerm = e.term;
    entries[i] = e;
  }
  return {
    type: "AppendEntries",
    ...h,
    prevLogIndex,
    prevLogTerm,
    entries,
    leaderCommit: nat(a[7], `${w}.leaderCommit`),
    readRound: nat(a[8], `${w}.readRound`),
  };
}
