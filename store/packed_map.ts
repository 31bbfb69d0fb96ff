// A string → string map kept in a few typed arrays instead of two JS strings and a map slot per
// pair. Why: a garbage collector marks every live object on each full collection, so with the
// store's pairs as JS objects the cost of collecting grows with the state. Measured here with
// Bun: a Map of 1M short pairs makes one full collection take ~100 ms, and under write load
// (with the garbage a request leaves) collections ran about every second, each a pause of
// 15–30 ms at 600k pairs and twice the CPU per write of an empty heap. Typed arrays hold no
// references, so the collector does not look inside them.
//
// Behaves like Map<string, string> for what the state machine uses, iteration order included
// (insertion order; overwriting keeps the position; delete and set again moves to the end).
// A string is stored as its UTF-16 code units, so every JS string round-trips exactly: one
// byte a unit when every unit is below 256 (ASCII and Latin-1: almost every key and value, so
// half the memory; at ten million keys of the bench's shape 270 MB less), else two bytes a
// unit, little-endian. Which of the two is said by the length field's sign (~length when
// wide): the form is a function of the string, so two strings are equal exactly when their
// length fields and bytes are.
//
// No operation does work that grows with the map (issue 18). At ten million keys the arrays
// that once doubled as they filled held hundreds of MB each, and a set() that crossed a power
// of two copied all of one (and rebuilt the whole hash index) in one turn of the event loop:
// pauses of tens to hundreds of ms. So:
// - entries live in fixed-size segments (growth adds one; nothing is copied), and so do the
//   bytes of keys and values: a string never spans two segments, a position is
//   (segment slot << charShift) | offset;
// - the index is split into pages, and a fresh index starts as pages of one shared empty page,
//   each allocated when first written: a table of tens of millions of slots costs nothing to
//   create. Growing it is an incremental rehash (Litwin's linear hashing and Redis's dict
//   do the same in spirit): the old and new tables side by side, each insert or delete
//   moving a bounded number of old slots across, lookups consulting both until it is done;
// - compaction (once most ids or bytes are dead) is an incremental pass too: a cursor
//   moves live entries down over dead ids a few per write, copying their strings out of the
//   segments that were in use when it began, which are freed when it ends.
// Only the first entry segment and a small map's newest chars segment still double (bounded
// by the segment size). Strings of largeUnits code units or more are kept as JS strings: few,
// big objects, which cost the collector nothing per byte and need no copying.

// Imported, not the global: Deno has no global Buffer outside npm packages.
import { Buffer } from "node:buffer";

/** Entries per segment of the entry arrays. */
const entryShift = 14;
const entrySegment = 1 << entryShift;
const entryMask = entrySegment - 1;
/** The first entry segment starts this small and doubles up to entrySegment (small maps stay small). */
const entriesInitial = 64;
/** Int32 fields per entry in a meta segment. */
const stride = 5;
const fieldHash = 0;
const fieldKeyStart = 1;
const fieldKeyLength = 2;
const fieldValueStart = 3;
const fieldValueLength = 4;

/** Bytes per chars segment (128 KiB). Positions are int32: (slot << charShift) | offset. */
const charShift = 17;
const charSegment = 1 << charShift;
const charMask = charSegment - 1;
/** Slots a position can name: 32,768 segments, 4 GiB of bytes. */
const charSlotsMax = 2 ** (32 - charShift);
/** A small map's first chars segment, in bytes; it doubles up to charSegment. */
const charsInitial = 1024;
/** Strings at least this long are held as JS strings (also the longest run decoded in one call). */
const largeUnits = 8192;

/** Index slots per page. */
const pageShift = 12;
const pageSlots = 1 << pageShift;
const pageMask = pageSlots - 1;
/** The smallest index (a single page of this many slots). */
const indexInitial = 128;
/** The index is kept at most half full, counting deleted slots (linear probing stays short). */
const indexLoadMax = 0.5;
/**
 * A rehashed index is at most this full, and at least a quarter the old one's size: the
 * headroom to the next rehash (≥ capacity / 8 inserts or deletes) then outlasts the migration
 * of the old table at rehashSlotsPerOp slots per operation (≤ 4 × capacity / 64).
 */
const indexLoadAfterRehash = 0.375;
/** reserve() sizes for at most this many keys (a bound on what a false count can allocate). */
const reserveMax = 2 ** 28;
/** Old index slots moved into the new index by each insert or delete while a rehash runs. */
const rehashSlotsPerOp = 64;
/** A compaction pass visits this many entries per write (at least compactEntriesMinPerOp)... */
const compactEntriesPerOp = 64;
/** ...or fewer once it copied this many bytes. */
const compactBytesPerOp = 16384;
/** Two per write: a pass gains on the inserts (one id each) and so always ends. */
const compactEntriesMinPerOp = 2;

/** Index slot values: empty, or a deleted entry (probing continues past it); else id + 1. */
const slotEmpty = 0;
const slotDeleted = -1;
/** Stands for every page of an index not written yet: all empty. Never written. */
const emptyPage = new Int32Array(pageSlots);
/**
 * Ids that iterations (entries, entriesVersioned, visitUnits) started so far had before them,
 * alive or dead, from where each starts to the map's end: a work counter, so tests bound what
 * going through a map costs without timing it.
 */
export const packedMapScans = { ids: 0 };

/** Stands for a freed chars slot. */
const noChars: Buffer = Buffer.alloc(0);

/**
 * Sees one entry of PackedMap.visitUnits: key and value as `length` code units of `units` from
 * `at`, each unit one byte (a string, at 0, for one held large or with a unit of 256 or more),
 * and the version; false to stop before this entry.
 */
export type UnitsVisitor = (
  keyUnits: Uint8Array | string,
  keyAt: number,
  keyLength: number,
  valueUnits: Uint8Array | string,
  valueAt: number,
  valueLength: number,
  version: number,
) => boolean;

export class PackedMap implements Iterable<[string, string]> {
  // Entries, by id in insertion order: segment id >>> entryShift, place id & entryMask.
  /** Per entry `stride` int32s: hash, key start, key length, value start, value length. */
  #meta: Int32Array[] = [new Int32Array(entriesInitial * stride)];
  /**
   * The log index at which each entry was last written (issue 16: ETag and If-Match), 0 when
   * unknown (set without one, or restored from a snapshot that predates versions). A segment
   * is a Uint32Array (4 bytes an entry, 40 MB less at ten million keys) until a version it
   * cannot hold is written to it (an index past 2^32; expiry.ts's deadlines, ms since the
   * epoch), then a Float64Array (a copy of one segment, bounded as growth is).
   */
  #version: (Uint32Array | Float64Array)[] = [new Uint32Array(entriesInitial)];
  /** 1 while the entry is in the map; 0 once deleted (its id is reused only after compaction). */
  #alive: Uint8Array[] = [new Uint8Array(entriesInitial)];
  /** Ids the segments hold. */
  #capacity = entriesInitial;
  /** Ids handed out so far (live and deleted). */
  #ids = 0;
  /** Every id below this one is dead (where shift() looks first). */
  #head = 0;
  #size = 0;

  /**
   * Segments of the bytes of keys and values, by slot; noChars for a free slot. Buffers (own
   * memory, not the pool) for toString("latin1"), which makes a narrow string in one call, the
   * exact code points 0-255 (unlike TextDecoder's "latin1", which is windows-1252): 2x faster
   * than String.fromCharCode over the units (0.045 vs 0.08-0.10 us for 9-16 units, /tmp/h18mem/dec.ts).
   */
  #slots: Buffer[] = [];
  /** Bytes appended to each slot's segment. */
  #slotUsed: number[] = [];
  #freeSlots: number[] = [];
  /** The segment strings are appended to (-1: none yet) and where the next one goes. */
  #appendSlot = -1;
  #appendAt = 0;
  /** Bytes appended to the segments held; `#charsDead` of them no live entry refers to. */
  #charsUsed = 0;
  #charsDead = 0;
  /** Strings of largeUnits or more, by number ("" once free). */
  #large: string[] = [];
  #largeFree: number[] = [];

  /** Open addressing, linear probing, in pages; capacity `#mask + 1`, a power of two. */
  #pages: Int32Array[] = newPages(indexInitial);
  #mask = indexInitial - 1;
  /** Slots of `#pages` holding slotDeleted (they lengthen probes until the next rehash). */
  #indexDeleted = 0;
  /** While a rehash runs: the old index, and how far its slots have been moved into the new. */
  #oldPages: Int32Array[] | null = null;
  #oldMask = 0;
  #oldCursor = 0;

  /** While a compaction pass runs: the next id to visit (-1: none runs) and where it goes. */
  #compactRead = -1;
  #compactWrite = 0;
  /** The slots the pass copies live strings out of (1), freed when it ends; null: ids only. */
  #fromSpace: Uint8Array | null = null;

  /** Elements copied, allocated or visited by growth, rehash and compaction (see `work`). */
  #work = 0;
  /** The empty slot where the last #find of a missing key stopped in the current index (see #insert). */
  #vacant = -1;
  /** Reused by #decode. */
  readonly #decodeScratch: number[] = [];
  /** The length field (see lengthField) of the string the last #store kept. */
  #storedField = 0;

  /** Builds a map holding `pairs`, in order. */
  static from(pairs: Iterable<readonly [string, string]>): PackedMap {
    const m = new PackedMap();
    for (const [k, v] of pairs) m.set(k, v);
    return m;
  }

  get size(): number {
    return this.#size;
  }

  /**
   * Elements copied, allocated or visited so far by growth, rehashing and compaction: what a
   * test reads before and after each operation to bound the work any single one does (no
   * timing), and what ends a slice of a capture's fold (Capture.foldSome).
   */
  get work(): number {
    return this.#work;
  }

  /**
   * Bytes the map's arrays hold: entry segments, chars segments (dead units and unused room
   * included), the index pages written so far (both tables while a rehash runs), and the
   * units of strings held large. What a test bounds per pair (issue 18: memory at 10 M keys).
   */
  get bytesHeld(): number {
    let bytes = 0;
    for (let s = 0; s < this.#meta.length; s++) bytes += this.#meta[s]!.byteLength + this.#version[s]!.byteLength + this.#alive[s]!.byteLength;
    for (const chars of this.#slots) bytes += chars.byteLength;
    for (const page of this.#pages) if (page !== emptyPage) bytes += page.byteLength;
    if (this.#oldPages !== null) for (const page of this.#oldPages) if (page !== emptyPage) bytes += page.byteLength;
    for (const s of this.#large) bytes += s.length * 2;
    return bytes;
  }

  get(key: string): string | undefined {
    const id = this.#find(key, hashOf(key));
    if (id < 0) return undefined;
    const meta = this.#meta[id >>> entryShift]!;
    const at = (id & entryMask) * stride;
    return this.#decode(meta[at + fieldValueStart]!, meta[at + fieldValueLength]!);
  }

  has(key: string): boolean {
    return this.#find(key, hashOf(key)) >= 0;
  }

  /** The version of the key getVersioned found last (0 when it found none). */
  versionFound = 0;

  /**
   * get(), leaving the key's version (as versionOf gives it) in versionFound: one hash and one
   * probe where a read answers both (store/store.ts's versioned reads).
   */
  getVersioned(key: string): string | undefined {
    const id = this.#find(key, hashOf(key));
    if (id < 0) {
      this.versionFound = 0;
      return undefined;
    }
    const meta = this.#meta[id >>> entryShift]!;
    const at = (id & entryMask) * stride;
    this.versionFound = this.#version[id >>> entryShift]![id & entryMask]!;
    return this.#decode(meta[at + fieldValueStart]!, meta[at + fieldValueLength]!);
  }

  /** The version of `key` (the log index of its last write, 0 if unknown), or undefined if absent. */
  versionOf(key: string): number | undefined {
    const id = this.#find(key, hashOf(key));
    return id < 0 ? undefined : this.#version[id >>> entryShift]![id & entryMask]!;
  }

  /**
   * versionOf() of a key given as bytes that are all ASCII (the caller checks), -1 if absent:
   * a conditional set's keys are checked from the entry's bytes (KvStateMachine.apply) with no
   * JS string made, as setAscii then stores them.
   */
  versionOfAscii(bytes: Uint8Array, keyAt: number, keyLength: number): number {
    if (keyLength >= largeUnits) return this.versionOf(asciiString(bytes, keyAt, keyLength)) ?? -1;
    const id = this.#findAscii(bytes, keyAt, keyLength);
    return id < 0 ? -1 : this.#version[id >>> entryShift]![id & entryMask]!;
  }

  /**
   * Sizes the index of an empty map for `count` keys (a restore knows its pair count), so that
   * no rehash runs while they are set. Costs nothing up front: the pages come as they fill.
   */
  reserve(count: number): void {
    if (this.#ids !== 0 || this.#oldPages !== null) return;
    let capacity = this.#mask + 1;
    while (Math.min(count, reserveMax) > capacity * indexLoadMax) capacity *= 2;
    if (capacity === this.#mask + 1) return;
    this.#pages = newPages(capacity);
    this.#mask = capacity - 1;
    this.#indexDeleted = 0;
  }

  set(key: string, value: string, version = 0): this {
    const h = hashOf(key);
    const id = this.#find(key, h);
    // Arguments are evaluated left to right: each #storedField read follows its #store.
    if (id >= 0) this.#overwrite(id, this.#store(value), this.#storedField, version);
    else this.#insert(h, this.#store(key), this.#storedField, this.#store(value), this.#storedField, version, this.#vacant);
    return this;
  }

  /**
   * set() of a key and value given as bytes that are all ASCII (< 0x80: each byte is one
   * UTF-16 code unit, the caller checks): a snapshot's chunk is read straight into the map,
   * with no JS string made per key and value (store/snapshot_chunk.ts).
   */
  setAscii(bytes: Uint8Array, keyAt: number, keyLength: number, valueAt: number, valueLength: number, version: number): void {
    if (keyLength >= largeUnits || valueLength >= largeUnits) {
      this.set(asciiString(bytes, keyAt, keyLength), asciiString(bytes, valueAt, valueLength), version);
      return;
    }
    const id = this.#findAscii(bytes, keyAt, keyLength);
    if (id >= 0) this.#overwrite(id, this.#storeBytes(bytes, valueAt, valueLength), valueLength, version);
    else this.#insert(this.#hashAscii, this.#storeBytes(bytes, keyAt, keyLength), keyLength, this.#storeBytes(bytes, valueAt, valueLength), valueLength, version);
  }

  /** hashOf of the last key #findAscii looked for. */
  #hashAscii = 0;

  /**
   * The entry of a key given as ASCII bytes shorter than largeUnits, or -1; its hash (hashOf
   * over the same code units) is left in #hashAscii for an insert.
   */
  #findAscii(bytes: Uint8Array, keyAt: number, keyLength: number): number {
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < keyLength; i++) {
      h ^= bytes[keyAt + i]!;
      h = Math.imul(h, 0x01000193);
    }
    this.#hashAscii = h;
    const id = this.#probeBytes(this.#pages, this.#mask, bytes, keyAt, keyLength, h);
    return id >= 0 || this.#oldPages === null ? id : this.#probeBytes(this.#oldPages, this.#oldMask, bytes, keyAt, keyLength, h);
  }

  /** A new value (stored already; its start and length field) for entry `id`, in place: the entry keeps its id, so its position in the order. */
  #overwrite(id: number, valueStart: number, valueLength: number, version: number): void {
    const meta = this.#meta[id >>> entryShift]!;
    const at = (id & entryMask) * stride;
    this.#release(meta[at + fieldValueStart]!, meta[at + fieldValueLength]!);
    meta[at + fieldValueStart] = valueStart;
    meta[at + fieldValueLength] = valueLength;
    this.#setVersion(id, version);
    this.#afterWrite();
  }

  /**
   * A new entry at the end of the order, its key and value stored already (starts and
   * length fields). `vacant`: the
   * empty slot of the current index where the lookup that missed the key stopped (the one
   * #insertSlot would find), or -1; void once a rehash step has moved slots.
   */
  #insert(h: number, keyStart: number, keyLength: number, valueStart: number, valueLength: number, version: number, vacant = -1): void {
    if (this.#oldPages !== null) {
      this.#migrateSome(rehashSlotsPerOp);
      vacant = -1;
    }
    if (this.#size + this.#indexDeleted + 1 > (this.#mask + 1) * indexLoadMax) {
      this.#startRehash(this.#size + 1);
      vacant = -1;
    }
    if (this.#ids === this.#capacity) this.#growEntries();
    const fresh = this.#ids++;
    const meta = this.#meta[fresh >>> entryShift]!;
    const at = (fresh & entryMask) * stride;
    meta[at + fieldHash] = h;
    meta[at + fieldKeyStart] = keyStart;
    meta[at + fieldKeyLength] = keyLength;
    meta[at + fieldValueStart] = valueStart;
    meta[at + fieldValueLength] = valueLength;
    this.#setVersion(fresh, version);
    this.#alive[fresh >>> entryShift]![fresh & entryMask] = 1;
    this.#size++;
    this.#insertSlot(fresh, h, vacant);
    if (this.#compactRead >= 0) this.#compactSome();
  }

  /** Removes `key`; false if it was absent. */
  delete(key: string): boolean {
    const h = hashOf(key);
    let pages = this.#pages;
    let slot = this.#slotOf(pages, this.#mask, key, h);
    if (slot < 0 && this.#oldPages !== null) {
      pages = this.#oldPages;
      slot = this.#slotOf(pages, this.#oldMask, key, h);
    }
    if (slot < 0) return false;
    this.#removeAt(pages, slot);
    this.#afterWrite();
    return true;
  }

  /**
   * Removes the oldest entry and returns it (key, value, version); undefined when empty. A
   * queue's take, for draining a map in order while it is still written (Capture.foldSome):
   * amortized O(1), as every id below `#head` is dead, so no dead id is visited twice. It
   * starts no compaction step: a map being drained would copy what it is about to give up
   * (the ids and units it leaves are reclaimed by the passes later writes run).
   */
  shift(): [string, string, number] | undefined {
    if (this.#size === 0) return undefined;
    let id = this.#head;
    while (this.#alive[id >>> entryShift]![id & entryMask] === 0) id++;
    this.#work += id - this.#head;
    this.#head = id + 1;
    const meta = this.#meta[id >>> entryShift]!;
    const at = (id & entryMask) * stride;
    const taken: [string, string, number] = [
      this.#decode(meta[at + fieldKeyStart]!, meta[at + fieldKeyLength]!),
      this.#decode(meta[at + fieldValueStart]!, meta[at + fieldValueLength]!),
      this.#version[id >>> entryShift]![id & entryMask]!,
    ];
    const h = meta[at + fieldHash]!;
    let pages = this.#pages;
    let slot = this.#slotOfId(pages, this.#mask, id, h);
    if (slot < 0 && this.#oldPages !== null) {
      pages = this.#oldPages;
      slot = this.#slotOfId(pages, this.#oldMask, id, h);
    }
    if (slot < 0) throw new Error(`PackedMap: entry ${id} is not in the index`);
    this.#removeAt(pages, slot);
    return taken;
  }

  /** Removes the entry whose index slot is `slot` of `pages` (the current or the old index); no compaction step. */
  #removeAt(pages: Int32Array[], slot: number): void {
    const page = pages[slot >>> pageShift]!;
    const id = page[slot & pageMask]! - 1;
    page[slot & pageMask] = slotDeleted;
    // Deleted slots of the old index vanish with it; only the current one's count.
    if (pages === this.#pages) this.#indexDeleted++;
    this.#alive[id >>> entryShift]![id & entryMask] = 0;
    this.#size--;
    const meta = this.#meta[id >>> entryShift]!;
    const at = (id & entryMask) * stride;
    this.#release(meta[at + fieldKeyStart]!, meta[at + fieldKeyLength]!);
    this.#release(meta[at + fieldValueStart]!, meta[at + fieldValueLength]!);
    if (this.#oldPages !== null) this.#migrateSome(rehashSlotsPerOp);
  }

  /**
   * Pairs in insertion order. The map must not change while this runs (as with the snapshot's
   * frozen base). Iterations start at `#head`: every id below it is dead, and a map drained by
   * shift() (a capture's overlay, folded back a slice at a time) may have millions of them;
   * stepping over them all in the final fold held the loop 25-50 ms (issue 18).
   */
  *entries(): Generator<[string, string], void, undefined> {
    const ids = this.#ids;
    const start = this.#head;
    packedMapScans.ids += ids - start;
    for (let id = start; id < ids; id++) {
      if (this.#alive[id >>> entryShift]![id & entryMask] === 0) continue;
      const meta = this.#meta[id >>> entryShift]!;
      const at = (id & entryMask) * stride;
      yield [this.#decode(meta[at + fieldKeyStart]!, meta[at + fieldKeyLength]!), this.#decode(meta[at + fieldValueStart]!, meta[at + fieldValueLength]!)];
    }
  }

  /** Keys, values and versions in insertion order (the same rule as entries()). */
  *entriesVersioned(): Generator<[string, string, number], void, undefined> {
    const ids = this.#ids;
    const start = this.#head;
    packedMapScans.ids += ids - start;
    for (let id = start; id < ids; id++) {
      if (this.#alive[id >>> entryShift]![id & entryMask] === 0) continue;
      const meta = this.#meta[id >>> entryShift]!;
      const at = (id & entryMask) * stride;
      yield [
        this.#decode(meta[at + fieldKeyStart]!, meta[at + fieldKeyLength]!),
        this.#decode(meta[at + fieldValueStart]!, meta[at + fieldValueLength]!),
        this.#version[id >>> entryShift]![id & entryMask]!,
      ];
    }
  }

  /**
   * Visits entries in insertion order from id `from` (0 to begin) with their code units, not
   * as strings: `visit(keyUnits, keyAt, keyLength, valueUnits, valueAt, valueLength, version)`,
   * a string held large passed as itself (at 0). Stops before the first entry `visit` refuses
   * (returns false), returning its id to go on from, or at the end, returning -1. For writing
   * a snapshot's chunks with no JS string per key and value (snapshot_chunk.ts writeChunk);
   * the map must not change between calls (as the snapshot's frozen base does not).
   */
  visitUnits(from: number, visit: UnitsVisitor): number {
    const ids = this.#ids;
    const start = Math.max(from, this.#head);
    packedMapScans.ids += Math.max(0, ids - start);
    for (let id = start; id < ids; id++) {
      if (this.#alive[id >>> entryShift]![id & entryMask] === 0) continue;
      const meta = this.#meta[id >>> entryShift]!;
      const at = (id & entryMask) * stride;
      const keyStart = meta[at + fieldKeyStart]!;
      const keyLength = meta[at + fieldKeyLength]!;
      const valueStart = meta[at + fieldValueStart]!;
      const valueLength = meta[at + fieldValueLength]!;
      const isOk = visit(
        this.#units(keyStart, keyLength),
        keyLength <= 0 || keyLength >= largeUnits ? 0 : keyStart & charMask,
        keyLength < 0 ? ~keyLength : keyLength,
        this.#units(valueStart, valueLength),
        valueLength <= 0 || valueLength >= largeUnits ? 0 : valueStart & charMask,
        valueLength < 0 ? ~valueLength : valueLength,
        this.#version[id >>> entryShift]![id & entryMask]!,
      );
      if (!isOk) return id;
    }
    return -1;
  }

  /** Where a stored string's units are, a byte each: its chars segment; else the string itself (held large, or wide). */
  #units(start: number, field: number): Uint8Array | string {
    if (field === 0) return noChars;
    if (field < 0) return this.#decode(start, field);
    return field >= largeUnits ? this.#large[start]! : this.#slots[start >>> charShift]!;
  }

  [Symbol.iterator](): Generator<[string, string], void, undefined> {
    return this.entries();
  }

  /** The entry id holding `key`, or -1: the current index, then the old one while a rehash runs. */
  #find(key: string, h: number): number {
    // The current index inline (the hot path: ~10% less CPU per random get at 1M keys than
    // through #probe); the old one only while a rehash runs.
    const pages = this.#pages;
    const mask = this.#mask;
    const metas = this.#meta;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = pages[i >>> pageShift]![i & pageMask]!;
      if (slot === slotEmpty) {
        this.#vacant = i;
        break;
      }
      if (slot === slotDeleted) continue;
      const id = slot - 1;
      const meta = metas[id >>> entryShift]!;
      const at = (id & entryMask) * stride;
      if (meta[at + fieldHash] === h && this.#keyEquals(meta, at, key)) return id;
    }
    return this.#oldPages === null ? -1 : this.#probe(this.#oldPages, this.#oldMask, key, h);
  }

  #probe(pages: Int32Array[], mask: number, key: string, h: number): number {
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = pages[i >>> pageShift]![i & pageMask]!;
      if (slot === slotEmpty) return -1;
      if (slot === slotDeleted) continue;
      const id = slot - 1;
      const meta = this.#meta[id >>> entryShift]!;
      const at = (id & entryMask) * stride;
      if (meta[at + fieldHash] === h && this.#keyEquals(meta, at, key)) return id;
    }
  }

  /** #probe for a key given as ASCII bytes. */
  #probeBytes(pages: Int32Array[], mask: number, bytes: Uint8Array, keyAt: number, keyLength: number, h: number): number {
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = pages[i >>> pageShift]![i & pageMask]!;
      if (slot === slotEmpty) return -1;
      if (slot === slotDeleted) continue;
      const id = slot - 1;
      const meta = this.#meta[id >>> entryShift]!;
      const at = (id & entryMask) * stride;
      if (meta[at + fieldHash] !== h || meta[at + fieldKeyLength] !== keyLength) continue;
      const start = meta[at + fieldKeyStart]!;
      const chars = this.#slots[start >>> charShift]!;
      const offset = start & charMask;
      let i2 = 0;
      while (i2 < keyLength && chars[offset + i2] === bytes[keyAt + i2]) i2++;
      if (i2 === keyLength) return id;
    }
  }

  /** The index slot holding `key` in one table, or -1. */
  #slotOf(pages: Int32Array[], mask: number, key: string, h: number): number {
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = pages[i >>> pageShift]![i & pageMask]!;
      if (slot === slotEmpty) return -1;
      if (slot === slotDeleted) continue;
      const id = slot - 1;
      const meta = this.#meta[id >>> entryShift]!;
      const at = (id & entryMask) * stride;
      if (meta[at + fieldHash] === h && this.#keyEquals(meta, at, key)) return i;
    }
  }

  /** The index slot holding entry `id` (hash `h`) in one table, or -1. */
  #slotOfId(pages: Int32Array[], mask: number, id: number, h: number): number {
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = pages[i >>> pageShift]![i & pageMask]!;
      if (slot === slotEmpty) return -1;
      if (slot === id + 1) return i;
    }
  }

  #keyEquals(meta: Int32Array, at: number, key: string): boolean {
    const field = meta[at + fieldKeyLength]!;
    const start = meta[at + fieldKeyStart]!;
    if (field < 0) {
      const length = ~field;
      if (length !== key.length) return false;
      const chars = this.#slots[start >>> charShift]!;
      const offset = start & charMask;
      for (let i = 0; i < length; i++) if ((chars[offset + 2 * i]! | (chars[offset + 2 * i + 1]! << 8)) !== key.charCodeAt(i)) return false;
      return true;
    }
    if (field !== key.length) return false;
    if (field >= largeUnits) return this.#large[start] === key;
    // A narrow string's bytes are its units, and a key with a wider unit differs at it.
    const chars = this.#slots[start >>> charShift]!;
    const offset = start & charMask;
    for (let i = 0; i < field; i++) if (chars[offset + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  /** Puts `id` in the first empty slot of its probe sequence in the current index (`vacant` if known). */
  #insertSlot(id: number, h: number, vacant = -1): void {
    const pages = this.#pages;
    const mask = this.#mask;
    let i = vacant >= 0 ? vacant : h & mask;
    while (pages[i >>> pageShift]![i & pageMask] !== slotEmpty) i = (i + 1) & mask;
    let page = pages[i >>> pageShift]!;
    if (page === emptyPage) {
      page = new Int32Array(pageSlots);
      pages[i >>> pageShift] = page;
      this.#work += pageSlots;
    }
    page[i & pageMask] = id + 1;
  }

  /**
   * Begins moving the index into a fresh one sized for `entries` (dropping deleted slots):
   * the old one stays readable and is moved across by later inserts and deletes. A rehash
   * still running then (the headroom rules it out) is finished first.
   */
  #startRehash(entries: number): void {
    if (this.#oldPages !== null) this.#migrateSome(Infinity);
    const old = this.#mask + 1;
    let capacity = indexInitial;
    while (entries > capacity * indexLoadAfterRehash || capacity < old / 4) capacity *= 2;
    this.#oldPages = this.#pages;
    this.#oldMask = this.#mask;
    this.#oldCursor = 0;
    this.#pages = newPages(capacity);
    this.#mask = capacity - 1;
    this.#indexDeleted = 0;
    if (capacity <= pageSlots) this.#work += capacity;
  }

  /** Moves up to `budget` slots of the old index into the current one; drops the old once done. */
  #migrateSome(budget: number): void {
    const old = this.#oldPages!;
    const end = Math.min(this.#oldMask + 1, this.#oldCursor + budget);
    let i = this.#oldCursor;
    this.#work += end - i;
    while (i < end) {
      const page = old[i >>> pageShift]!;
      if (page === emptyPage) {
        i = ((i >>> pageShift) + 1) << pageShift;
        continue;
      }
      const slot = page[i & pageMask]!;
      if (slot > 0) {
        const id = slot - 1;
        this.#insertSlot(id, this.#meta[id >>> entryShift]![(id & entryMask) * stride + fieldHash]!);
        // Deleted rather than emptied: later entries' probe sequences in the old index pass here.
        page[i & pageMask] = slotDeleted;
      }
      i++;
    }
    this.#oldCursor = i;
    if (i > this.#oldMask) this.#oldPages = null;
  }

  /** Points the index slot of entry `from` (hash `h`) at `to` (a compaction pass moved it). */
  #repoint(from: number, to: number, h: number): void {
    if (this.#repointIn(this.#pages, this.#mask, from, to, h)) return;
    if (this.#oldPages !== null && this.#repointIn(this.#oldPages, this.#oldMask, from, to, h)) return;
    throw new Error(`PackedMap: entry ${from} is not in the index`);
  }

  #repointIn(pages: Int32Array[], mask: number, from: number, to: number, h: number): boolean {
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const page = pages[i >>> pageShift]!;
      const slot = page[i & pageMask]!;
      if (slot === slotEmpty) return false;
      if (slot === from + 1) {
        page[i & pageMask] = to + 1;
        return true;
      }
    }
  }

  /** Sets entry `id`'s version, widening its segment to float64 for a value a uint32 cannot hold. */
  #setVersion(id: number, version: number): void {
    let versions = this.#version[id >>> entryShift]!;
    if (versions instanceof Uint32Array && version >>> 0 !== version) {
      const wide = new Float64Array(versions.length);
      wide.set(versions);
      this.#version[id >>> entryShift] = versions = wide;
      this.#work += 2 * versions.length;
    }
    versions[id & entryMask] = version;
  }

  /** Adds room for ids: doubles the first segment while it is small, else adds a segment. */
  #growEntries(): void {
    const last = this.#alive.length - 1;
    const length = this.#alive[last]!.length;
    if (length < entrySegment) {
      const n = length * 2;
      const meta = new Int32Array(n * stride);
      meta.set(this.#meta[last]!);
      const old = this.#version[last]!;
      const version = old instanceof Uint32Array ? new Uint32Array(n) : new Float64Array(n);
      version.set(old);
      const alive = new Uint8Array(n);
      alive.set(this.#alive[last]!);
      this.#meta[last] = meta;
      this.#version[last] = version;
      this.#alive[last] = alive;
      this.#capacity += n - length;
      this.#work += n * (stride + 2) + length * (stride + 2);
      return;
    }
    this.#meta.push(new Int32Array(entrySegment * stride));
    this.#version.push(new Uint32Array(entrySegment));
    this.#alive.push(new Uint8Array(entrySegment));
    this.#capacity += entrySegment;
    this.#work += entrySegment * (stride + 2);
  }

  /**
   * Where `s` is kept: a position in the chars segments, or its number among the large
   * strings; its length field is left in #storedField (the length, or ~length when wide).
   */
  #store(s: string): number {
    const n = s.length;
    this.#storedField = n;
    if (n === 0) return 0;
    if (n >= largeUnits) {
      const at = this.#largeFree.pop();
      if (at !== undefined) {
        this.#large[at] = s;
        return at;
      }
      this.#large.push(s);
      return this.#large.length - 1;
    }
    // One pass for the common case: written a byte a unit, then redone two bytes a unit in
    // the rare string with a unit of 256 or more (the narrow attempt taken back first).
    let position = this.#place(n);
    let chars = this.#slots[position >>> charShift]!;
    let offset = position & charMask;
    let wide = 0;
    for (let i = 0; i < n; i++) {
      const unit = s.charCodeAt(i);
      wide |= unit;
      chars[offset + i] = unit;
    }
    if (wide < 0x100) return position;
    this.#unplace(n);
    position = this.#place(2 * n);
    chars = this.#slots[position >>> charShift]!;
    offset = position & charMask;
    for (let i = 0; i < n; i++) {
      const unit = s.charCodeAt(i);
      chars[offset + 2 * i] = unit & 0xff;
      chars[offset + 2 * i + 1] = unit >>> 8;
    }
    this.#storedField = ~n;
    return position;
  }

  /** #store for `n` (< largeUnits) ASCII bytes (its length field is `n`). */
  #storeBytes(bytes: Uint8Array, at: number, n: number): number {
    if (n === 0) return 0;
    const position = this.#place(n);
    const chars = this.#slots[position >>> charShift]!;
    const offset = position & charMask;
    for (let i = 0; i < n; i++) chars[offset + i] = bytes[at + i]!;
    return position;
  }

  /** A string (start, length field) an entry no longer refers to: dead bytes (reclaimed by compaction), or a large slot freed. */
  #release(start: number, field: number): void {
    if (field === 0) return;
    if (field >= largeUnits) {
      this.#large[start] = "";
      this.#largeFree.push(start);
      return;
    }
    this.#charsDead += byteLength(field);
  }

  /** Takes back the last `n` bytes #place handed out (nothing was placed since). */
  #unplace(n: number): void {
    this.#appendAt -= n;
    this.#slotUsed[this.#appendSlot] = this.#slotUsed[this.#appendSlot]! - n;
    this.#charsUsed -= n;
  }

  /** Room for `n` (< 2 × largeUnits) bytes in the segment being appended to; returns its position. */
  #place(n: number): number {
    let slot = this.#appendSlot;
    let at = this.#appendAt;
    const chars = slot < 0 ? noChars : this.#slots[slot]!;
    if (at + n > chars.length) {
      if (slot >= 0 && chars.length < charSegment && at + n <= charSegment) {
        // A small map's segment: doubled in place (a bounded copy), positions unchanged.
        let length = chars.length * 2;
        while (length < at + n) length *= 2;
        const grown = Buffer.alloc(length);
        grown.set(chars.subarray(0, at));
        this.#slots[slot] = grown;
        this.#work += length + at;
      } else {
        slot = this.#newSlot(n);
        at = 0;
      }
    }
    this.#appendAt = at + n;
    this.#slotUsed[slot] = this.#slotUsed[slot]! + n;
    this.#charsUsed += n;
    return (slot << charShift) | at;
  }

  /** A fresh segment to append to (small for a small map, else full size), in a free slot if any. */
  #newSlot(n: number): number {
    const live = this.#charsUsed - this.#charsDead;
    const length = Math.min(charSegment, Math.max(charsInitial, nextPowerOfTwo(live + n)));
    const slot = this.#freeSlots.pop() ?? this.#slots.length;
    if (slot >= charSlotsMax) throw new RangeError("PackedMap: keys and values exceed 8 GiB");
    this.#slots[slot] = Buffer.alloc(length);
    this.#slotUsed[slot] = 0;
    this.#appendSlot = slot;
    this.#appendAt = 0;
    this.#work += length;
    return slot;
  }

  /** The string at `start` with length field `field`. */
  #decode(start: number, field: number): string {
    if (field === 0) return "";
    if (field >= largeUnits) return this.#large[start]!;
    const chars = this.#slots[start >>> charShift]!;
    const offset = start & charMask;
    if (field > 0) return chars.toString("latin1", offset, offset + field);
    // A wide string through a reused plain array: 2-3x faster here than a typed subarray.
    const units = this.#decodeScratch;
    const length = ~field;
    units.length = length;
    for (let i = 0; i < length; i++) units[i] = chars[offset + 2 * i]! | (chars[offset + 2 * i + 1]! << 8);
    return String.fromCharCode.apply(null, units);
  }

  /** After an overwrite or delete: a step of the compaction pass running, or one begun if due. */
  #afterWrite(): void {
    if (this.#compactRead >= 0) {
      this.#compactSome();
      return;
    }
    const deadIds = this.#ids - this.#size;
    const charsDue = this.#charsDead > 4096 && this.#charsDead * 2 > this.#charsUsed;
    const idsDue = deadIds > 1024 && deadIds * 2 > this.#ids;
    if (!charsDue && !idsDue) return;
    // Amortized O(1) per write: a pass follows at least as many writes as it has live entries
    // and units to move.
    this.#compactRead = 0;
    this.#compactWrite = 0;
    if (charsDue) {
      const from = new Uint8Array(this.#slots.length);
      for (let s = 0; s < from.length; s++) if (this.#slots[s] !== noChars) from[s] = 1;
      this.#fromSpace = from;
      this.#appendSlot = -1; // new strings go to fresh segments
      this.#work += from.length;
    }
    this.#compactSome();
  }

  /**
   * One step of the compaction pass: live entries move down over dead ids (order kept, index
   * repointed), their strings copied out of the from-space segments.
   */
  #compactSome(): void {
    const from = this.#fromSpace;
    let read = this.#compactRead;
    let write = this.#compactWrite;
    let visits = 0;
    let units = 0;
    while (read < this.#ids && (visits < compactEntriesMinPerOp || (visits < compactEntriesPerOp && units < compactBytesPerOp))) {
      visits++;
      const rs = read >>> entryShift;
      const ro = read & entryMask;
      if (this.#alive[rs]![ro] === 1) {
        const src = this.#meta[rs]!;
        const sa = ro * stride;
        if (from !== null) units += this.#evacuate(src, sa + fieldKeyStart, from) + this.#evacuate(src, sa + fieldValueStart, from);
        if (write !== read) {
          const ws = write >>> entryShift;
          const wo = write & entryMask;
          const dst = this.#meta[ws]!;
          const da = wo * stride;
          for (let f = 0; f < stride; f++) dst[da + f] = src[sa + f]!;
          this.#setVersion(write, this.#version[rs]![ro]!);
          this.#alive[ws]![wo] = 1;
          this.#alive[rs]![ro] = 0;
          this.#repoint(read, write, src[sa + fieldHash]!);
          if (write < this.#head) this.#head = write;
        }
        write++;
      }
      read++;
    }
    this.#work += visits + units;
    this.#compactRead = read;
    this.#compactWrite = write;
    if (read === this.#ids) this.#endCompaction();
  }

  /** Copies the string at meta[at] (start; length field at at + 1) out of a from-space segment; its bytes. */
  #evacuate(meta: Int32Array, at: number, from: Uint8Array): number {
    const field = meta[at + 1]!;
    if (field === 0 || field >= largeUnits) return 0;
    const length = byteLength(field);
    const start = meta[at]!;
    const slot = start >>> charShift;
    if (from[slot] !== 1) return 0;
    const source = this.#slots[slot]!;
    const offset = start & charMask;
    const position = this.#place(length);
    // A loop, not set(subarray(…)): no view object made per string moved.
    const target = this.#slots[position >>> charShift]!;
    const to = position & charMask;
    for (let i = 0; i < length; i++) target[to + i] = source[offset + i]!;
    meta[at] = position;
    this.#charsDead += length; // the old copy
    return length;
  }

  /** The pass visited every id: drop the ids past the last live one and the from-space segments. */
  #endCompaction(): void {
    const ids = this.#compactWrite;
    this.#ids = ids;
    if (this.#head > ids) this.#head = ids;
    const keep = Math.max(1, Math.ceil(ids / entrySegment));
    this.#meta.length = keep;
    this.#version.length = keep;
    this.#alive.length = keep;
    this.#capacity = (keep - 1) * entrySegment + this.#alive[keep - 1]!.length;
    const from = this.#fromSpace;
    if (from !== null) {
      for (let s = 0; s < from.length; s++) {
        if (from[s] !== 1) continue;
        // Every unit left in a from-space segment is dead: released, or copied out.
        this.#charsUsed -= this.#slotUsed[s]!;
        this.#charsDead -= this.#slotUsed[s]!;
        this.#slotUsed[s] = 0;
        this.#slots[s] = noChars;
        this.#freeSlots.push(s);
      }
      this.#work += from.length;
    }
    this.#fromSpace = null;
    this.#compactRead = -1;
    this.#compactWrite = 0;
  }
}

/** A fresh index of `capacity` slots: one real page when small, else shared empty pages. */
function newPages(capacity: number): Int32Array[] {
  if (capacity <= pageSlots) return [new Int32Array(capacity)];
  const pages: Int32Array[] = [];
  for (let p = 0; p < capacity / pageSlots; p++) pages.push(emptyPage);
  return pages;
}

/** ASCII bytes as a string (each byte one code unit), in pieces (apply's argument limit). */
function asciiString(bytes: Uint8Array, at: number, length: number): string {
  let out = "";
  for (let from = 0; from < length; from += largeUnits) {
    out += String.fromCharCode.apply(null, Array.from(bytes.subarray(at + from, at + Math.min(length, from + largeUnits))));
  }
  return out;
}

/** Bytes a stored string of length field `field` (below largeUnits) takes: a byte a unit, or two when wide. */
function byteLength(field: number): number {
  return field < 0 ? 2 * ~field : field;
}

/** FNV-1a over the UTF-16 code units, as a signed 32-bit integer (also the once-only table's, store/sessions.ts). */
export function hashOf(s: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
