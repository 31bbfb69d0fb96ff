// Record framing. Format 1, used by the stable store and the snapshot meta file (and by WAL
// segments written before format 2): [u32 payload length][u32 CRC32 of payload][payload],
// big-endian. Format 2, the WAL's (below). And StorageDamageError.

import { crc32 } from "node:zlib";

/** Bytes of a record header: payload length and CRC32, both u32 big-endian. */
export const recordHeaderBytes = 8;
/** Largest payload a record may carry; a length above this is damage, not data. */
export const recordPayloadBytesMax = 64 * 1024 * 1024;

/**
 * Stored data is damaged: a bad checksum before the end of a log, a gap in indexes, an
 * unreadable snapshot or state file. The node refuses to start rather than drop data
 * it may have acknowledged (DESIGN "Persistence").
 */
export class StorageDamageError extends Error {
  override readonly name = "StorageDamageError";
  constructor(
    readonly path: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`storage damaged: ${path} at offset ${offset}: ${reason}`);
  }
}

/** CRC32 (IEEE) of `bytes`, continuing from `previous` for streamed data. */
export function checksum(bytes: Uint8Array, previous = 0): number {
  return crc32(bytes, previous) >>> 0;
}

/** Writes the header for `payload` at `at` in `target` (which must have room). */
export function writeRecordHeader(target: Uint8Array, at: number, payload: Uint8Array): void {
  // Byte by byte rather than through a DataView: this runs once per entry on the hot path.
  const length = payload.length;
  const crc = checksum(payload);
  target[at] = length >>> 24;
  target[at + 1] = length >>> 16;
  target[at + 2] = length >>> 8;
  target[at + 3] = length;
  target[at + 4] = crc >>> 24;
  target[at + 5] = crc >>> 16;
  target[at + 6] = crc >>> 8;
  target[at + 7] = crc;
}

/** A whole record for `payload`. */
export function frameRecord(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(recordHeaderBytes + payload.length);
  writeRecordHeader(out, 0, payload);
  out.set(payload, recordHeaderBytes);
  return out;
}

/** What is found at one offset: a checked payload, too few bytes, or bytes that are wrong. */
export type RecordRead =
  | { readonly type: "ok"; readonly payload: Uint8Array; readonly end: number }
  | { readonly type: "short"; readonly reason: string }
  | { readonly type: "bad"; readonly reason: string };

/** Reads the record at `offset`; the payload is a view into `buf`. */
export function readRecord(buf: Uint8Array, offset: number): RecordRead {
  if (buf.length - offset < recordHeaderBytes) return { type: "short", reason: "partial record header" };
  const length = u32At(buf, offset);
  if (length === 0 || length > recordPayloadBytesMax) return { type: "bad", reason: `record length ${length} out of range` };
  const end = offset + recordHeaderBytes + length;
  if (end > buf.length) return { type: "short", reason: `record of ${length} bytes runs past the end` };
  const payload = buf.subarray(offset + recordHeaderBytes, end);
  if (checksum(payload) !== u32At(buf, offset + 4)) return { type: "bad", reason: "checksum mismatch" };
  return { type: "ok", payload, end };
}

/** Big-endian u32 at `at` (byte by byte: recovery reads one header per entry). */
function u32At(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Reads a file holding exactly one record (state file, snapshot meta), or throws damage. */
export function readSingleRecord(buf: Uint8Array, path: string): Uint8Array {
  const r = readRecord(buf, 0);
  if (r.type !== "ok") throw new StorageDamageError(path, 0, r.reason);
  if (r.end !== buf.length) throw new StorageDamageError(path, r.end, "trailing bytes after the record");
  return r.payload;
}

// ---- The WAL's record format 2 (raft/wal.ts explains why each byte is there) ----
//
//   [0]       0xA0 | length >>> 24   (length < 2^27; the first byte of a format-1 record is 0..4)
//   [1..3]    length, low 24 bits, big-endian
//   [4..7]    CRC32 of the payload
//   [8..10]   low 24 bits of CRC32 of bytes 0..7: the length checks itself
//   [11]      0xA5, the end of the header
//   [12..]    payload (length bytes)
//   [last]    0x5A, the end of the record
//
// Bytes 0, 11 and the last each have four bits set, so no single flipped bit makes them zero.

/** Bytes of a format-2 record besides its payload. */
export const walRecordOverheadBytes = 13;
/** Bytes of a format-2 header. */
export const walHeaderBytes = 12;
const firstByteMark = 0xa0;
const headerEndMark = 0xa5;
const recordEndMark = 0x5a;

/** CRC32 (IEEE, reflected) table, for checking 8 header bytes in place without a subarray. */
const crcTable = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** Low 24 bits of CRC32 of the 8 bytes at `at` (equal to checksum() of them, masked). */
export function headerCheck(b: Uint8Array, at: number): number {
  let c = -1;
  for (let i = at; i < at + 8; i++) c = crcTable[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return ~c & 0xffffff;
}

/** True if `byte` can start a format-2 record. */
export function isWalRecordStart(byte: number): boolean {
  return (byte & 0xf8) === firstByteMark;
}

/**
 * Writes a format-2 record of `payload` at `at` in `target` (which must have room for
 * walRecordOverheadBytes + payload.length) and returns where it ends. Runs once per entry:
 * byte by byte, no allocation.
 */
export function writeWalRecord(target: Uint8Array, at: number, payload: Uint8Array): number {
  const length = payload.length;
  const crc = checksum(payload);
  target[at] = firstByteMark | (length >>> 24);
  target[at + 1] = length >>> 16;
  target[at + 2] = length >>> 8;
  target[at + 3] = length;
  target[at + 4] = crc >>> 24;
  target[at + 5] = crc >>> 16;
  target[at + 6] = crc >>> 8;
  target[at + 7] = crc;
  const check = headerCheck(target, at);
  target[at + 8] = check >>> 16;
  target[at + 9] = check >>> 8;
  target[at + 10] = check;
  target[at + 11] = headerEndMark;
  target.set(payload, at + walHeaderBytes);
  const end = at + walHeaderBytes + length;
  target[end] = recordEndMark;
  return end + 1;
}

/**
 * What is found at one offset of a format-2 segment: a checked payload; a record whose
 * verified header says it runs past the end of the file (`short`); or a bad record, with the
 * bytes it covers (`extentEnd`): the whole record if its header verified, else the header.
 */
export type WalRecordRead =
  | { readonly type: "ok"; readonly payload: Uint8Array; readonly end: number }
  | { readonly type: "short"; readonly reason: string }
  | { readonly type: "bad"; readonly reason: string; readonly extentEnd: number };

/** Reads the format-2 record at `offset`; the payload is a view into `buf`. */
export function readWalRecord(buf: Uint8Array, offset: number): WalRecordRead {
  const headerEnd = offset + walHeaderBytes;
  if (headerEnd > buf.length) return { type: "short", reason: "partial record header at the end of the file" };
  const bad = (reason: string, extentEnd = headerEnd): WalRecordRead => ({ type: "bad", reason, extentEnd });
  if (!isWalRecordStart(buf[offset]!) || buf[offset + 11] !== headerEndMark) return bad("no record header");
  if (headerCheck(buf, offset) !== ((buf[offset + 8]! << 16) | (buf[offset + 9]! << 8) | buf[offset + 10]!)) {
    return bad("record header checksum mismatch");
  }
  const length = u32At(buf, offset) & 0x07ffffff;
  if (length === 0 || length > recordPayloadBytesMax) return bad(`record length ${length} out of range`);
  const end = headerEnd + length + 1;
  if (end > buf.length) return { type: "short", reason: `record of ${length} bytes runs past the end of the file` };
  const payload = buf.subarray(headerEnd, end - 1);
  if (checksum(payload) !== u32At(buf, offset + 4)) return bad("checksum mismatch", end);
  if (buf[end - 1] !== recordEndMark) return bad("no record end mark", end);
  return { type: "ok", payload, end };
}
