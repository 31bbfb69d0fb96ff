// When to take a local snapshot (§7). A count of entries alone makes the cost of snapshots
// grow with the state: at a million keys a snapshot is ~30 MB to encode and write, and taking
// one every few thousand writes would spend most of the CPU re-encoding unchanged keys. So a
// large state also waits until the log has grown by a share of the last snapshot's size,
// which keeps snapshot work proportional to the bytes written (amortized O(1) per write),
// the same reasoning as an LSM tree compacting when a level outgrows the one below.

/** Options of a SnapshotPolicy. */
export interface SnapshotPolicyOptions {
  /** Entries applied since the last snapshot before a new one is considered. */
  readonly thresholdEntries: number;
  /** Size of the snapshot the node starts from (0 if none). */
  readonly startBytes: number;
}

/**
 * Snapshots smaller than this are taken by entry count alone: they cost a millisecond or
 * two, and small states (the tests', most users') keep the simple "every N entries"
 * behaviour. Measured under write load, a few-MiB state snapshotted every 8,192 entries
 * (each node every ~0.5 s) added 5-10 ms to the p99 write latency, so the floor is low.
 */
export const snapshotBytesFloor = 1024 * 1024;

/**
 * Above the floor, log bytes applied since the last snapshot must reach this share of its
 * size. A quarter bounds the log kept in memory and replayed on restart to about a quarter
 * of the state, while snapshots cost at most ~4 bytes encoded per byte written.
 */
export const snapshotGrowthShare = 0.25;

/** Tracks applied entries and bytes since the last snapshot; decides when the next is due. */
export class SnapshotPolicy {
  readonly #thresholdEntries: number;
  #lastBytes: number;
  #appliedBytes = 0;

  constructor(options: SnapshotPolicyOptions) {
    this.#thresholdEntries = options.thresholdEntries;
    this.#lastBytes = options.startBytes;
  }

  /** Counts one applied entry's data. */
  applied(dataBytes: number): void {
    this.#appliedBytes += dataBytes;
  }

  /** True if a snapshot should be taken now, `entries` having been applied since the last one. */
  isDue(entries: number): boolean {
    if (entries < this.#thresholdEntries) return false;
    if (this.#lastBytes < snapshotBytesFloor) return true;
    return this.#appliedBytes >= this.#lastBytes * snapshotGrowthShare;
  }

  /**
   * A snapshot of `bytes` now stands for the state. `bytesSinceCapture` is what was applied
   * after its state was captured (still to be counted toward the next one).
   */
  taken(bytes: number, bytesSinceCapture: number): void {
    this.#lastBytes = bytes;
    this.#appliedBytes = bytesSinceCapture;
  }

  /** Applied bytes so far (to note at capture time). */
  get appliedBytes(): number {
    return this.#appliedBytes;
  }
}
