// A backup held in memory, for tests of store/backup.ts and restore.ts: the pieces a backup
// stream writes joined into one array, and a BackupSource reading from it.

import type { BackupSource } from "../../store/backup.ts";

/** The pieces joined, in order. */
export function bytesOf(pieces: Iterable<Uint8Array>): Uint8Array {
  const parts = [...pieces];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A source over `bytes`, as restore.ts reads a backup file. */
export const source = (bytes: Uint8Array): BackupSource => ({ size: bytes.length, read: (p, n) => bytes.subarray(p, p + n) });
