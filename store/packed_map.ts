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
// Strings are stored as UTF-16 code units, so every JS string round-trips exactly.

/** First capacities; everything doubles as it fills. */
const entriesInitial = 64;
const charsInitial = 1024;
/** The index is kept at most half full (linear probing stays short). */
const indexLoadMax = 0.5;
/** Index slot values: empty, or a deleted entry (probing continues past it). */
const slotEmpty = 0;
const slotDeleted = -1;
/** Strings longer than this are decoded in pieces (Function.prototype.apply has an argument limit). */
const decodeChunkUnits = 8192;

export class PackedMap implements Iterable<[string, string]> {
  // Entries, by id in insertion order. An entry's key and value are runs of `chars`.
  #keyStart = new Uint32Array(entriesInitial);
  #keyLength = new Uint32Array(entriesInitial);
  #valueStart = new Uint32Array(entriesInitial);
  #valueLength = new Uint32Array(entriesInitial);
  #hash = new Int32Array(entriesInitial);
  /**
   * The log index at which each entry was last written (issue 16: ETag and If-Match), 0 when
   * unknown (set without one, or restored from a snapshot that predates versions). A float
   * array: indexes pass 2^32 before they pass 2^53.
   */
  #version = new Float64Array(entriesInitial);
  /** 1 while the entry is in the map; 0 once deleted (its id is never reused before compaction). */
  #alive = new Uint8Array(entriesInitial);
  /** Ids handed out so far (live and deleted). */
  #ids = 0;
  #size = 0;

  /** Code units of keys and values, appended; `#charsUsed` of them written. */
  #chars = new Uint16Array(charsInitial);
  #charsUsed = 0;
  /** Code units no live entry refers to (overwritten values, deleted pairs). */
  #charsDead = 0;

  /** Open addressing, linear probing: id + 1, slotEmpty or slotDeleted. Length a power of two. */
  #index = new Int32Array(entriesInitial * 2);
  /** Slots holding slotDeleted (they lengthen probes until the next rebuild). */
  #indexDeleted = 0;
  /** Reused by #decodeRun. */
  readonly #decodeScratch: number[] = [];

  /** Builds a map holding `pairs`, in order. */
  static from(pairs: Iterable<readonly [string, string]>): PackedMap {
    const m = new PackedMap();
    for (const [k, v] of pairs) m.set(k, v);
    return m;
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): string | undefined {
    const id = this.#find(key, hashOf(key));
    return id < 0 ? undefined : this.#decode(this.#valueStart[id]!, this.#valueLength[id]!);
  }

  has(key: string): boolean {
    return this.#find(key, hashOf(key)) >= 0;
  }

  /** The version of `key` (the log index of its last write, 0 if unknown), or undefined if absent. */
  versionOf(key: string): number | undefined {
    const id = this.#find(key, hashOf(key));
    return id < 0 ? undefined : this.#version[id]!;
  }

  set(key: string, value: string, version = 0): this {
    const h = hashOf(key);
    const id = this.#find(key, h);
    if (id >= 0) {
      // Overwrite in place: the entry keeps its id, so its position in the order.
      this.#charsDead += this.#valueLength[id]!;
      this.#valueStart[id] = this.#append(value);
      this.#valueLength[id] = value.length;
      this.#version[id] = version;
      this.#maybeCompact();
      return this;
    }
    if (this.#ids === this.#alive.length) this.#growEntries();
    if ((this.#size + this.#indexDeleted + 1) > this.#index.length * indexLoadMax) this.#rebuildIndex(this.#size + 1);
    const fresh = this.#ids++;
    this.#keyStart[fresh] = this.#append(key);
    this.#keyLength[fresh] = key.length;
    this.#valueStart[fresh] = this.#append(value);
    this.#valueLength[fresh] = value.length;
    this.#hash[fresh] = h;
    this.#version[fresh] = version;
    this.#alive[fresh] = 1;
    this.#size++;
    this.#insertSlot(fresh, h);
    return this;
  }

  /** Removes `key`; false if it was absent. */
  delete(key: string): boolean {
    const h = hashOf(key);
    const mask = this.#index.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = this.#index[i]!;
      if (slot === slotEmpty) return false;
      if (slot === slotDeleted) continue;
      const id = slot - 1;
      if (this.#hash[id] !== h || !this.#keyEquals(id, key)) continue;
      this.#index[i] = slotDeleted;
      this.#indexDeleted++;
      this.#alive[id] = 0;
      this.#size--;
      this.#charsDead += this.#keyLength[id]! + this.#valueLength[id]!;
      this.#maybeCompact();
      return true;
    }
  }

  /** Pairs in insertion order. The map must not change while this runs (as with the snapshot's frozen base). */
  *entries(): Generator<[string, string], void, undefined> {
    const ids = this.#ids;
    for (let id = 0; id < ids; id++) {
      if (this.#alive[id] === 0) continue;
      yield [this.#decode(this.#keyStart[id]!, this.#keyLength[id]!), this.#decode(this.#valueStart[id]!, this.#valueLength[id]!)];
    }
  }

  /** Keys, values and versions in insertion order (the same rule as entries()). */
  *entriesVersioned(): Generator<[string, string, number], void, undefined> {
    const ids = this.#ids;
    for (let id = 0; id < ids; id++) {
      if (this.#alive[id] === 0) continue;
      yield [this.#decode(this.#keyStart[id]!, this.#keyLength[id]!), this.#decode(this.#valueStart[id]!, this.#valueLength[id]!), this.#version[id]!];
    }
  }

  [Symbol.iterator](): Generator<[string, string], void, undefined> {
    return this.entries();
  }

  /** The entry id holding `key`, or -1. */
  #find(key: string, h: number): number {
    const mask = this.#index.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = this.#index[i]!;
      if (slot === slotEmpty) return -1;
      if (slot === slotDeleted) continue;
      const id = slot - 1;
      if (this.#hash[id] === h && this.#keyEquals(id, key)) return id;
    }
  }

  #keyEquals(id: number, key: string): boolean {
    const length = this.#keyLength[id]!;
    if (length !== key.length) return false;
    const chars = this.#chars;
    const start = this.#keyStart[id]!;
    for (let i = 0; i < length; i++) if (chars[start + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  #insertSlot(id: number, h: number): void {
    const mask = this.#index.length - 1;
    let i = h & mask;
    while (this.#index[i] !== slotEmpty) i = (i + 1) & mask;
    this.#index[i] = id + 1;
  }

  /** Appends the code units of `s` to `chars`; returns where they start. */
  #append(s: string): number {
    const start = this.#charsUsed;
    const end = start + s.length;
    if (end > this.#chars.length) {
      const grown = new Uint16Array(Math.max(end, this.#chars.length * 2));
      grown.set(this.#chars.subarray(0, this.#charsUsed));
      this.#chars = grown;
    }
    const chars = this.#chars;
    for (let i = 0; i < s.length; i++) chars[start + i] = s.charCodeAt(i);
    this.#charsUsed = end;
    return start;
  }

  #decode(start: number, length: number): string {
    if (length === 0) return "";
    if (length <= decodeChunkUnits) return this.#decodeRun(start, length);
    let out = "";
    for (let at = 0; at < length; at += decodeChunkUnits) out += this.#decodeRun(start + at, Math.min(decodeChunkUnits, length - at));
    return out;
  }

  /** One run of code units as a string: through a reused plain array (2-3x faster here than a typed subarray). */
  #decodeRun(start: number, length: number): string {
    const units = this.#decodeScratch;
    const chars = this.#chars;
    units.length = length;
    for (let i = 0; i < length; i++) units[i] = chars[start + i]!;
    return String.fromCharCode.apply(null, units);
  }

  #growEntries(): void {
    const n = this.#alive.length * 2;
    this.#keyStart = grownU32(this.#keyStart, n);
    this.#keyLength = grownU32(this.#keyLength, n);
    this.#valueStart = grownU32(this.#valueStart, n);
    this.#valueLength = grownU32(this.#valueLength, n);
    const hash = new Int32Array(n);
    hash.set(this.#hash);
    this.#hash = hash;
    const alive = new Uint8Array(n);
    alive.set(this.#alive);
    this.#alive = alive;
    const version = new Float64Array(n);
    version.set(this.#version);
    this.#version = version;
  }

  /** A fresh index sized for `entries` (clearing deleted slots), filled from the live entries. */
  #rebuildIndex(entries: number): void {
    let capacity = this.#index.length;
    while (entries > capacity * indexLoadMax) capacity *= 2;
    while (capacity > entriesInitial * 2 && entries < capacity * indexLoadMax * 0.25) capacity /= 2;
    this.#index = new Int32Array(capacity);
    this.#indexDeleted = 0;
    for (let id = 0; id < this.#ids; id++) if (this.#alive[id] === 1) this.#insertSlot(id, this.#hash[id]!);
  }

  /**
   * Once most of `chars` or of the ids is dead, copies the live entries, in order, into fresh
   * arrays: amortized O(1) per write, as each compaction follows as many writes as it copies.
   */
  #maybeCompact(): void {
    const deadIds = this.#ids - this.#size;
    const charsDue = this.#charsDead > 4096 && this.#charsDead * 2 > this.#charsUsed;
    const idsDue = deadIds > 1024 && deadIds * 2 > this.#ids;
    if (charsDue || idsDue) this.#compact();
  }

  #compact(): void {
    const live = this.#size;
    const capacity = Math.max(entriesInitial, nextPowerOfTwo(live));
    const keyStart = new Uint32Array(capacity);
    const keyLength = new Uint32Array(capacity);
    const valueStart = new Uint32Array(capacity);
    const valueLength = new Uint32Array(capacity);
    const hash = new Int32Array(capacity);
    const alive = new Uint8Array(capacity);
    const version = new Float64Array(capacity);
    const chars = new Uint16Array(Math.max(charsInitial, this.#charsUsed - this.#charsDead));
    let used = 0;
    let next = 0;
    const old = this.#chars;
    for (let id = 0; id < this.#ids; id++) {
      if (this.#alive[id] === 0) continue;
      const kLen = this.#keyLength[id]!;
      const vLen = this.#valueLength[id]!;
      chars.set(old.subarray(this.#keyStart[id]!, this.#keyStart[id]! + kLen), used);
      keyStart[next] = used;
      keyLength[next] = kLen;
      used += kLen;
      chars.set(old.subarray(this.#valueStart[id]!, this.#valueStart[id]! + vLen), used);
      valueStart[next] = used;
      valueLength[next] = vLen;
      used += vLen;
      hash[next] = this.#hash[id]!;
      version[next] = this.#version[id]!;
      alive[next] = 1;
      next++;
    }
    this.#keyStart = keyStart;
    this.#keyLength = keyLength;
    this.#valueStart = valueStart;
    this.#valueLength = valueLength;
    this.#hash = hash;
    this.#alive = alive;
    this.#version = version;
    this.#ids = next;
    this.#chars = chars;
    this.#charsUsed = used;
    this.#charsDead = 0;
    this.#rebuildIndex(next);
  }
}

/** FNV-1a over the UTF-16 code units, as a signed 32-bit integer. */
function hashOf(s: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

function grownU32(a: Uint32Array, n: number): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(n);
  out.set(a);
  return out;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
