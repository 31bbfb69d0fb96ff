// How much of a Ready's entries the driver writes to the log in one turn of the event loop
// (issue 18: no pause above 20 ms while installing a ten-million-key snapshot). A follower
// that just installed a snapshot applies the first entries after it a slice per turn, its
// Ready outstanding; the leader's next appends pile up in its log meanwhile and came out as
// one Ready of ~14 MB (5,000 entries of 2.9 KB), encoded, copied into the log's buffer and
// written in one turn: 65-104 ms (bench/stall_snapshot.ts at 10 M keys). Written a slice
// per turn instead, each synced off the loop, and acknowledged once the last is durable.

import type { Entry } from "./core/mod.ts";

/** Bytes of entry data written in one turn at most (at least one entry): a few ms of work. */
export const persistTurnBytesMax = 1024 * 1024;
/**
 * A Ready is written in slices only past this many bytes: a steady write load (64 KiB values
 * at 16 connections make ~1 MiB batches) keeps its one write and one sync per Ready.
 */
export const persistSlicedBytesMin = 4 * 1024 * 1024;

/** Bytes of the entries' data. */
export function entriesBytes(entries: readonly Entry[]): number {
  let bytes = 0;
  for (const e of entries) bytes += e.data.length;
  return bytes;
}

/** `entries` cut in order into runs of at most `bytesMax` bytes of data (one entry at least). */
export function entrySlices(entries: readonly Entry[], bytesMax: number): Entry[][] {
  const slices: Entry[][] = [];
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    const n = entries[i]!.data.length;
    if (i > from && bytes + n > bytesMax) {
      slices.push(entries.slice(from, i));
      from = i;
      bytes = 0;
    }
    bytes += n;
  }
  if (from < entries.length) slices.push(entries.slice(from));
  return slices;
}
