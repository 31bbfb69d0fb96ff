// Snapshot saves timed (etcd_debugging_snap_save_total_duration_seconds) and sized, at the
// storage seam the driver already calls: the storage handed to the RaftNode is wrapped, so
// neither the driver nor the snapshot store knows about metrics. A save is timed from the
// call to its completion (written slice by slice, synced, installed, the log compacted).

import type { Clock } from "../raft/host.ts";
import type { RaftStorage } from "../raft/node_options.ts";
import { snapshotSize } from "../raft/snapshot_bytes.ts";

/** What a save reports: its duration in seconds and the snapshot's size in bytes. */
export type SnapshotSaved = (seconds: number, bytes: number) => void;

/** `storage`, with every completed saveSnapshot reported to `saved`. */
export function timedStorage(storage: RaftStorage, clock: Clock, saved: SnapshotSaved): RaftStorage {
  const timed: RaftStorage = {
    persist: (hardState, snapshot, entries) => storage.persist(hardState, snapshot, entries),
    saveSnapshot: async (meta, data, compactIndex) => {
      const start = clock.now();
      await storage.saveSnapshot(meta, data, compactIndex);
      saved((clock.now() - start) / 1000, snapshotSize(data));
    },
  };
  // Optional capabilities stay absent where the storage lacks them (the driver tests for them).
  if (storage.persistEntriesAsync !== undefined) timed.persistEntriesAsync = (entries, done) => storage.persistEntriesAsync!(entries, done);
  if (storage.persistSnapshotAsync !== undefined) timed.persistSnapshotAsync = (hardState, snapshot, entries) => storage.persistSnapshotAsync!(hardState, snapshot, entries);
  if (storage.mapSnapshot !== undefined) timed.mapSnapshot = (meta) => storage.mapSnapshot!(meta);
  return timed;
}
