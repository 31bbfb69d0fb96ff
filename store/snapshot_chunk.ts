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
