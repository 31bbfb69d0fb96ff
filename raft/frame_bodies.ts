// Buffers for large frames, lent by whoever fills them (the frame decoder for a received one,
// the InstallSnapshot envelope encoder for a sent one) and handed back by whoever held the
// frame's bytes last, so the next large frame is filled in memory already mapped.
// Why (issue 18, install pauses at ten million keys): a follower receiving a snapshot took a
// fresh 512 KiB buffer per InstallSnapshot chunk and let the collector free them in bursts;
// traced (bench/stall_snapshot.ts STALL_PERF=1), page faults on that fresh memory and its zero
// fill were a quarter of the follower's main thread while the snapshot came in, in turns of
// 15-25 ms; the leader's envelope of each chunk cost it the same (a fifth of its loop). Only a holder that knows no view of a frame is read again may hand it back (the
// snapshot receiver, once a chunk's off-loop write has landed; a peer link, once the socket
// took a frame's last byte); a frame never handed back is simply collected, as before. Pure
// byte handling, like framing.ts.

/** Where the decoder takes a frame's payload buffer from. */
export interface FrameBodySource {
  /** A buffer of exactly `bytes` bytes, contents unspecified (the decoder fills all of it). */
  take(bytes: number): Uint8Array;
}

export class FrameBodies implements FrameBodySource {
  /** Payloads smaller than this are allocated as before: small, and often kept (log entries). */
  readonly minBytes: number;
  /** Free buffers kept, at most; and the largest kept (a huge frame's buffer is let go). */
  readonly keptMax: number;
  readonly keptBytesMax: number;
  readonly #free: ArrayBuffer[] = [];
  /** Buffers lent and not handed back: only these are taken back, each once. */
  readonly #lent = new WeakSet<ArrayBuffer>();
  /** Buffers allocated, and lent again after being handed back (work counters for tests). */
  allocated = 0;
  reused = 0;

  constructor(options: { minBytes: number; keptMax: number; keptBytesMax: number }) {
    this.minBytes = options.minBytes;
    this.keptMax = options.keptMax;
    this.keptBytesMax = options.keptBytesMax;
  }

  take(bytes: number): Uint8Array {
    if (bytes < this.minBytes) return new Uint8Array(bytes);
    const free = this.#free;
    for (let i = free.length - 1; i >= 0; i--) {
      const buffer = free[i]!;
      if (buffer.byteLength < bytes) continue;
      free.splice(i, 1);
      this.#lent.add(buffer);
      this.reused++;
      return new Uint8Array(buffer, 0, bytes);
    }
    const buffer = new ArrayBuffer(bytes);
    this.#lent.add(buffer);
    this.allocated++;
    return new Uint8Array(buffer);
  }

  /**
   * Says that nothing will read any view of `bytes`' buffer again, so it may be lent for a
   * later frame (its bytes then change). Anything not lent by take(), or handed back already,
   * is ignored.
   */
  handBack(bytes: Uint8Array): void {
    const buffer = bytes.buffer as ArrayBuffer;
    if (!this.#lent.delete(buffer)) return;
    if (this.#free.length < this.keptMax && buffer.byteLength <= this.keptBytesMax) this.#free.push(buffer);
  }
}

/**
 * The process's received frames of 64 KiB or more (an InstallSnapshot chunk is 512 KiB by
 * default): a few kept, each at most 4 MiB (a larger chunk size allocates as before).
 */
export const receivedFrameBodies = new FrameBodies({ minBytes: 64 * 1024, keptMax: 4, keptBytesMax: 4 * 1024 * 1024 });

/**
 * The process's InstallSnapshot envelopes being sent (raft/snapshot_envelope.ts): one chunk in
 * flight per follower, so a few kept cover them; the links hand each back once written.
 */
export const sentFrameBodies = new FrameBodies({ minBytes: 64 * 1024, keptMax: 4, keptBytesMax: 4 * 1024 * 1024 });
