// The commonest log entry, a plain set `[1, k1, v1, k2, v2, …]` of ASCII keys and values,
// written and read without cbor-x (issue 18: CPU per write). Every replica decodes every
// entry it applies; measured in a leader under write load, cbor-x's decoder (shared with
// every other decoding in the process) took ~6% of the main thread's samples there, its
// encoder ~2%. Anything else, or anything these are unsure of (a non-ASCII character, a
// long command, an unusual head), is left to encodeCommand's and decodeCommand's general
// paths, which alone word the errors: these give the bytes and values those give, or null.

import type { KeyValue, WriteCommand } from "./commands.ts";
import { head, headBytes } from "./once_codec.ts";

/** Longer commands go the general way (cbor-x reads long strings natively). */
export const plainSetBytesMax = 4096;

/** Where the writer or reader is in the command at hand (one at a time, synchronously). */
let pos = 0;

/**
 * encodeCommand's bytes for a plain set of `pairs` (those cbor-x writes: shortest heads), in
 * a buffer of their own, if every key is a non-empty string, every value a string, all ASCII,
 * and the whole at most plainSetBytesMax bytes; null otherwise.
 */
export function encodePlainSet(pairs: readonly KeyValue[]): Uint8Array | null {
  const count = 1 + 2 * pairs.length;
  const at = headBytes(count) + 1;
  const size = pairsBytes(pairs, at);
  if (size < 0) return null;
  const out = new Uint8Array(size);
  head(out, 0, 0x80, count);
  out[at - 1] = 0x01; // tag 1: a set
  return writePairs(out, at, pairs) ? out : null;
}

/**
 * The bytes of a command whose first `before` bytes precede `pairs` written as text strings,
 * if every key is a non-empty string and every value a string and the whole is at most
 * plainSetBytesMax bytes; -1 otherwise. (ASCII is checked by writePairs.)
 */
export function pairsBytes(pairs: readonly KeyValue[], before: number): number {
  let size = before;
  for (const [key, value] of pairs) {
    if (typeof key !== "string" || key.length === 0 || typeof value !== "string") return -1;
    size += headBytes(key.length) + key.length + headBytes(value.length) + value.length;
    if (size > plainSetBytesMax) return -1;
  }
  return size;
}

/** Writes `pairs` as text strings from `at` (pairsBytes sized `out`); false if one is not ASCII. */
export function writePairs(out: Uint8Array, at: number, pairs: readonly KeyValue[]): boolean {
  pos = at;
  for (const [key, value] of pairs) {
    if (!writeAscii(out, key) || !writeAscii(out, value)) return false;
  }
  return true;
}

/** Writes `s` as a text string at `pos` if it is ASCII; false (and a partial write) otherwise. */
function writeAscii(out: Uint8Array, s: string): boolean {
  pos = head(out, pos, 0x60, s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return false;
    out[pos++] = c;
  }
  return true;
}


/**
 * The plain set `b` encodes, as decodeCommand returns it, if `b` is one of ASCII strings
 * only, at most plainSetBytesMax bytes long, with heads of at most two argument bytes;
 * null for anything else.
 */
export function decodePlainSet(b: Uint8Array): WriteCommand | null {
  const count = plainSetHead(b, 0);
  if (count < 0) return null;
  const pairs = readPairs(b, pos, count);
  return pairs === null ? null : { type: "set", pairs };
}

/**
 * The number of pairs of the plain set `b` begins, with `pos` at its first key, if its size,
 * array head and tag are a plain set's; -1 otherwise (its pairs are not looked at).
 */
function plainSetHead(b: Uint8Array, start: number): number {
  const n = b.length - start;
  if (n < 4 || n > plainSetBytesMax) return -1;
  const first = b[start]!;
  let count: number;
  if (first >= 0x80 && first < 0x98) {
    count = first - 0x80;
    pos = start + 1;
  } else if (first === 0x98) {
    count = b[start + 1]!;
    pos = start + 2;
  } else if (first === 0x99) {
    count = b[start + 1]! * 256 + b[start + 2]!;
    pos = start + 3;
  } else return -1;
  if (count < 3 || count % 2 === 0 || b[pos] !== 0x01) return -1; // tag 1: a set
  pos++;
  return (count - 1) / 2;
}

/**
 * `count` pairs of ASCII text strings (keys not empty) from `at` to exactly the end of `b`,
 * with heads of at most two argument bytes; null for anything else.
 */
export function readPairs(b: Uint8Array, at: number, count: number): KeyValue[] | null {
  if (b.length > plainSetBytesMax) return null;
  pos = at;
  const pairs = new Array<KeyValue>(count);
  for (let j = 0; j < count; j++) {
    const key = ascii(b);
    if (key === null || key.length === 0) return null;
    const value = ascii(b);
    if (value === null) return null;
    pairs[j] = [key, value];
  }
  return pos === b.length ? pairs : null;
}

/**
 * Where each string of the last plain set plainSetSpans took lies in its bytes: per pair the
 * key's first byte and length, then the value's. A pair takes at least three bytes, so a
 * plain set's pairs fit.
 */
export const plainSetSpan = new Int32Array(4 * Math.ceil(plainSetBytesMax / 3));

/**
 * The number of pairs of `b` if decodePlainSet would return a set of them (the same checks,
 * the same bytes taken), with where its keys and values lie in plainSetSpan; -1 otherwise.
 * No string is made: the state machine stores a plain set's ASCII bytes as they are
 * (KvStateMachine.apply), which every replica does for every entry it applies (issue 18: CPU
 * per write; making each key and value a string was ~5% of a follower's main thread).
 * With `start`, the same for the set in b[start..] (a once command's write, which ends its
 * envelope), read in place: a view of a fresh array costs more than the read (once_codec.ts).
 */
export function plainSetSpans(b: Uint8Array, start = 0): number {
  const count = plainSetHead(b, start);
  return count < 0 ? -1 : pairSpans(b, pos, count);
}

/**
 * `count` pairs of ASCII text strings (keys not empty) from `at` to exactly the end of `b`, as
 * readPairs reads them, with where each lies in plainSetSpan; `count`, or -1 for anything else.
 * No string is made (plainSetSpans; a conditional set's pairs). The caller bounds b's size.
 */
export function pairSpans(b: Uint8Array, at: number, count: number): number {
  pos = at;
  const span = plainSetSpan;
  for (let j = 0; j < count; j++) {
    const keyLength = asciiSpan(b);
    if (keyLength <= 0) return -1;
    span[4 * j] = pos - keyLength;
    span[4 * j + 1] = keyLength;
    const valueLength = asciiSpan(b);
    if (valueLength < 0) return -1;
    span[4 * j + 2] = pos - valueLength;
    span[4 * j + 3] = valueLength;
  }
  return pos === b.length ? count : -1;
}

/** The length of the ASCII text string at `pos`, moving past it; -1 for anything else (as ascii()). */
function asciiSpan(b: Uint8Array): number {
  const length = textHead(b);
  if (length < 0) return -1;
  for (let k = pos; k < pos + length; k++) if (b[k]! >= 0x80) return -1;
  pos += length;
  return length;
}

/**
 * The length of the text string whose head is at `pos`, with `pos` moved to its first byte,
 * if the head has at most two argument bytes and the string ends within `b`; -1 otherwise.
 */
function textHead(b: Uint8Array): number {
  if (pos >= b.length) return -1;
  const c = b[pos]!;
  let length: number;
  if (c >= 0x60 && c < 0x78) {
    length = c - 0x60;
    pos += 1;
  } else if (c === 0x78 && pos + 1 < b.length) {
    length = b[pos + 1]!;
    pos += 2;
  } else if (c === 0x79 && pos + 2 < b.length) {
    length = b[pos + 1]! * 256 + b[pos + 2]!;
    pos += 3;
  } else return -1;
  return pos + length > b.length ? -1 : length;
}

/** ascii()'s scratch: the code units of the string being read. */
const units: number[] = [];

/** The ASCII text string at `pos`, moving past it; null for anything else. */
function ascii(b: Uint8Array): string | null {
  const length = textHead(b);
  if (length < 0) return null;
  const end = pos + length;
  // One flat string from a reused array of units: built a character at a time it was a rope,
  // which the map's hash then had to flatten.
  units.length = length;
  for (let k = 0; k < length; k++) {
    const ch = b[pos + k]!;
    if (ch >= 0x80) return null;
    units[k] = ch;
  }
  pos = end;
  return String.fromCharCode.apply(null, units);
}
