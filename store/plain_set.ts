// The commonest log entry, a plain set `[1, k1, v1, k2, v2, …]` of ASCII keys and values,
// read without cbor-x (issue 18: CPU per write). Every replica decodes every entry it
// applies; measured in a leader under write load, cbor-x's decoder (shared with every other
// decoding in the process) took ~6% of the main thread's samples there. Anything else, or
// anything this reader is unsure of (a non-ASCII byte, a long command, an unusual head),
// is left to decodeCommand's general path, which alone words the errors: this reader
// gives what that path gives, or nothing.

import type { KeyValue, WriteCommand } from "./commands.ts";

/** Longer commands go the general way (cbor-x reads long strings natively). */
export const plainSetBytesMax = 4096;

/** Where the reader is in the command being read (one at a time, synchronously). */
let pos = 0;

/**
 * The plain set `b` encodes, as decodeCommand returns it, if `b` is one of ASCII strings
 * only, at most plainSetBytesMax bytes long, with heads of at most two argument bytes;
 * null for anything else.
 */
export function decodePlainSet(b: Uint8Array): WriteCommand | null {
  const n = b.length;
  if (n < 4 || n > plainSetBytesMax) return null;
  const first = b[0]!;
  let count: number;
  if (first >= 0x80 && first < 0x98) {
    count = first - 0x80;
    pos = 1;
  } else if (first === 0x98) {
    count = b[1]!;
    pos = 2;
  } else if (first === 0x99) {
    count = b[1]! * 256 + b[2]!;
    pos = 3;
  } else return null;
  if (count < 3 || count % 2 === 0 || b[pos] !== 0x01) return null; // tag 1: a set
  pos++;
  const pairs = new Array<KeyValue>((count - 1) / 2);
  for (let j = 0; j < pairs.length; j++) {
    const key = ascii(b);
    if (key === null || key.length === 0) return null;
    const value = ascii(b);
    if (value === null) return null;
    pairs[j] = [key, value];
  }
  return pos === n ? { type: "set", pairs } : null;
}

/** The ASCII text string at `pos`, moving past it; null for anything else. */
function ascii(b: Uint8Array): string | null {
  if (pos >= b.length) return null;
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
  } else return null;
  const end = pos + length;
  if (end > b.length) return null;
  let s = "";
  for (let k = pos; k < end; k++) {
    const ch = b[k]!;
    if (ch >= 0x80) return null;
    s += String.fromCharCode(ch);
  }
  pos = end;
  return s;
}
