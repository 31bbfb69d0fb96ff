// The transport's commonest frames, an AppendEntries and its reply, written and read without
// cbor-x's general machinery (issue 18: CPU per write). Writing: each entry's CBOR item is
// made once per Ready and copied into every follower's message (raft/entry_bytes.ts); a reply
// is written field by field. Reading: the shapes written here are walked directly, with every
// check decodeMessage makes (message_codec.ts), and an append's items are kept for the
// follower's WAL. Anything else, or anything these are unsure of (an indefinite length, a
// float, a non-ASCII string, a config entry, a number from 2^32), is left to envelope.ts's
// general path, which alone words the errors: nothing is read here that that path would
// refuse or read differently, and what is written here is byte for byte what it writes.

import { headBytes, skipItem, skipItemHeader, writeHead } from "./cbor_items.ts";
import { encodeCbor } from "./codec.ts";
import { stringCharsMax } from "./codec_shapes.ts";
import type { AppendEntries, AppendEntriesReply, Entry, LogIndex, NodeId, Term } from "./core/mod.ts";
import { entryItems, keepEntryItems } from "./entry_bytes.ts";
import { typeCodeOf } from "./message_codec.ts";

const typeAppendEntries = typeCodeOf("AppendEntries");
const typeAppendReply = typeCodeOf("AppendEntriesReply");

/**
 * AppendEntries frames written so far, by how their scalars were written: directly (ASCII
 * strings, numbers below 2^32, the commonest case) or through one cbor-x call (anything
 * else). A work counter: tests count cbor-x calls per follower through it.
 */
export const appendFrameWrites = { direct: 0, general: 0 };

/**
 * An AppendEntries envelope [kind, fromAddr, bytes of the message], byte for byte what
 * cbor-x gives for it (envelope.ts), written into one buffer: its scalars written here as
 * encodeAppendReplyEnvelope writes a reply's, then each entry's item from entryItems, so a
 * Ready's entries are encoded once for every follower and the leader's own WAL record, not
 * once per message and again for the log. A leader writes one per follower per batch: with
 * four followers, a cbor-x call for each one's scalars cost more than copying its entries.
 */
export function encodeAppendEnvelope(kind: number, fromAddr: string, m: AppendEntries): Uint8Array {
  const items = entryItems(m.entries, "send");
  let itemBytes = 0;
  for (const item of items) itemBytes += item.length;
  const numbers = [m.term, m.prevLogIndex, m.prevLogTerm, m.leaderCommit, m.readRound];
  // Strings and scalars alone first: a sentinel of textBytes' must not vanish in the items' bytes.
  const fromBytes = textBytes(m.from);
  const toBytes = textBytes(m.to);
  const addrBytes = textBytes(fromAddr);
  let isDirect = fromBytes >= 0 && toBytes >= 0 && addrBytes >= 0 && kind <= 23;
  for (const x of numbers) if (!(x >= 0 && x < 0x1_0000_0000)) isDirect = false;
  if (!isDirect) return encodeAppendGeneral(kind, fromAddr, m, items, itemBytes);
  // [type, from, to, term, prevLogIndex, prevLogTerm, entries, leaderCommit, readRound]
  let messageBytes = 1 + headBytes(typeAppendEntries) + fromBytes + toBytes + headBytes(items.length) + itemBytes;
  for (const x of numbers) messageBytes += headBytes(x);
  appendFrameWrites.direct++;
  const out = new Uint8Array(2 + addrBytes + headBytes(messageBytes) + messageBytes);
  out[0] = 0x83;
  out[1] = kind;
  let at = writeText(out, 2, fromAddr);
  at = writeHead(out, at, 2, messageBytes);
  out[at] = 0x89;
  at = writeHead(out, at + 1, 0, typeAppendEntries);
  at = writeText(out, at, m.from);
  at = writeText(out, at, m.to);
  at = writeHead(out, at, 0, m.term);
  at = writeHead(out, at, 0, m.prevLogIndex);
  at = writeHead(out, at, 0, m.prevLogTerm);
  at = writeHead(out, at, 4, items.length);
  for (const item of items) {
    out.set(item, at);
    at += item.length;
  }
  at = writeHead(out, at, 0, m.leaderCommit);
  at = writeHead(out, at, 0, m.readRound);
  if (at !== out.length) throw new Error("AppendEntries envelope: sizes do not add up");
  return out;
}

/** encodeAppendEnvelope for what it does not write itself: the scalars as one cbor-x call writes them. */
function encodeAppendGeneral(kind: number, fromAddr: string, m: AppendEntries, items: readonly Uint8Array[], itemBytes: number): Uint8Array {
  appendFrameWrites.general++;
  // [kind, fromAddr] of the envelope, then the message's items before and after its entries.
  const scalars = encodeCbor([kind, fromAddr, typeAppendEntries, m.from, m.to, m.term, m.prevLogIndex, m.prevLogTerm, m.leaderCommit, m.readRound]);
  const envStart = skipItemHeader(scalars, 0);
  const headStart = skipItem(scalars, skipItem(scalars, envStart));
  let headEnd = headStart;
  for (let k = 0; k < 6; k++) headEnd = skipItem(scalars, headEnd);
  const tailEnd = scalars.length;
  const messageBytes = 1 + (headEnd - headStart) + headBytes(items.length) + itemBytes + (tailEnd - headEnd);
  const out = new Uint8Array(1 + (headStart - envStart) + headBytes(messageBytes) + messageBytes);
  let at = writeHead(out, 0, 4, 3);
  out.set(scalars.subarray(envStart, headStart), at);
  at = writeHead(out, at + headStart - envStart, 2, messageBytes);
  at = writeHead(out, at, 4, 9); // [type, from, to, term, prevLogIndex, prevLogTerm, entries, leaderCommit, readRound]
  out.set(scalars.subarray(headStart, headEnd), at);
  at = writeHead(out, at + headEnd - headStart, 4, items.length);
  for (const item of items) {
    out.set(item, at);
    at += item.length;
  }
  out.set(scalars.subarray(headEnd, tailEnd), at);
  if (at + tailEnd - headEnd !== out.length) throw new Error("AppendEntries envelope: sizes do not add up");
  return out;
}

/** Entry data up to this size is copied out of a frame byte by byte. */
const shortCopyBytesMax = 128;

/** Where the reader is in the frame being read (one frame at a time, synchronously). */
let pos = 0;

/**
 * Reads an AppendEntries envelope of the shape encodeAppendEnvelope writes: its sender and
 * message, checked as decodeEnvelope and decodeMessage check them, with each entry's data
 * copied out and each entry's item kept for the WAL. Null for any other frame, or one this
 * reader does not take (envelope.ts then decodes it the general way, errors included).
 * The kept items are views of `b`, written by the log a turn or more later: `b` must be a
 * buffer no one reuses (the transports' frames are fresh copies, raft/framing.ts).
 */
export function decodeAppendEnvelope(b: Uint8Array, kind: number, addrCharsMax: number): { fromAddr: string; msg: AppendEntries } | null {
  const n = b.length;
  if (n < 4 || b[0] !== 0x83 || b[1] !== kind) return null;
  pos = 2;
  const fromAddr = ascii(b, addrCharsMax);
  if (fromAddr === null || fromAddr.length === 0) return null;
  if (head(b, 2) !== n - pos || b[pos] !== 0x89) return null; // the message's bytes, to the end
  pos++;
  if (head(b, 0) !== typeAppendEntries) return null;
  const from = ascii(b, stringCharsMax);
  const to = ascii(b, stringCharsMax);
  if (from === null || from.length === 0 || to === null || to.length === 0) return null;
  const term = head(b, 0);
  const prevLogIndex = head(b, 0);
  const prevLogTerm = head(b, 0);
  const count = head(b, 4);
  if (term < 0 || prevLogIndex < 0 || prevLogTerm < 0 || count < 0 || count > n - pos) return null;
  const entries = new Array<Entry>(count);
  const items = new Array<Uint8Array>(count);
  let lastTerm = prevLogTerm;
  for (let i = 0; i < count; i++) {
    const start = pos;
    if (b[pos] !== 0x84) return null; // [index, term, kind, data]: a normal or no-op entry
    pos++;
    const index = head(b, 0);
    const entryTerm = head(b, 0);
    const code = b[pos];
    if (index !== prevLogIndex + 1 + i || entryTerm < lastTerm || entryTerm > term || (code !== 0 && code !== 1)) return null;
    pos++;
    const length = head(b, 2);
    if (length < 0 || length > n - pos) return null;
    // A plain copy whatever `b` is (a Buffer's slice would be a view): the log keeps it. A
    // short one byte by byte: a view of `b` to copy from cost more than the copy.
    const data = new Uint8Array(length);
    if (length <= shortCopyBytesMax) for (let k = 0; k < length; k++) data[k] = b[pos + k]!;
    else data.set(b.subarray(pos, pos + length));
    pos += length;
    lastTerm = entryTerm;
    entries[i] = { index: index as LogIndex, term: entryTerm as Term, kind: code === 0 ? "normal" : "noop", data };
    items[i] = b.subarray(start, pos);
  }
  const leaderCommit = head(b, 0);
  const readRound = head(b, 0);
  if (leaderCommit < 0 || readRound < 0 || pos !== n) return null;
  keepEntryItems(entries, items);
  const msg: AppendEntries = {
    type: "AppendEntries",
    from: from as NodeId,
    to: to as NodeId,
    term: term as Term,
    prevLogIndex: prevLogIndex as LogIndex,
    prevLogTerm: prevLogTerm as Term,
    entries,
    leaderCommit: leaderCommit as LogIndex,
    readRound,
  };
  return { fromAddr, msg };
}

/**
 * The argument of the head at `pos` if it has major type `major` and at most four argument
 * bytes, moving past the head; -1 otherwise (an indefinite length, a float, another type, or
 * eight argument bytes, which cbor-x reads as a BigInt that the general path refuses).
 */
function head(b: Uint8Array, major: number): number {
  if (pos >= b.length) return -1;
  const c = b[pos]!;
  if (c >> 5 !== major) return -1;
  const info = c & 31;
  if (info < 24) {
    pos += 1;
    return info;
  }
  const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0;
  if (size === 0 || pos + 1 + size > b.length) return -1;
  let v = 0;
  for (let k = 1; k <= size; k++) v = v * 256 + b[pos + k]!;
  pos += 1 + size;
  return v;
}

/**
 * Strings read so far that were built from their bytes rather than found among the recent
 * ones (a work counter for tests). A frame names its sender's address, its sender and its
 * receiver: a leader of four followers reads twelve such strings per batch from their acks,
 * always the same few, and building each a character at a time cost more than the rest of
 * the reply (issue 18).
 */
export const asciiStringsBuilt = { count: 0 };

/**
 * Recent strings, by a hash of their bytes: direct-mapped, a slot simply overwritten. A
 * cluster's few addresses and ids rarely share a slot of 256; two that do are built again.
 */
const recentStrings: string[] = new Array<string>(256).fill("");

/** A text string of at most `charsMax` ASCII characters at `pos`, moving past it; null otherwise. */
function ascii(b: Uint8Array, charsMax: number): string | null {
  const length = head(b, 3);
  if (length < 0 || length > charsMax || pos + length > b.length) return null;
  const start = pos;
  const end = start + length;
  let h = 0x811c9dc5 ^ length; // FNV-1a
  for (let k = start; k < end; k++) {
    const c = b[k]!;
    if (c >= 0x80) return null;
    h = Math.imul(h ^ c, 0x01000193);
  }
  pos = end;
  const slot = (h ^ (h >>> 8) ^ (h >>> 16)) & 255;
  const recent = recentStrings[slot]!;
  if (recent.length === length) {
    let k = 0;
    while (k < length && recent.charCodeAt(k) === b[start + k]) k++;
    if (k === length) return recent;
  }
  let s = "";
  for (let k = start; k < end; k++) s += String.fromCharCode(b[k]!);
  asciiStringsBuilt.count++;
  recentStrings[slot] = s;
  return s;
}

/**
 * An AppendEntriesReply envelope [kind, fromAddr, bytes of the message], byte for byte what
 * cbor-x gives for it, if its strings are ASCII and its numbers below 2^32; null otherwise.
 */
export function encodeAppendReplyEnvelope(kind: number, fromAddr: string, m: AppendEntriesReply): Uint8Array | null {
  const numbers = [m.term, m.matchIndex, m.conflictIndex, m.conflictTerm, m.readRound];
  let messageBytes = 1 + 1 + textBytes(m.from) + textBytes(m.to) + 1; // head, type, from, to, success
  for (const x of numbers) {
    if (!(x >= 0 && x < 0x1_0000_0000)) return null;
    messageBytes += headBytes(x);
  }
  const addrBytes = textBytes(fromAddr);
  if (messageBytes < 0 || addrBytes < 0 || kind > 23) return null; // a -1 from textBytes: not ASCII
  const out = new Uint8Array(2 + addrBytes + headBytes(messageBytes) + messageBytes);
  out[0] = 0x83;
  out[1] = kind;
  pos = writeText(out, 2, fromAddr);
  pos = writeHead(out, pos, 2, messageBytes);
  out[pos] = 0x89; // [type, from, to, term, success, matchIndex, conflictIndex, conflictTerm, readRound]
  out[pos + 1] = typeAppendReply;
  pos = writeText(out, pos + 2, m.from);
  pos = writeText(out, pos, m.to);
  pos = writeHead(out, pos, 0, m.term);
  out[pos++] = m.success ? 0xf5 : 0xf4;
  pos = writeHead(out, pos, 0, m.matchIndex);
  pos = writeHead(out, pos, 0, m.conflictIndex);
  pos = writeHead(out, pos, 0, m.conflictTerm);
  pos = writeHead(out, pos, 0, m.readRound);
  return out;
}

/** Bytes of `s` as a CBOR text string if it is ASCII, else a negative number. */
function textBytes(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return -1_000_000;
  return headBytes(s.length) + s.length;
}

/** Writes the ASCII string `s` as a text string at `at`; returns the offset after it. */
function writeText(out: Uint8Array, at: number, s: string): number {
  at = writeHead(out, at, 3, s.length);
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/**
 * Reads an AppendEntriesReply envelope of the shape encodeAppendReplyEnvelope writes, checked
 * as decodeEnvelope and decodeMessage check it; null for any other frame.
 */
export function decodeAppendReplyEnvelope(b: Uint8Array, kind: number, addrCharsMax: number): { fromAddr: string; msg: AppendEntriesReply } | null {
  const n = b.length;
  if (n < 4 || b[0] !== 0x83 || b[1] !== kind) return null;
  pos = 2;
  const fromAddr = ascii(b, addrCharsMax);
  if (fromAddr === null || fromAddr.length === 0) return null;
  if (head(b, 2) !== n - pos || b[pos] !== 0x89) return null;
  pos++;
  if (head(b, 0) !== typeAppendReply) return null;
  const from = ascii(b, stringCharsMax);
  const to = ascii(b, stringCharsMax);
  if (from === null || from.length === 0 || to === null || to.length === 0) return null;
  const term = head(b, 0);
  const flag = b[pos++];
  if (term < 0 || (flag !== 0xf5 && flag !== 0xf4)) return null;
  const matchIndex = head(b, 0);
  const conflictIndex = head(b, 0);
  const conflictTerm = head(b, 0);
  const readRound = head(b, 0);
  if (matchIndex < 0 || conflictIndex < 0 || conflictTerm < 0 || readRound < 0 || pos !== n) return null;
  const msg: AppendEntriesReply = {
    type: "AppendEntriesReply",
    from: from as NodeId,
    to: to as NodeId,
    term: term as Term,
    success: flag === 0xf5,
    matchIndex: matchIndex as LogIndex,
    conflictIndex: conflictIndex as LogIndex,
    conflictTerm: conflictTerm as Term,
    readRound,
  };
  return { fromAddr, msg };
}
