// A snapshot's bytes as the state machine hands them to storage: whole, or as pieces in order
// that nobody joins (issue 18). A local snapshot is encoded a chunk at a time; joined, ten
// million keys made a 289–336 MB buffer, built by copying every chunk once more, written out
// and then dropped at once: a peak of resident memory the size of the state, and one large
// free. As pieces, storage copies them a slice at a time into one reused buffer of its own.

/** Pieces whose concatenation is the snapshot; `size` is their total length. */
export interface SnapshotPieces {
  readonly pieces: readonly Uint8Array[];
  readonly size: number;
}

export type SnapshotBytes = Uint8Array | SnapshotPieces;

export function snapshotPieces(pieces: readonly Uint8Array[]): SnapshotPieces {
  let size = 0;
  for (const p of pieces) size += p.length;
  return { pieces, size };
}

export function snapshotSize(data: SnapshotBytes): number {
  return data instanceof Uint8Array ? data.length : data.size;
}

/**
 * The whole snapshot in one buffer: only where something must hold it so (a disk that cannot
 * map a stored file, as the simulator's; tests).
 */
export function joinedSnapshot(data: SnapshotBytes): Uint8Array {
  if (data instanceof Uint8Array) return data;
  const out = new Uint8Array(data.size);
  let at = 0;
  for (const p of data.pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The snapshot's bytes in order, `sliceBytes` per slice (the last may be shorter). A whole
 * buffer gives views of itself; pieces are copied into one buffer of `sliceBytes` reused for
 * every slice, so a slice is valid only until the next is asked for.
 */
export function* snapshotSlices(data: SnapshotBytes, sliceBytes: number): Generator<Uint8Array, void, undefined> {
  if (data instanceof Uint8Array) {
    for (let at = 0; at < data.length; at += sliceBytes) yield data.subarray(at, Math.min(at + sliceBytes, data.length));
    return;
  }
  const slice = new Uint8Array(Math.min(sliceBytes, data.size));
  let filled = 0;
  for (const p of data.pieces) {
    for (let from = 0; from < p.length;) {
      const n = Math.min(p.length - from, slice.length - filled);
      slice.set(n === p.length ? p : p.subarray(from, from + n), filled);
      filled += n;
      from += n;
      if (filled === slice.length) {
        yield slice;
        filled = 0;
      }
    }
  }
  if (filled > 0) yield slice.subarray(0, filled);
}
