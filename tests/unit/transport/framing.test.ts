// Goal: the length-prefix framing round-trips any sequence of payloads however the byte
// stream is split, and rejects frames over the limit. Method: encode seeded random
// payloads, feed the stream back in seeded random chunk sizes, compare byte for byte.

import { describe, expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import {
  encodeFrame,
  encodeFrames,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameTooLargeError,
} from "../../../raft/framing.ts";

/** The project's seeded generator (raft/core/rng.ts), so every failure replays. */
function rng(seed: number): (n: number) => number {
  const r = createRng(seed);
  return (n) => r.int(n);
}

function randomPayload(next: (n: number) => number, bytesMax: number): Uint8Array {
  const out = new Uint8Array(next(bytesMax + 1));
  for (let i = 0; i < out.length; i++) out[i] = next(256);
  return out;
}

describe("encodeFrame", () => {
  test("writes a u32 big-endian length then the payload", () => {
    const frame = encodeFrame(new Uint8Array([7, 8, 9]), 100);
    expect(Array.from(frame)).toEqual([0, 0, 0, 3, 7, 8, 9]);
    const big = encodeFrame(new Uint8Array(0x010203), 0x100000);
    expect(Array.from(big.subarray(0, 4))).toEqual([0, 1, 2, 3]);
  });

  test("refuses a payload over frameBytesMax and accepts exactly the limit", () => {
    expect(() => encodeFrame(new Uint8Array(11), 10)).toThrow(FrameTooLargeError);
    expect(encodeFrame(new Uint8Array(10), 10).length).toBe(10 + FRAME_HEADER_BYTES);
    expect(() => encodeFrames([new Uint8Array(1), new Uint8Array(11)], 10)).toThrow(
      FrameTooLargeError,
    );
  });
});

describe("FrameDecoder", () => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    test(`round-trips random payloads split at random points (seed=${seed})`, () => {
      const next = rng(seed);
      const payloads = Array.from(
        { length: 200 },
        () => randomPayload(next, next(4) === 0 ? 3000 : 40),
      );
      const stream = encodeFrames(payloads, 4096);
      const decoder = new FrameDecoder({ frameBytesMax: 4096 });
      const frames: Uint8Array[] = [];
      for (let offset = 0; offset < stream.length;) {
        const chunkBytes = 1 + next(next(3) === 0 ? 8 : 600);
        frames.push(...decoder.push(stream.subarray(offset, offset + chunkBytes)));
        offset += chunkBytes;
      }
      expect(decoder.bufferedBytes).toBe(0);
      expect(frames.length).toBe(payloads.length);
      for (let i = 0; i < payloads.length; i++) expect(frames[i]).toEqual(payloads[i]!);
    });
  }

  test("byte-at-a-time feeding and empty frames work", () => {
    const payloads = [
      new Uint8Array(0),
      new Uint8Array([1]),
      new Uint8Array(0),
      new Uint8Array([2, 3]),
    ];
    const stream = encodeFrames(payloads, 10);
    const decoder = new FrameDecoder({ frameBytesMax: 10 });
    const frames: Uint8Array[] = [];
    for (const byte of stream) frames.push(...decoder.push(new Uint8Array([byte])));
    expect(frames.map((f) => Array.from(f))).toEqual([[], [1], [], [2, 3]]);
    expect(decoder.push(new Uint8Array(0))).toEqual([]);
  });

  test("a prefix over the limit throws before the payload arrives, and poisons the decoder", () => {
    const decoder = new FrameDecoder({ frameBytesMax: 1000 });
    expect(decoder.push(encodeFrame(new Uint8Array(1000), 1000)).length).toBe(1);
    // Only the prefix of a 1001-byte frame: the error must not wait for the body.
    let caught: unknown;
    try {
      decoder.push(new Uint8Array([0, 0, 0x03, 0xe9]));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FrameTooLargeError);
    expect((caught as FrameTooLargeError).frameBytes).toBe(1001);
    expect(() => decoder.push(encodeFrame(new Uint8Array(1), 1000))).toThrow(FrameTooLargeError);
  });

  test("a prefix with the top bit set reads as a large unsigned length, not a negative one", () => {
    const decoder = new FrameDecoder({ frameBytesMax: 64 * 1024 * 1024 });
    let caught: unknown;
    try {
      decoder.push(new Uint8Array([0x80, 0, 0, 0, 1, 2, 3]));
    } catch (err) {
      caught = err;
    }
    expect((caught as FrameTooLargeError).frameBytes).toBe(0x80000000);
  });

  test("returned frames are copies: later changes to the pushed chunk do not show through", () => {
    const chunk = encodeFrames([new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])], 10);
    const frames = new FrameDecoder({ frameBytesMax: 10 }).push(chunk);
    chunk.fill(0xee);
    expect(frames.map((f) => Array.from(f))).toEqual([[1, 2, 3], [4, 5]]);
  });

  test("rejects an invalid frameBytesMax", () => {
    expect(() => new FrameDecoder({ frameBytesMax: -1 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ frameBytesMax: 2 ** 32 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ frameBytesMax: 1.5 })).toThrow(RangeError);
  });
});
