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
//
// Packed (issue 16: keyed writes within 10% of plain ones): entries live in typed arrays, not
// as JS objects, so the table costs the collector a few objects per thousand entries instead
// of three per entry (an entry object, its id and its digest string: 300k objects marked by
// every full collection at the 100,000-entry bound), and its own hash index replaces a JS Map
// that every full table deleted from and inserted into on each write. Entries are numbered in
// apply order (`seq`) and kept in blocks of blockEntries numbers, oldest block first: eviction
// takes from the oldest end and drops a block once all its entries are gone; a snapshot
// encodes a block once and reuses its bytes until the block changes (chunks()).

import { hashOf } from "./packed_map.ts";
import type { PackedEntries } from "./session_chunk_codec.ts";

/** What a once-only write produced: the HTTP status and body its client was answered. */
export interface Outcome {
  readonly status: number;
  readonly body: string;
}

/** One remembered write, as lookup() and entries() give it (a copy of what the table holds). */
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
 * 100,000 entries of ~230 bytes each (31 of fields, ~130 of id and digest as UTF-16 code
 * units, ~70 of the block's encoded snapshot chunk): ~23 MB at most, about what the JS
 * objects took before, and, being packed, nothing for the collector's full marks to visit.
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

/**
 * Entry numbers per block: also the most entries one snapshot chunk of the table holds (as
 * state_machine.ts's snapshotChunkPairs bounds a chunk of pairs), so a block is one chunk.
 */
export const sessionBlockEntries = 1024;

/** A block's first code-unit array; it doubles as ids and digests fill it. */
const blockCharsInitial = 4096;

/** Index slot values: empty, or a removed entry (probing goes on past it); else seq + 1. */
const slotEmpty = 0;
const slotDeleted = -1;
/** The smallest index; it is kept at most half full (live and removed slots), and rebuilt a quarter full. */
const indexInitial = 64;

/** The outcome of every write that wrote (200, no body): one object for all of them. */
const writtenOutcome: Outcome = { status: 200, body: "" };

/** The entries numbered [no × sessionBlockEntries, (no + 1) × sessionBlockEntries), in typed arrays. */
class Block implements PackedEntries {
  readonly stamp = new Float64Array(sessionBlockEntries);
  readonly status = new Uint16Array(sessionBlockEntries);
  /** hashOf(id), so probes compare strings only on a full hash match. */
  readonly hash = new Int32Array(sessionBlockEntries);
  /** Per entry: id start, id length, digest start, digest length, in `chars`. */
  readonly at = new Int32Array(sessionBlockEntries * 4);
  readonly alive = new Uint8Array(sessionBlockEntries);
  chars = new Uint16Array(blockCharsInitial);
  charsUsed = 0;
  /** Entries numbered in this block so far (they are numbered in order, never reused). */
  filled = 0;
  live = 0;
  /** Bodies that are not empty (a 412's or a 422's), by place: rare, so kept as JS strings. */
  bodies: Map<number, string> | null = null;
  /** This block's snapshot chunks, until it changes (chunks()). */
  encoded: readonly Uint8Array[] | null = null;

  /** Appends `s`'s code units; returns where they start. */
  put(s: string): number {
    const start = this.charsUsed;
    const end = start + s.length;
    if (end > this.chars.length) {
      let length = this.chars.length * 2;
      while (length < end) length *= 2;
      const grown = new Uint16Array(length);
      grown.set(this.chars.subarray(0, start));
      this.chars = grown;
    }
    const chars = this.chars;
    for (let i = 0; i < s.length; i++) chars[start + i] = s.charCodeAt(i);
    this.charsUsed = end;
    return start;
  }

  text(start: number, length: number): string {
    // Flat strings in slices (apply's argument count is limited; ids are at most 512 units).
    let out = "";
    for (let from = 0; from < length; from += 4096) {
      out += String.fromCharCode.apply(null, this.chars.subarray(start + from, start + Math.min(length, from + 4096)) as unknown as number[]);
    }
    return out;
  }

  equals(place: number, start: number, s: string): boolean {
    if (this.at[place * 4 + 1] !== s.length) return false;
    const chars = this.chars;
    for (let i = 0; i < s.length; i++) if (chars[start + i] !== s.charCodeAt(i)) return false;
    return true;
  }

  body(place: number): string {
    return this.bodies?.get(place) ?? "";
  }

  /** The entry's characters as the bound counts them. */
  charsOf(place: number): number {
    return this.at[place * 4 + 1]! + this.at[place * 4 + 3]! + this.body(place).length + entryOverheadChars;
  }

  /**
   * Makes a dropped block (every entry gone) the next one, keeping its arrays: the fields of
   * each place are all written again before it is alive, so only the counts are cleared.
   */
  reuse(): this {
    this.charsUsed = 0;
    this.filled = 0;
    this.live = 0;
    this.bodies = null;
    this.encoded = null;
    return this;
  }

  entry(place: number): SessionEntry {
    const at = this.at;
    const status = this.status[place]!;
    const body = this.body(place);
    return {
      id: this.text(at[place * 4]!, at[place * 4 + 1]!),
      digest: this.text(at[place * 4 + 2]!, at[place * 4 + 3]!),
      stamp: this.stamp[place]!,
      outcome: status === 200 && body === "" ? writtenOutcome : { status, body },
    };
  }
}

/** The table: apply order is seq order, hence stamp order (the log clock never goes back). */
export class SessionTable {
  readonly limits: SessionLimits;
  /** Blocks from the one holding #head on; #blocks[i] is block number #firstBlock + i. */
  #blocks: Block[] = [];
  #firstBlock = 0;
  /**
   * The last block dropped, for the next block to reuse: a full table drops one block and
   * starts one every sessionBlockEntries writes, and a new Block's ~50 KB of typed arrays (its
   * code units doubling up to ~128 KB) cost each replica's apply more than the entries they
   * hold (profiled: ~15% of applying once commands in a full table).
   */
  #spare: Block | null = null;
  /**
   * The last lookup's id, its hash and the index slot it found (-1: none), valid while
   * #changes is still #probedAt: a once command's apply looks its id up and, when it is new,
   * remembers it right after, which then neither hashes the id nor probes the index again.
   */
  #probedId: string | null = null;
  #probedHash = 0;
  #probedSlot = -1;
  #probedAt = -1;
  /** Changes to #index so far (entries added or removed, rebuilds, loads). */
  #changes = 0;
  /** The next entry number; every number below #head is gone (where eviction looks first). */
  #nextSeq = 0;
  #head = 0;
  /** Open addressing, linear probing: seq + 1 of a live entry, slotEmpty or slotDeleted. */
  #index = new Float64Array(indexInitial);
  /** Slots of #index not empty (live and deleted): kept at most half its length. */
  #indexUsed = 0;
  #size = 0;
  #logClock = 0;
  #chars = 0;
  /** Entries encoded by chunks() so far, for tests: a snapshot encodes only changed blocks. */
  #entriesEncoded = 0;

  constructor(limits: SessionLimits = sessionLimitsDefault) {
    this.limits = limits;
  }

  /** The log clock: the largest stamp applied (ms; 0 before any). */
  get logClock(): number {
    return this.#logClock;
  }

  get size(): number {
    return this.#size;
  }

  /** Characters held, as the bound counts them. */
  get chars(): number {
    return this.#chars;
  }

  /** Entries chunks() has encoded so far (each is encoded again only when its block changes). */
  get entriesEncoded(): number {
    return this.#entriesEncoded;
  }

  /** Moves the log clock to `stamp` if it is later, and drops what expired by then. */
  advance(stamp: number): void {
    if (stamp > this.#logClock) this.#logClock = stamp;
    this.#evict();
  }

  /** The live entry for `id`, or undefined (never seen, expired or evicted). */
  lookup(id: string): SessionEntry | undefined {
    const h = hashOf(id);
    const slot = this.#find(id, h);
    this.#probedId = id;
    this.#probedHash = h;
    this.#probedSlot = slot;
    this.#probedAt = this.#changes;
    if (slot < 0) return undefined;
    const seq = this.#index[slot]! - 1;
    const block = this.#blockOf(seq);
    const place = seq % sessionBlockEntries;
    if (this.#isExpired(block.stamp[place]!)) return undefined;
    return block.entry(place);
  }

  /** Remembers what the write `id` produced, stamped with the log clock. */
  remember(id: string, digest: string, outcome: Outcome): void {
    this.#add(id, digest, this.#logClock, outcome.status, outcome.body);
    this.#evict();
  }

  /** Every entry, oldest first: copies, so a backup can read them while applies go on. */
  entries(): SessionEntry[] {
    const out: SessionEntry[] = [];
    for (const block of this.#blocks) {
      for (let place = 0; place < block.filled; place++) if (block.alive[place] === 1) out.push(block.entry(place));
    }
    return out;
  }

  /**
   * The table's snapshot chunks, oldest first: each block's entries as `encode` makes them,
   * encoded when the block first appears in a snapshot and again only after it changed (an
   * entry added, evicted or replaced): a full table's snapshot encodes about the entries
   * remembered since the last one, not all 100,000. `encode` gets a block's live entries in
   * order (never none) and must depend on nothing else.
   */
  chunks(
    encode: (entries: readonly SessionEntry[]) => readonly Uint8Array[],
    encodePacked?: (entries: PackedEntries, places: readonly number[]) => readonly Uint8Array[] | null,
  ): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const block of this.#blocks) {
      if (block.live === 0) continue;
      if (block.encoded === null) {
        // The block's own arrays when `encodePacked` can write them (no strings, no objects),
        // else its entries as objects; either must give the same bytes.
        const places: number[] = [];
        for (let place = 0; place < block.filled; place++) if (block.alive[place] === 1) places.push(place);
        block.encoded = encodePacked?.(block, places) ?? encode(places.map((place) => block.entry(place)));
        this.#entriesEncoded += places.length;
      }
      out.push(...block.encoded);
    }
    return out;
  }

  /** Replaces the whole table (a snapshot's); entries must come oldest first. */
  load(logClock: number, entries: readonly SessionEntry[]): void {
    this.#blocks = [];
    this.#firstBlock = 0;
    this.#nextSeq = 0;
    this.#head = 0;
    this.#index = new Float64Array(indexInitial);
    this.#indexUsed = 0;
    this.#changes++;
    this.#size = 0;
    this.#chars = 0;
    this.#logClock = logClock;
    for (const e of entries) this.#add(e.id, e.digest, e.stamp, e.outcome.status, e.outcome.body);
    this.#evict();
  }

  #isExpired(stamp: number): boolean {
    return stamp + this.limits.windowMs <= this.#logClock;
  }

  #blockOf(seq: number): Block {
    return this.#blocks[Math.floor(seq / sessionBlockEntries) - this.#firstBlock]!;
  }

  /** The index slot holding `id`'s entry, or -1. */
  #find(id: string, h: number): number {
    const index = this.#index;
    const mask = index.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const v = index[slot]!;
      if (v === slotEmpty) return -1;
      if (v === slotDeleted) continue;
      const seq = v - 1;
      const block = this.#blockOf(seq);
      const place = seq % sessionBlockEntries;
      if (block.hash[place] === h && block.equals(place, block.at[place * 4]!, id)) return slot;
    }
  }

  /** The index slot holding entry `seq` (whose id hashes to `h`). */
  #slotOfSeq(seq: number, h: number): number {
    const index = this.#index;
    const mask = index.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const v = index[slot]!;
      if (v === seq + 1) return slot;
      if (v === slotEmpty) throw new Error(`SessionTable: entry ${seq} is not in the index`);
    }
  }

  /** A new newest entry for `id`; an older one for it (an expired entry still held) is removed first. */
  #add(id: string, digest: string, stamp: number, status: number, body: string): void {
    let h: number;
    let old: number;
    if (id === this.#probedId) {
      h = this.#probedHash;
      old = this.#probedAt === this.#changes ? this.#probedSlot : this.#find(id, h);
    } else {
      h = hashOf(id);
      old = this.#find(id, h);
    }
    this.#probedId = null;
    if (old >= 0) this.#removeAt(old);
    if (this.#indexUsed + 1 > this.#index.length / 2) this.#rebuildIndex();
    const seq = this.#nextSeq++;
    const place = seq % sessionBlockEntries;
    if (place === 0) {
      this.#blocks.push(this.#spare?.reuse() ?? new Block());
      this.#spare = null;
    }
    const block = this.#blocks[this.#blocks.length - 1]!;
    block.stamp[place] = stamp;
    block.status[place] = status;
    block.hash[place] = h;
    block.at[place * 4] = block.put(id);
    block.at[place * 4 + 1] = id.length;
    block.at[place * 4 + 2] = block.put(digest);
    block.at[place * 4 + 3] = digest.length;
    if (body.length > 0) (block.bodies ??= new Map()).set(place, body);
    block.alive[place] = 1;
    block.filled = place + 1;
    block.live++;
    block.encoded = null;
    const index = this.#index;
    const mask = index.length - 1;
    let slot = h & mask;
    while (index[slot] !== slotEmpty && index[slot] !== slotDeleted) slot = (slot + 1) & mask;
    if (index[slot] === slotEmpty) this.#indexUsed++;
    index[slot] = seq + 1;
    this.#size++;
    this.#changes++;
    this.#chars += block.charsOf(place);
  }

  /** Removes the entry in index slot `slot`. */
  #removeAt(slot: number): void {
    const seq = this.#index[slot]! - 1;
    this.#index[slot] = slotDeleted;
    const block = this.#blockOf(seq);
    const place = seq % sessionBlockEntries;
    this.#chars -= block.charsOf(place);
    block.alive[place] = 0;
    block.bodies?.delete(place);
    block.live--;
    block.encoded = null;
    this.#size--;
    this.#changes++;
  }

  /** The index again, a quarter full: removed slots dropped. O(size), once per ~size inserts. */
  #rebuildIndex(): void {
    let capacity = indexInitial;
    while (capacity < (this.#size + 1) * 4) capacity *= 2;
    const index = new Float64Array(capacity);
    const mask = capacity - 1;
    for (let b = 0; b < this.#blocks.length; b++) {
      const block = this.#blocks[b]!;
      const base = (this.#firstBlock + b) * sessionBlockEntries;
      for (let place = 0; place < block.filled; place++) {
        if (block.alive[place] === 0) continue;
        let slot = block.hash[place]! & mask;
        while (index[slot] !== slotEmpty) slot = (slot + 1) & mask;
        index[slot] = base + place + 1;
      }
    }
    this.#index = index;
    this.#indexUsed = this.#size;
    this.#changes++;
  }

  /** Drops from the oldest end whatever is expired or past a bound: the same on every replica. */
  #evict(): void {
    const { countMax, charsMax } = this.limits;
    while (this.#head < this.#nextSeq) {
      const seq = this.#head;
      const block = this.#blockOf(seq);
      const place = seq % sessionBlockEntries;
      if (block.alive[place] === 1) {
        if (!this.#isExpired(block.stamp[place]!) && this.#size <= countMax && this.#chars <= charsMax) break;
        this.#removeAt(this.#slotOfSeq(seq, block.hash[place]!));
      }
      this.#head++;
      // Every entry of the oldest block is gone: the block goes too.
      if (this.#head % sessionBlockEntries === 0) {
        this.#spare = this.#blocks.shift()!;
        this.#firstBlock++;
      }
    }
  }
}

