// Reading a snapshot's pair chunk straight into the map (issue 18: restart time). A chunk is
// the CBOR array `[k1, v1, (ver1,) k2, …]` the state machine's encoder writes (text strings
// and unsigned integers). Decoded through cbor-x, every key and value became a JS string that
// PackedMap then copied into its arrays and the collector had to sweep: at ten million keys
// most of a start-up's restore. This reads the encoder's own form byte by byte and hands ASCII
// keys and values to PackedMap.setAscii as byte ranges.
//
// It reads only what it is sure of, with the same result as cbor-x: definite heads, text
// strings whose bytes are all ASCII (cbor-x gives one code unit per byte for those, whichever
// of its string paths it takes), versions as unsigned integers below 2^32. At the first pair
// it is not sure of it stops and says how many pairs it set; the caller reads the rest through
// cbor-x and the checks it always made (state_machine.ts decodeChunk), so any other input,
// valid or not, gives what it gave before. Pairs set before a failure do not matter: a failed
// restore throws its new map away.
//
// And writing one (writeChunk): the same bytes cbor-x writes for the array of keys, values and
// versions, produced from the map's code units with no JS string per key and value (at ten
// million keys a snapshot made twenty million strings to encode, most of its CPU and garbage).
// ASCII keys and values and versions below 2^32 are written here, in the shortest heads, as
// cbor-x writes them; anything else (a non-ASCII or large string, a larger version) is handed
// to cbor-x itself and its bytes copied in, so every input gives cbor-x's bytes.

import { Encoder } from "../raft/cbor.ts";
import type { PackedMap } from "./packed_map.ts";

/** Set by readHead: the length or value in the head just read. */
let headValue = 0;

/**
 * Reads a CBOR head of major type `major` at `at` with a definite argument below 2^32: the
 * position after it (the argument in headValue), or -1 for anything else.
 */
function readHead(c: Uint8Array, at: number, major: number): number {
  if (at >= c.length) return -1;
  const b = c[at]!;
  if (b >>> 5 !== major) return -1;
  const info = b & 31;
  if (info < 24) {
    headValue = info;
    return at + 1;
  }
  if (info === 24) {
    if (at + 2 > c.length) return -1;
    headValue = c[at + 1]!;
    return at + 2;
  }
  if (info === 25) {
    if (at + 3 > c.length) return -1;
    headValue = (c[at + 1]! << 8) | c[at + 2]!;
    return at + 3;
  }
  if (info === 26) {
    if (at + 5 > c.length) return -1;
    headValue = c[at + 1]! * 0x1000000 + ((c[at + 2]! << 16) | (c[at + 3]! << 8) | c[at + 4]!);
    return at + 5;
  }
  return -1;
}

function isAscii(c: Uint8Array, at: number, length: number): boolean {
  for (let i = at; i < at + length; i++) if (c[i]! > 0x7f) return false;
  return true;
}

/**
 * Sets the chunk's pairs into `into` while they are in the encoder's plain form. Returns -1
 * once the whole chunk was read so (every pair set, no byte left over), else the number of
 * pairs set before the first one it could not read; the caller then decodes the chunk through
 * cbor-x and sets the pairs from that one on.
 */
export function readChunkInto(c: Uint8Array, into: PackedMap, withVersions: boolean): number {
  const stride = withVersions ? 3 : 2;
  let at = readHead(c, 0, 4);
  if (at < 0 || headValue % stride !== 0) return 0;
  const pairs = headValue / stride;
  for (let p = 0; p < pairs; p++) {
    const keyAt = readHead(c, at, 3);
    const keyLength = headValue;
    if (keyAt < 0 || keyLength === 0 || keyAt + keyLength > c.length || !isAscii(c, keyAt, keyLength)) return p;
    const valueAt = readHead(c, keyAt + keyLength, 3);
    const valueLength = headValue;
    if (valueAt < 0 || valueAt + valueLength > c.length || !isAscii(c, valueAt, valueLength)) return p;
    let next = valueAt + valueLength;
    let version = 0;
    if (withVersions) {
      next = readHead(c, next, 0);
      if (next < 0) return p;
      version = headValue;
    }
    into.setAscii(c, keyAt, keyLength, valueAt, valueLength, version);
    at = next;
  }
  return at === c.length ? -1 : pairs;
}

/** The state machine's encoder options: what writeChunk falls back to for the rest. */
const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });

/** Where writeChunk writes a chunk's items, after room for the array's head; grown as needed. */
let scratch = new Uint8Array(1 << 20);
let written = 0;
/** Bytes kept free at the start of scratch for the array head (at most 5). */
const headRoom = 5;

function ensure(bytes: number): void {
  if (written + bytes <= scratch.length) return;
  let length = scratch.length * 2;
  while (written + bytes > length) length *= 2;
  const grown = new Uint8Array(length);
  grown.set(scratch.subarray(0, written));
  scratch = grown;
}

/** A CBOR head of `major` with an argument below 2^32, shortest form, at `written`. */
function writeHead(major: number, value: number): void {
  const type = major << 5;
  if (value < 24) scratch[written++] = type | value;
  else if (value < 0x100) {
    scratch[written++] = type | 24;
    scratch[written++] = value;
  } else if (value < 0x10000) {
    scratch[written++] = type | 25;
    scratch[written++] = value >>> 8;
    scratch[written++] = value & 0xff;
  } else {
    scratch[written++] = type | 26;
    scratch[written++] = value >>> 24;
    scratch[written++] = (value >>> 16) & 0xff;
    scratch[written++] = (value >>> 8) & 0xff;
    scratch[written++] = value & 0xff;
  }
}

/** cbor-x's encoding of `value`, copied in. */
function writeThroughCborX(value: string | number): void {
  const bytes = encoder.encode(value);
  ensure(bytes.length);
  scratch.set(bytes, written);
  written += bytes.length;
}

/** A text string of `length` units of `units` (a byte each) from `at`: ASCII here, anything else through cbor-x. */
function writeText(units: Uint8Array | string, at: number, length: number): void {
  if (typeof units === "string") return writeThroughCborX(units);
  ensure(5 + length);
  const start = written;
  writeHead(3, length);
  for (let i = 0; i < length; i++) {
    const unit = units[at + i]!;
    if (unit > 0x7f) {
      written = start;
      return writeThroughCborX(String.fromCharCode.apply(null, Array.from(units.subarray(at, at + length))));
    }
    scratch[written++] = unit;
  }
}

/** What writeChunk wrote: the chunk, its pairs, and the id to go on from (-1: the map's end). */
export interface WrittenChunk {
  readonly bytes: Uint8Array;
  readonly pairs: number;
  readonly next: number;
}

/**
 * The next chunk of `map` from id `from` (PackedMap.visitUnits): at most `pairsMax` pairs,
 * ending before the pair that would bring its keys and values past `charsMax` code units
 * (one pair at least), as `[k1, v1, (ver1,) …]` in exactly the bytes cbor-x writes for it.
 */
export function writeChunk(map: PackedMap, from: number, pairsMax: number, charsMax: number, withVersions: boolean): WrittenChunk {
  written = headRoom;
  let pairs = 0;
  let chars = 0;
  const next = map.visitUnits(from, (keyUnits, keyAt, keyLength, valueUnits, valueAt, valueLength, version) => {
    if (pairs === pairsMax || (pairs > 0 && chars + keyLength + valueLength > charsMax)) return false;
    writeText(keyUnits, keyAt, keyLength);
    writeText(valueUnits, valueAt, valueLength);
    if (withVersions) {
      if (version < 2 ** 32) {
        ensure(5);
        writeHead(0, version);
      } else writeThroughCborX(version);
    }
    pairs++;
    chars += keyLength + valueLength;
    return true;
  });
  const end = written;
  written = 0;
  writeHead(4, pairs * (withVersions ? 3 : 2));
  const headBytes = written;
  const bytes = new Uint8Array(headBytes + end - headRoom);
  bytes.set(scratch.subarray(0, headBytes));
  bytes.set(scratch.subarray(headRoom, end), headBytes);
  return { bytes, pairs, next };
}
