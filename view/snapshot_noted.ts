// The snapshots a node takes, told to its timeline: the storage handed to the driver is
// wrapped at the seam it already calls (saveSnapshot), as metrics/timed_storage.ts times it,
// so neither the driver nor the snapshot store knows about the view.

import type { SnapshotMeta } from "../raft/core/mod.ts";
import type { Clock } from "../raft/host.ts";
import type { RaftStorage } from "../raft/node_options.ts";
import { snapshotSize } from "../raft/snapshot_bytes.ts";

/** `storage`, with each completed saveSnapshot told to `taken` (its meta, size and duration in ms). */
export function snapshotNoted(storage: RaftStorage, clock: Clock, taken: (meta: SnapshotMeta, bytes: number, ms: number) => void): RaftStorage {
  const noted: RaftStorage = {
    persist: (hardState, snapshot, entries) => storage.persist(hardState, snapshot, entries),
    saveSnapshot: async (meta, data, compactIndex) => {
      const start = clock.now();
      await storage.saveSnapshot(meta, data, compactIndex);
      taken(meta, snapshotSize(data), clock.now() - start);
    },
  };
  // Optional capabilities stay absent where the storage lacks them (the driver tests for them).
  if (storage.persistEntriesAsync !== undefined) noted.persistEntriesAsync = (entries, done) => storage.persistEntriesAsync!(entries, done);
  if (storage.persistSnapshotAsync !== undefined) noted.persistSnapshotAsync = (hardState, snapshot, entries) => storage.persistSnapshotAsync!(hardState, snapshot, entries);
  if (storage.mapSnapshot !== undefined) noted.mapSnapshot = (meta) => storage.mapSnapshot!(meta);
  return noted;
}
