// The record framing shared by the WAL, the stable store and the snapshot meta file:
// [u32 payload length][u32 CRC32 of payload][payload], big-endian, plus StorageDamageError.

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

/**
 * True if any offset after `from` holds a record with a valid checksum. A crash tears only
 * the end of what was written after the last fsync, so valid data beyond a bad record means
 * the bad record is damage, not a torn tail.
 */
export function hasValidRecordAfter(buf: Uint8Array, from: number): boolean {
  for (let at = from + 1; at + recordHeaderBytes < buf.length; at++) {
    if (readRecord(buf, at).type === "ok") return true;
  }
  return false;
}

/** Reads a file holding exactly one record (state file, snapshot meta), or throws damage. */
export function readSingleRecord(buf: Uint8Array, path: string): Uint8Array {
  const r = readRecord(buf, 0);
  if (r.type !== "ok") throw new StorageDamageError(path, 0, r.reason);
  if (r.end !== buf.length) throw new StorageDamageError(path, r.end, "trailing bytes after the record");
  return r.payload;
}
