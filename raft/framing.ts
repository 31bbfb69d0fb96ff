// Length-prefixed framing for the Raft transport: a frame is a u32 big-endian payload
// length followed by the payload. Pure byte handling (no node:*), so it is usable and
// testable anywhere; raft/transport.ts puts it on sockets.

import type { FrameBodySource } from "./frame_bodies.ts";

/** Bytes taken by a frame's length prefix. */
export const FRAME_HEADER_BYTES = 4;

/** The largest length a u32 prefix can carry; no frameBytesMax may exceed it. */
export const FRAME_BYTES_LIMIT = 0xffff_ffff;

/** A frame (announced or about to be written) is larger than the configured limit. */
export class FrameTooLargeError extends Error {
  override readonly name = "FrameTooLargeError";
  /** Payload length of the offending frame. */
  readonly frameBytes: number;
  readonly frameBytesMax: number;

  constructor(frameBytes: number, frameBytesMax: number) {
    super(`frame of ${frameBytes} bytes exceeds frameBytesMax ${frameBytesMax}`);
    this.frameBytes = frameBytes;
    this.frameBytesMax = frameBytesMax;
  }
}

/** Throws a RangeError unless `frameBytesMax` is an integer in [0, FRAME_BYTES_LIMIT]. */
export function checkFrameBytesMax(frameBytesMax: number): void {
  if (
    !Number.isSafeInteger(frameBytesMax) || frameBytesMax < 0 || frameBytesMax > FRAME_BYTES_LIMIT
  ) {
    throw new RangeError(
      `frameBytesMax must be an integer in [0, ${FRAME_BYTES_LIMIT}]: ${frameBytesMax}`,
    );
  }
}

/** Writes the u32 big-endian length prefix for a payload of `payloadBytes` at `offset`. */
export function writeFrameHeader(target: Uint8Array, offset: number, payloadBytes: number): void {
  target[offset] = payloadBytes >>> 24;
  target[offset + 1] = (payloadBytes >>> 16) & 0xff;
  target[offset + 2] = (payloadBytes >>> 8) & 0xff;
  target[offset + 3] = payloadBytes & 0xff;
}

/** Frames one payload: a fresh buffer holding the length prefix and a copy of the payload. */
export function encodeFrame(payload: Uint8Array, frameBytesMax: number): Uint8Array {
  return encodeFrames([payload], frameBytesMax);
}

/**
 * Frames several payloads into one contiguous buffer, so that a batch of messages can
 * leave in a single socket write. Throws FrameTooLargeError (and writes nothing) if any
 * payload is over `frameBytesMax`.
 */
export function encodeFrames(payloads: readonly Uint8Array[], frameBytesMax: number): Uint8Array {
  let totalBytes = 0;
  for (const payload of payloads) {
    if (payload.length > frameBytesMax) throw new FrameTooLargeError(payload.length, frameBytesMax);
    totalBytes += FRAME_HEADER_BYTES + payload.length;
  }
  const out = new Uint8Array(totalBytes);
  let offset = 0;
  for (const payload of payloads) {
    writeFrameHeader(out, offset, payload.length);
    out.set(payload, offset + FRAME_HEADER_BYTES);
    offset += FRAME_HEADER_BYTES + payload.length;
  }
  return out;
}

/**
 * Streaming decoder: feed it chunks as they arrive, in any sizes, and it returns the
 * frames completed so far. A length prefix over `frameBytesMax` throws FrameTooLargeError
 * as soon as the prefix is read, before any of the payload is buffered, so a hostile or
 * corrupt peer cannot make us allocate more than the limit. After an error the decoder
 * is poisoned (every later push throws again): the stream has lost its frame boundaries.
 *
 * Each returned frame is a fresh copy, never a view into a pushed chunk, so a payload a
 * consumer keeps (say, an entry held in the in-memory log) pins only its own bytes. With
 * `bodies`, a large frame's buffer may be one its last holder handed back (frame_bodies.ts).
 */
export class FrameDecoder {
  readonly frameBytesMax: number;
  /** Length prefix being assembled. Invariant: headerFill < FRAME_HEADER_BYTES when body is null. */
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  /** Payload being assembled once its prefix is known. Invariant: bodyFill < body.length. */
  #body: Uint8Array | null = null;
  #bodyFill = 0;
  #error: FrameTooLargeError | null = null;
  /** Where payload buffers come from (raft/frame_bodies.ts), or fresh ones each time. */
  readonly #bodies: FrameBodySource | null;

  constructor(options: { frameBytesMax: number; bodies?: FrameBodySource }) {
    checkFrameBytesMax(options.frameBytesMax);
    this.frameBytesMax = options.frameBytesMax;
    this.#bodies = options.bodies ?? null;
  }

  /** Bytes held for a frame not yet complete (prefix included). */
  get bufferedBytes(): number {
    return this.#body === null ? this.#headerFill : FRAME_HEADER_BYTES + this.#bodyFill;
  }

  /** Consumes `chunk` and returns every frame it completed, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#error !== null) throw this.#error;
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#body === null) {
        offset = this.#readHeader(chunk, offset, frames);
      } else {
        const body = this.#body;
        const takeBytes = Math.min(body.length - this.#bodyFill, chunk.length - offset);
        body.set(chunk.subarray(offset, offset + takeBytes), this.#bodyFill);
        this.#bodyFill += takeBytes;
        offset += takeBytes;
        if (this.#bodyFill === body.length) {
          frames.push(body);
          this.#body = null;
          this.#bodyFill = 0;
        }
      }
    }
    return frames;
  }

  /** Reads (part of) a length prefix starting at `offset`; returns the new offset. */
  #readHeader(chunk: Uint8Array, offset: number, frames: Uint8Array[]): number {
    let source = chunk;
    let at = offset;
    let next = offset + FRAME_HEADER_BYTES;
    // Fast path: the whole prefix is in this chunk, so read it in place.
    if (this.#headerFill !== 0 || chunk.length - offset < FRAME_HEADER_BYTES) {
      const takeBytes = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.length - offset);
      this.#header.set(chunk.subarray(offset, offset + takeBytes), this.#headerFill);
      this.#headerFill += takeBytes;
      if (this.#headerFill < FRAME_HEADER_BYTES) return offset + takeBytes;
      this.#headerFill = 0;
      source = this.#header;
      at = 0;
      next = offset + takeBytes;
    }
    // `>>> 0` keeps the u32 unsigned: a first byte >= 0x80 would otherwise go negative.
    const payloadBytes =
      ((source[at]! << 24) | (source[at + 1]! << 16) | (source[at + 2]! << 8) | source[at + 3]!) >>>
      0;
    if (payloadBytes > this.frameBytesMax) {
      this.#error = new FrameTooLargeError(payloadBytes, this.frameBytesMax);
      throw this.#error;
    }
    if (payloadBytes === 0) frames.push(new Uint8Array(0));
    else this.#body = this.#bodies === null ? new Uint8Array(payloadBytes) : this.#bodies.take(payloadBytes);
    return next;
  }
}
