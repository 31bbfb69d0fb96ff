// The once-only table (Raft thesis §6.3, client sessions, one request per session): what each
// Idempotency-Key's write produced, so a retry is answered with that outcome and not applied
// again. It is part of the replicated state machine: every replica holds the same table,
// because it changes only by applying the log, and it travels in snapshots.
//
// Time here is the log clock: the largest stamp of any once command applied so far. The leader
// stamps its wall-clock time into each such command when proposing it (store/store.ts); the
// maximum keeps it monotone when a new leader's clock is behind the old one's. No replica ever
// reads its own clock: every replica expires the same entries at the same log position.
//
// Bounds: an entry lives `windowMs` of log time (24 hours by default) and the table holds at
// most `countMax` entries and `charsMax` characters; past either bound the oldest entries go
// first. A retry is safe (applied at most once) within the window and as long as fewer than
// `countMax` once-only writes came after it (README "Safe retries").

/** What a once-only write produced: the HTTP status and body its client was answered. */
export interface Outcome {
  readonly status: number;
  readonly body: string;
}

/** One remembered write. Immutable: a snapshot in progress can hold a copy of the table's entries. */
export interface SessionEntry {
  readonly id: string;
  /** SHA-256 of the write's encoded command (store/commands.ts): the same request, or not. */
  readonly digest: string;
  /** Log clock when it was applied (ms): it expires at stamp + windowMs. */
  readonly stamp: number;
  readonly outcome: Outcome;
}

/** Bounds of a SessionTable; the defaults are what the README documents. */
export interface SessionLimits {
  /** How long, in log time (ms), an id is remembered. */
  readonly windowMs: number;
  /** Most entries kept. */
  readonly countMax: number;
  /** Most characters (ids, digests and bodies) kept. */
  readonly charsMax: number;
}

/** 24 hours: a client retrying for longer than that is retrying a different intention. */
export const sessionWindowMsDefault = 24 * 60 * 60 * 1000;
/**
 * 100,000 entries of ~200 bytes of JS objects each: ~20 MB at most, a fraction of what the map
 * may hold, and few enough objects that the collector's full marks stay short (packed_map.ts).
 */
export const sessionCountMaxDefault = 100_000;
/** 16 Mi characters: a bound on outcomes with long bodies (412 and 422 bodies are short). */
export const sessionCharsMaxDefault = 16 * 1024 * 1024;

export const sessionLimitsDefault: SessionLimits = {
  windowMs: sessionWindowMsDefault,
  countMax: sessionCountMaxDefault,
  charsMax: sessionCharsMaxDefault,
};

/** Fixed cost per entry in the character bound, so entries with tiny strings are counted too. */
const entryOverheadChars = 16;

function charsOf(e: SessionEntry): number {
  return e.id.length + e.digest.length + e.outcome.body.length + entryOverheadChars;
}

/** The table: insertion order is apply order, hence stamp order (the log clock never goes back). */
export class SessionTable {
  readonly limits: SessionLimits;
  readonly #entries = new Map<string, SessionEntry>();
  /**
   * Entries in apply order, oldest at #head: eviction takes from here, not from the Map's own
   * order. Deleting from the front of a Map leaves holes its iterator walks past until the
   * engine rehashes, so starting each eviction at the Map's first entry cost O(entries
   * deleted so far): past countMax every once-only write paid 50-340 µs (bench/sessions_bench.ts).
   * An element that is no longer its id's entry in #entries (replaced or evicted) is skipped.
   */
  #order: SessionEntry[] = [];
  #head = 0;
  #logClock = 0;
  #chars = 0;

  constructor(limits: SessionLimits = sessionLimitsDefault) {
    this.limits = limits;
  }

  /** The log clock: the largest stamp applied (ms; 0 before any). */
  get logClock(): number {
    return this.#logClock;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Characters held, as the bound counts them. */
  get chars(): number {
    return this.#chars;
  }

  /** Moves the log clock to `stamp` if it is later, and drops what expired by then. */
  advance(stamp: number): void {
    if (stamp > this.#logClock) this.#logClock = stamp;
    this.#evict();
  }

  /** The live entry for `id`, or undefined (never seen, expired or evicted). */
  lookup(id: string): SessionEntry | undefined {
    const e = this.#entries.get(id);
    if (e === undefined || this.#isExpired(e)) return undefined;
    return e;
  }

  /** Remembers what the write `id` produced, stamped with the log clock. */
  remember(id: string, digest: string, outcome: Outcome): void {
    const old = this.#entries.get(id);
    if (old !== undefined) {
      // An expired entry still held (eviction runs on advance): replaced, and moved to the end.
      this.#entries.delete(id);
      this.#chars -= charsOf(old);
    }
    const entry: SessionEntry = { id, digest, stamp: this.#logClock, outcome };
    this.#entries.set(id, entry);
    this.#order.push(entry);
    this.#chars += charsOf(entry);
    this.#evict();
  }

  /** Every entry, oldest first: a copy, so a snapshot can encode it while applies go on. */
  entries(): SessionEntry[] {
    return [...this.#entries.values()];
  }

  /** Replaces the whole table (a snapshot's); entries must come oldest first. */
  load(logClock: number, entries: readonly SessionEntry[]): void {
    this.#entries.clear();
    this.#order = [];
    this.#head = 0;
    this.#chars = 0;
    this.#logClock = logClock;
    for (const e of entries) {
      const old = this.#entries.get(e.id);
      if (old !== undefined) this.#chars -= charsOf(old);
      this.#entries.set(e.id, e);
      this.#order.push(e);
      this.#chars += charsOf(e);
    }
    this.#evict();
  }

  #isExpired(e: SessionEntry): boolean {
    return e.stamp + this.limits.windowMs <= this.#logClock;
  }

  /** Drops from the oldest end whatever is expired or past a bound: the same on every replica. */
  #evict(): void {
    const { countMax, charsMax } = this.limits;
    const order = this.#order;
    while (this.#head < order.length) {
      const e = order[this.#head]!;
      if (this.#entries.get(e.id) === e) {
        if (!this.#isExpired(e) && this.#entries.size <= countMax && this.#chars <= charsMax) break;
        this.#entries.delete(e.id);
        this.#chars -= charsOf(e);
      }
      order[this.#head++] = undefined as unknown as SessionEntry;
    }
    // Drop the consumed front once it is most of the array: O(1) amortized per entry.
    if (this.#head > 1024 && this.#head * 2 > order.length) {
      this.#order = order.slice(this.#head);
      this.#head = 0;
    }
  }
}
