// An entry's encoded bytes (encodeEntry's CBOR item), kept from where they are first made to
// the log write that uses them, so that no entry is encoded twice (issue 18: CPU per write).
// On a leader, a Ready's AppendEntries leave before its own WAL write: the first message
// encodes the new entries, the other followers' messages and the WAL record reuse those
// bytes. On a follower, the WAL record is the item the leader sent, cut out of the message,
// not a re-encoding of what was decoded from it.
//
// One batch is kept: the entries of the last message encoded or decoded, by object (the core
// hands the same Entry objects to every message and to the log) and by index. A lookup is an
// array read and an identity check; a WeakMap per entry cost more than the encoding it saved.
// The log's write lets the batch go, so a later message (a follower catching up) encodes its
// entries again and nothing outlives one Ready. Several nodes in one process (tests, the
// simulator) only take turns at the one batch: a miss is encoded, never mistaken.

import { encodeEntries } from "./codec.ts";
import type { Entry } from "./core/mod.ts";

interface Batch {
  /** Entries of consecutive indexes, from entries[0].index on. */
  readonly entries: readonly Entry[];
  /** items[i] is the encoding of entries[i]. */
  readonly items: readonly Uint8Array[];
}

let kept: Batch | null = null;

/**
 * Keeps `items` as the encodings of `entries` (consecutive indexes) until the log writes them.
 * Each item must be one whole CBOR item that decodes to exactly its entry (entryFrom): the
 * WAL stores it as that entry's record.
 */
export function keepEntryItems(entries: readonly Entry[], items: readonly Uint8Array[]): void {
  if (entries.length > 0 && items.length === entries.length) kept = { entries, items };
}

/**
 * Each entry's encoded item, byte for byte what encodeEntry would give (or, for an entry
 * received from a leader, the item it sent): the kept one where there is one, the rest
 * encoded now in one cbor-x call. "send" keeps the result for the next message or the log's
 * write; "write" (the log, the last user) lets the kept batch go.
 */
export function entryItems(entries: readonly Entry[], use: "send" | "write"): Uint8Array[] {
  const n = entries.length;
  const items = new Array<Uint8Array>(n);
  const batch = kept;
  let missing: Entry[] | null = null;
  let missingAt: number[] | null = null;
  if (batch !== null && n > 0) {
    const base = batch.entries[0]!.index;
    for (let i = 0; i < n; i++) {
      const e = entries[i]!;
      const j = e.index - base;
      if (j >= 0 && j < batch.entries.length && batch.entries[j] === e) items[i] = batch.items[j]!;
      else {
        (missing ??= []).push(e);
        (missingAt ??= []).push(i);
      }
    }
  } else if (n > 0) {
    missing = entries.slice();
    missingAt = null;
  }
  if (missing !== null) {
    const encoded = encodeEntries(missing);
    let start = 0;
    for (let j = 0; j < missing.length; j++) {
      const end = encoded.ends[j]!;
      items[missingAt === null ? j : missingAt[j]!] = encoded.bytes.subarray(start, end);
      start = end;
    }
    if (use === "send") kept = { entries, items };
  }
  if (use === "write") kept = null;
  return items;
}
