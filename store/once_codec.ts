// The once command's envelope `[3, stamp, id, write]` (store/commands.ts), written and read
// without cbor-x, as plain_set.ts does for plain sets (issue 16: keyed writes within 10% of
// plain ones). Every replica decodes every entry it applies; through cbor-x's general decoder
// a once entry paid for a DataView over its bytes (and the typed array's buffer made real)
// on every decode. Anything unusual (a non-ASCII id, a non-canonical head, trailing bytes) is
// left to cbor-x: these give the bytes and values cbor-x gives, or null.

/** Wire tag of a once command (commands.ts tagOnce). */
const tagOnce = 3;

/** A once command's parts as the envelope holds them; `write` is a copy of the entry's write bytes. */
export interface OnceParts {
  readonly stamp: number;
  readonly id: string;
  readonly write: Uint8Array;
}

/** A float64's bytes, big-endian as CBOR has them (host order is little-endian, checked below). */
const float = new Float64Array(1);
const floatBytes = new Uint8Array(float.buffer);
const isLittleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * encodeCommand's bytes for `[3, stamp, id, write]` (cbor-x's: shortest heads; a stamp past
 * 32 bits as a float64, as cbor-x writes it), or null if `id` is not ASCII or a part is out
 * of what this writes (then cbor-x writes it).
 */
export function encodeOnceEnvelope(stamp: number, id: string, write: Uint8Array): Uint8Array | null {
  if (!isLittleEndian || !Number.isSafeInteger(stamp) || stamp < 0 || id.length >= 0x10000 || write.length >= 2 ** 32) return null;
  const stampBytes = stamp < 0x18 ? 1 : stamp < 0x100 ? 2 : stamp < 0x10000 ? 3 : stamp <= 0xffffffff ? 5 : 9;
  const out = new Uint8Array(2 + stampBytes + headBytes(id.length) + id.length + headBytes(write.length) + write.length);
  out[0] = 0x84;
  out[1] = tagOnce;
  let at = 2;
  if (stampBytes === 9) {
    out[at++] = 0xfb;
    float[0] = stamp;
    for (let i = 7; i >= 0; i--) out[at++] = floatBytes[i]!;
  } else at = head(out, at, 0x00, stamp);
  at = head(out, at, 0x60, id.length);
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c >= 0x80) return null;
    out[at++] = c;
  }
  at = head(out, at, 0x40, write.length);
  out.set(write, at);
  return out;
}

/** Bytes of a head with argument `n` < 2^32. */
export function headBytes(n: number): number {
  return n < 0x18 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** Writes a head of major type `type` with argument `n` < 2^32 at `at`; returns where it ends. */
export function head(out: Uint8Array, at: number, type: number, n: number): number {
  if (n < 0x18) {
    out[at] = type | n;
    return at + 1;
  }
  if (n < 0x100) {
    out[at] = type | 24;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = type | 25;
    out[at + 1] = n >>> 8;
    out[at + 2] = n & 0xff;
    return at + 3;
  }
  out[at] = type | 26;
  out[at + 1] = n >>> 24;
  out[at + 2] = (n >>> 16) & 0xff;
  out[at + 3] = (n >>> 8) & 0xff;
  out[at + 4] = n & 0xff;
  return at + 5;
}

/** Where the reader is in the envelope at hand (one at a time, synchronously). */
let pos = 0;

/**
 * The parts of `b` if it is exactly `[3, stamp, id, write]` with an unsigned or float64
 * stamp, an ASCII id and a byte string; null for anything else (cbor-x then reads it, and
 * words any error). The parts are not checked here: decodeCommand checks them either way.
 */
export function decodeOnceEnvelope(b: Uint8Array): OnceParts | null {
  if (!readOnceHead(b)) return null;
  // A copy, not a view: the first view of a typed array that has none yet (a leader's own
  // entry, fresh from encodeOnceEnvelope) makes JSC move its bytes out of line into an
  // ArrayBuffer of their own, ~130 bytes more per entry for as long as the log holds it and
  // ~0.4 µs, where copying the few bytes of a write costs ~0.05 µs (measured, /tmp/h16c/sub_*.ts).
  return { stamp: onceHead.stamp, id: onceHead.id, write: b.slice(onceHead.writeStart) };
}

/** What the last readOnceHead that succeeded read (one at a time, synchronously). */
export const onceHead = { stamp: 0, id: "", writeStart: 0 };

/**
 * Whether `b` is exactly what decodeOnceEnvelope takes, with its stamp, its id and where its
 * write's bytes start (they run to the end of `b`) in onceHead; nothing else is made, so
 * the state machine can apply a once command's plain set from the entry's own bytes.
 */
export function readOnceHead(b: Uint8Array): boolean {
  if (!isLittleEndian || b.length < 5 || b[0] !== 0x84 || b[1] !== tagOnce) return false;
  pos = 2;
  const stamp = readStamp(b);
  if (stamp === null) return false;
  const id = readAscii(b);
  if (id === null) return false;
  const length = readArgument(b, 0x40);
  if (length < 0 || pos + length !== b.length) return false;
  onceHead.stamp = stamp;
  onceHead.id = id;
  onceHead.writeStart = pos;
  return true;
}

function readStamp(b: Uint8Array): number | null {
  if (b[pos] === 0xfb) {
    if (pos + 9 > b.length) return null;
    for (let i = 0; i < 8; i++) floatBytes[7 - i] = b[pos + 1 + i]!;
    pos += 9;
    return float[0]!;
  }
  const n = readArgument(b, 0x00);
  return n < 0 ? null : n;
}

/** The argument of a head of major type `type` (at most 32 bits) at `pos`, moving past it; -1 for anything else. */
function readArgument(b: Uint8Array, type: number): number {
  if (pos >= b.length) return -1;
  const c = b[pos]!;
  if (c < type || c >= type + 0x20) return -1;
  const info = c - type;
  if (info < 0x18) {
    pos += 1;
    return info;
  }
  if (info === 24 && pos + 2 <= b.length) {
    pos += 2;
    return b[pos - 1]!;
  }
  if (info === 25 && pos + 3 <= b.length) {
    pos += 3;
    return b[pos - 2]! * 256 + b[pos - 1]!;
  }
  if (info === 26 && pos + 5 <= b.length) {
    pos += 5;
    return ((b[pos - 4]! << 24) >>> 0) + (b[pos - 3]! << 16) + (b[pos - 2]! << 8) + b[pos - 1]!;
  }
  return -1;
}

/** readAscii's scratch: the code units of the string being read. */
const units: number[] = [];

/**
 * The runtime's native Latin-1 decoding of a byte range into one flat string (Node's and
 * Bun's Buffer.prototype.latin1Slice, which takes any Uint8Array), where it has one. On ASCII
 * bytes it gives what String.fromCharCode gives, in a fifth of the time for an id's ~25
 * characters (0.065 µs against 0.29, /tmp/hI/ascii_mb.ts): every member reads a once
 * command's id from its entry's bytes (KvStateMachine.apply).
 */
const latin1Slice = (globalThis as { Buffer?: { prototype?: { latin1Slice?: unknown } } }).Buffer?.prototype?.latin1Slice as
  | ((this: Uint8Array, start: number, end: number) => string)
  | undefined;

/** The ASCII text string at `pos`, moving past it; null for anything else. */
function readAscii(b: Uint8Array): string | null {
  const length = readArgument(b, 0x60);
  // Longer than any valid id (commands.ts onceIdCharsMax): cbor-x reads and refuses it.
  if (length < 0 || length > 4096 || pos + length > b.length) return null;
  const start = pos;
  for (let k = start; k < start + length; k++) if (b[k]! >= 0x80) return null;
  pos += length;
  if (latin1Slice !== undefined) return latin1Slice.call(b, start, start + length);
  // One flat string from a reused array (a character at a time it would be a rope).
  units.length = length;
  for (let k = 0; k < length; k++) units[k] = b[start + k]!;
  return String.fromCharCode.apply(null, units);
}
