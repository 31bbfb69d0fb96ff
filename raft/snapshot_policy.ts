// When to take a local snapshot (§7). A count of entries alone makes the cost of snapshots
// grow with the state: at a million keys a snapshot is ~30 MB to encode and write, and taking
// one every few thousand writes would spend most of the CPU re-encoding unchanged keys. So a
// large state also waits until the log has grown by a share of the last snapshot's size,
// which keeps snapshot work proportional to the bytes written (amortized O(1) per write),
// the same reasoning as an LSM tree compacting when a level outgrows the one below.
//
// A snapshot also waits for an interval after the last one, as hashicorp/raft (hraftd's
// library) checks its SnapshotThreshold only every SnapshotInterval, jittered. Every member
// applies the same entries, so a trigger on counts alone fired on all of them in the same
// instant: the leader and both followers encoding and fsyncing at once, on one machine's
// CPUs and disk, which is when the write tail was worst (issue 18). The jitter spreads the
// members apart; the interval makes snapshots rare at low write rates. The log kept meanwhile
// (in memory, and replayed at start) is bounded in bytes: past that bound no interval is
// waited for.

/** Options of a SnapshotPolicy. */
export interface SnapshotPolicyOptions {
  /** Entries applied since the last snapshot before a new one is considered. */
  readonly thresholdEntries: number;
  /** Size of the snapshot the node starts from (0 if none). */
  readonly startBytes: number;
  /**
   * Ticks to wait after a snapshot before the next one; each wait is drawn from
   * [interval, 2 × interval) as hashicorp/raft draws its SnapshotInterval. 0: no wait.
   */
  readonly intervalTicks?: number;
  /** Log bytes since the last snapshot that end the wait at once (default snapshotLogBytesMax). */
  readonly logBytesMax?: number;
  /** Uniform random 32-bit integers, for the jitter; without it every wait is the interval. */
  readonly random?: () => number;
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

/**
 * Log kept while the interval runs, at most: entries' data plus logEntryCostBytes each. The
 * core holds every entry since the last snapshot in memory and a restart replays them, so a
 * high write rate must not keep a whole interval's worth (at 20,000 small writes a second,
 * two minutes would be ~2.4 M entries, hundreds of MiB in JavaScript objects). 32 MiB of
 * small writes is ~300,000 entries: a quarter of a second to replay.
 */
export const snapshotLogBytesMax = 32 * 1024 * 1024;

/** What an entry costs in memory beyond its data (the Entry object and its array's header). */
export const logEntryCostBytes = 64;

/** Tracks applied entries, bytes and ticks since the last snapshot; decides when the next is due. */
export class SnapshotPolicy {
  readonly #thresholdEntries: number;
  readonly #intervalTicks: number;
  readonly #logBytesMax: number;
  readonly #random: (() => number) | null;
  #lastBytes: number;
  #appliedBytes = 0;
  #ticks = 0;
  /** This wait's draw: ticks to wait, and the log bytes that end it early. */
  #waitTicks = 0;
  #waitBytes = 0;

  constructor(options: SnapshotPolicyOptions) {
    this.#thresholdEntries = options.thresholdEntries;
    this.#intervalTicks = options.intervalTicks ?? 0;
    this.#logBytesMax = options.logBytesMax ?? snapshotLogBytesMax;
    this.#random = options.random ?? null;
    this.#lastBytes = options.startBytes;
    this.#draw();
  }

  /** Counts one applied entry's data. */
  applied(dataBytes: number): void {
    this.#appliedBytes += dataBytes;
  }

  /** Counts one tick of the node's clock. */
  tick(): void {
    this.#ticks++;
  }

  /** True if a snapshot should be taken now, `entries` having been applied since the last one. */
  isDue(entries: number): boolean {
    if (entries < this.#thresholdEntries) return false;
    if (this.#lastBytes >= snapshotBytesFloor && this.#appliedBytes < this.#lastBytes * snapshotGrowthShare) return false;
    return this.#ticks >= this.#waitTicks || this.#appliedBytes + entries * logEntryCostBytes >= this.#waitBytes;
  }

  /**
   * A snapshot of `bytes` now stands for the state (taken here or installed from the leader).
   * `bytesSinceCapture` is what was applied after its state was captured (still to be counted
   * toward the next one). The next wait starts now.
   */
  taken(bytes: number, bytesSinceCapture: number): void {
    this.#lastBytes = bytes;
    this.#appliedBytes = bytesSinceCapture;
    this.#ticks = 0;
    this.#draw();
  }

  /** Applied bytes so far (to note at capture time). */
  get appliedBytes(): number {
    return this.#appliedBytes;
  }

  /**
   * The next wait: ticks from [interval, 2 × interval), and log bytes from [max / 2, max), by
   * one draw, so that members under the same high write rate part too.
   */
  #draw(): void {
    if (this.#intervalTicks === 0) return; // Nothing to wait for: no draw (a seeded source stays as it was).
    const share = this.#random === null ? 0 : (this.#random() >>> 0) / 2 ** 32;
    this.#waitTicks = Math.floor(this.#intervalTicks * (1 + share));
    this.#waitBytes = Math.floor(this.#logBytesMax * (1 + share) / 2);
  }
}
