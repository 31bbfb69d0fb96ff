// CBOR item boundaries (RFC 8949 §3): how far one encoded item reaches, without decoding
// it. encodeEntries and decodeEntries use this to cut one cbor-x call's output into entries
// and to check that each entry ends exactly at its record boundary.

import { CodecError } from "./codec_shapes.ts";

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
export function skipItemHeader(b: Uint8Array, at: number): number {
  return at + 1 + argumentBytes(b[at]! & 31);
}

/** Offset just after the whole item at `at`; only the definite-length forms cbor-x writes. */
export function skipItem(b: Uint8Array, at: number): number {
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

/** Bytes of the shortest head (RFC 8949 §3) whose argument is `n`, as cbor-x writes lengths. */
export function headBytes(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1_0000_0000 ? 5 : 9;
}

/** Writes the shortest head of major type `major` with argument `n` at `at`; returns the offset after it. */
export function writeHead(b: Uint8Array, at: number, major: number, n: number): number {
  const type = major << 5;
  if (n < 24) {
    b[at] = type | n;
    return at + 1;
  }
  const size = headBytes(n) - 1;
  b[at] = type | (24 + Math.log2(size));
  for (let k = size, v = n; k >= 1; k--, v = Math.floor(v / 256)) b[at + k] = v % 256;
  return at + 1 + size;
}
