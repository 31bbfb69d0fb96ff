// A block of the once-only table (store/sessions.ts) as the snapshot's session chunks, written
// straight from the table's packed arrays (issue 16: keyed writes within 10% of plain ones).
// The general way made each entry's id and digest into strings, an entry object and then
// cbor-x's encoding of the flat array: ~2.2 µs an entry, 220 ms for a full table of 100,000,
// and a full table changes wholly between two snapshots under load, so every replica paid it
// at every snapshot (measured: /tmp/h5/snap_only.ts, a snapshot of 100k keys 25 ms without
// the table, 250 ms with it). These are the bytes cbor-x writes for the same flat array
// (shortest heads, a stamp past 32 bits as a float64), or null for anything unusual (a
// character past ASCII, a stamp that is not a non-negative integer): then cbor-x writes it.

import { head, headBytes } from "./once_codec.ts";

/** A block's entries as the table packs them (sessions.ts Block), read only. */
export interface PackedEntries {
  readonly stamp: Float64Array;
  readonly status: Uint16Array;
  /** Per place: id start, id length, digest start, digest length, in `chars`. */
  readonly at: Int32Array;
  readonly chars: Uint16Array;
  /** The place's outcome body ("" for most). */
  body(place: number): string;
}

/** Fields per session entry in a chunk: id, digest, stamp, status, body (state_machine.ts). */
const fields = 5;

/** A float64's bytes, big-endian as CBOR has them (host order little-endian, checked). */
const float = new Float64Array(1);
const floatBytes = new Uint8Array(float.buffer);
const isLittleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * The chunks state_machine.ts's encodeSessionChunks makes of the entries at `places` (live,
 * oldest first): a chunk ends before an entry once it holds `pairsMax` entries or the entry's
 * characters (id, digest, body) would take it past `charsMax`; each chunk is the CBOR array
 * `[id, digest, stamp, status, body, …]`. Null if cbor-x must write them.
 */
export function encodePackedSessionChunks(b: PackedEntries, places: readonly number[], pairsMax: number, charsMax: number): Uint8Array[] | null {
  if (!isLittleEndian) return null;
  const chunks: Uint8Array[] = [];
  let from = 0;
  while (from < places.length) {
    // This chunk's entries [from, to) and their bytes.
    let to = from;
    let chars = 0;
    let bytes = 0;
    for (; to < places.length; to++) {
      const place = places[to]!;
      const idLength = b.at[place * 4 + 1]!;
      const digestLength = b.at[place * 4 + 3]!;
      const body = b.body(place);
      const size = idLength + digestLength + body.length;
      if (to > from && (to - from >= pairsMax || chars + size > charsMax)) break;
      chars += size;
      const stamp = b.stamp[place]!;
      if (!Number.isSafeInteger(stamp) || stamp < 0) return null;
      bytes += headBytes(idLength) + idLength + headBytes(digestLength) + digestLength;
      bytes += stamp <= 0xffffffff ? headBytes(stamp) : 9;
      bytes += headBytes(b.status[place]!) + headBytes(body.length) + body.length;
    }
    const count = (to - from) * fields;
    const out = new Uint8Array(headBytes(count) + bytes);
    let at = head(out, 0, 0x80, count);
    for (let k = from; k < to; k++) {
      const place = places[k]!;
      at = text(out, at, b.chars, b.at[place * 4]!, b.at[place * 4 + 1]!);
      if (at < 0) return null;
      at = text(out, at, b.chars, b.at[place * 4 + 2]!, b.at[place * 4 + 3]!);
      if (at < 0) return null;
      const stamp = b.stamp[place]!;
      if (stamp <= 0xffffffff) at = head(out, at, 0x00, stamp);
      else {
        out[at++] = 0xfb;
        float[0] = stamp;
        for (let i = 7; i >= 0; i--) out[at++] = floatBytes[i]!;
      }
      at = head(out, at, 0x00, b.status[place]!);
      const body = b.body(place);
      at = head(out, at, 0x60, body.length);
      for (let i = 0; i < body.length; i++) {
        const c = body.charCodeAt(i);
        if (c >= 0x80) return null;
        out[at++] = c;
      }
    }
    chunks.push(out);
    from = to;
  }
  return chunks;
}

/** Writes the ASCII text string of `chars[start, start + length)` at `at`; -1 past ASCII. */
function text(out: Uint8Array, at: number, chars: Uint16Array, start: number, length: number): number {
  at = head(out, at, 0x60, length);
  for (let i = 0; i < length; i++) {
    const c = chars[start + i]!;
    if (c >= 0x80) return -1;
    out[at++] = c;
  }
  return at;
}
