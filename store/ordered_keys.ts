// The keys of the state machine in key order, for listing (issue 16 item 3: GET /key?prefix=).
// PackedMap (./packed_map.ts) keeps insertion order and a hash index: fast by key, but a page
// of keys in order would cost a pass over every key. This keeps the same keys sorted.
//
// Shape: a two-level B+tree. Leaves hold up to leafKeysMax keys each, packed into one array
// of code units with a Uint32Array of end offsets, in key order; the top level is
// an array of the leaves and an array of their first keys (JS strings, one per leaf). So at
// ten million keys there are some 60,000 leaves, about 200,000 JS objects in all, rather than
// ten million strings for the collector to mark (packed_map.ts's header says why that
// matters). Order is JS string order: UTF-16 code units compared one by one.
//
// A leaf's units are one byte each (a Uint8Array) while every unit of its keys is below 256
// (ASCII and Latin-1: almost every key, so half the memory), and two (a Uint16Array) from the
// first key with a wider unit on: the leaf is widened then, a copy of one leaf. A unit reads
// the same from either, so comparisons and order do not depend on the form.
//
// Cost: an insert or delete finds its leaf by binary search over the first keys (log2 of the
// leaf count string comparisons), its place by binary search in the leaf, then moves at most
// one leaf's bytes (copyWithin); a split or a merge splices the top-level arrays (a move of
// one pointer per leaf, rare: once per leafKeysMax/2 inserts at worst). Only creations and
// deletions reach this: an overwrite leaves the key where it is. A page of n keys costs one
// descent and n steps.

/** Most keys a leaf holds; a leaf that would hold more is split in two halves. */
export const leafKeysMax = 256;
/** A leaf left with fewer keys than this is merged into a neighbour that has room. */
const leafKeysMin = 32;
/** Code units a new leaf starts with room for. */
const leafCharsInitial = 1024;
/**
 * A leaf's characters grow by a quarter (and a little) when full: with doubling, leaves held
 * about twice their keys' size on average; a leaf is a few KiB, so the extra copies are cheap.
 */
function grownChars(needed: number, capacity: number): number {
  return Math.max(needed, Math.ceil(capacity * 1.25) + 64);
}

/** Units a leaf holds: one byte each while all are below 256, else two. */
type Units = Uint8Array | Uint16Array;

/** Room for `length` units of the same width as `like`. */
function unitsLike(like: Units, length: number): Units {
  return like instanceof Uint8Array ? new Uint8Array(length) : new Uint16Array(length);
}

/** True when some code unit of `key` is 256 or more (it needs a wide leaf). */
function isWide(key: string): boolean {
  for (let j = 0; j < key.length; j++) if (key.charCodeAt(j) > 0xff) return true;
  return false;
}

/** One leaf: `count` keys in order, key i at chars[start(i), ends[i]) with start(i) = ends[i-1] or 0. */
class Leaf {
  chars: Units;
  ends: Uint32Array;
  count = 0;

  constructor(chars: number, keys = leafKeysMax + 1, wide = false) {
    this.chars = wide ? new Uint16Array(chars) : new Uint8Array(chars);
    this.ends = new Uint32Array(keys);
  }

  /** A leaf holding `keys` (in order). */
  static of(keys: readonly string[]): Leaf {
    let chars = 0;
    let wide = false;
    for (const key of keys) {
      chars += key.length;
      wide ||= isWide(key);
    }
    const leaf = new Leaf(Math.max(leafCharsInitial, grownChars(chars, chars)), Math.max(leafKeysMax + 1, keys.length + 1), wide);
    for (const key of keys) leaf.insertAt(leaf.count, key);
    return leaf;
  }

  /** Two bytes a unit from now on (a key with a unit of 256 or more is coming). */
  widen(): void {
    if (this.chars instanceof Uint16Array) return;
    const wide = new Uint16Array(this.chars.length);
    wide.set(this.chars.subarray(0, this.used));
    this.chars = wide;
  }

  get used(): number {
    return this.count === 0 ? 0 : this.ends[this.count - 1]!;
  }

  start(i: number): number {
    return i === 0 ? 0 : this.ends[i - 1]!;
  }

  key(i: number): string {
    return decode(this.chars, this.start(i), this.ends[i]!);
  }

  /** Sign of (key i − `key`) in code-unit order. */
  compare(i: number, key: string): number {
    const chars = this.chars;
    const start = this.start(i);
    const length = this.ends[i]! - start;
    const n = Math.min(length, key.length);
    for (let j = 0; j < n; j++) {
      const d = chars[start + j]! - key.charCodeAt(j);
      if (d !== 0) return d;
    }
    return length - key.length;
  }

  /** The first position whose key is ≥ `key` (count if none). */
  lowerBound(key: string): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(mid, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Puts `key` at position `at`, moving the keys after it. The caller splits an overfull leaf. */
  insertAt(at: number, key: string): void {
    const used = this.used;
    const length = key.length;
    if (this.count === this.ends.length) {
      const ends = new Uint32Array(this.ends.length * 2);
      ends.set(this.ends);
      this.ends = ends;
    }
    if (this.chars instanceof Uint8Array && isWide(key)) this.widen();
    if (used + length > this.chars.length) {
      const grown = unitsLike(this.chars, grownChars(used + length, this.chars.length));
      grown.set(this.chars.subarray(0, used));
      this.chars = grown;
    }
    const start = this.start(at);
    const chars = this.chars;
    chars.copyWithin(start + length, start, used);
    for (let j = 0; j < length; j++) chars[start + j] = key.charCodeAt(j);
    const ends = this.ends;
    for (let i = this.count; i > at; i--) ends[i] = ends[i - 1]! + length;
    ends[at] = start + length;
    this.count++;
  }

  removeAt(at: number): void {
    const start = this.start(at);
    const end = this.ends[at]!;
    const length = end - start;
    this.chars.copyWithin(start, end, this.used);
    const ends = this.ends;
    for (let i = at; i < this.count - 1; i++) ends[i] = ends[i + 1]! - length;
    this.count--;
  }

  /** A new leaf holding keys [from, to) of this one. */
  slice(from: number, to: number): Leaf {
    const start = this.start(from);
    const end = to === 0 ? 0 : this.ends[to - 1]!;
    const leaf = new Leaf(Math.max(leafCharsInitial, grownChars(end - start, end - start)), leafKeysMax + 1, this.chars instanceof Uint16Array);
    leaf.chars.set(this.chars.subarray(start, end));
    for (let i = from; i < to; i++) leaf.ends[i - from] = this.ends[i]! - start;
    leaf.count = to - from;
    return leaf;
  }

  /** The last position whose key is ≤ `key`, or 0 if none is (the leaf a key goes to, for the top level). */
  floor(key: string): number {
    const at = this.lowerBound(key);
    if (at < this.count && this.compare(at, key) === 0) return at;
    return at === 0 ? 0 : at - 1;
  }

  /** Replaces the key at `at` (same order place). */
  replaceAt(at: number, key: string): void {
    this.removeAt(at);
    this.insertAt(at, key);
  }

  /** Appends every key of `other` (all greater than this leaf's). */
  append(other: Leaf): void {
    if (other.chars instanceof Uint16Array) this.widen();
    const used = this.used;
    const add = other.used;
    if (used + add > this.chars.length) {
      const grown = unitsLike(this.chars, grownChars(used + add, this.chars.length));
      grown.set(this.chars.subarray(0, used));
      this.chars = grown;
    }
    this.chars.set(other.chars.subarray(0, add), used);
    for (let i = 0; i < other.count; i++) this.ends[this.count + i] = other.ends[i]! + used;
    this.count += other.count;
  }
}

/** Where a scan stands: a leaf and a position in it. */
interface Position {
  leaf: number;
  at: number;
}

export class OrderedKeys {
  /** Leaves in key order; never empty (an empty set is one empty leaf). */
  #leaves: Leaf[] = [new Leaf(leafCharsInitial)];
  /**
   * The top level: key i is the first key of leaves[i] ("" for an empty leaf 0, then the only
   * one), packed as a leaf is. Not an array of strings: JS string comparisons over thousands of
   * strings scattered in the heap cost microseconds per search here (measured with Bun: ~2.5 µs
   * for the 13 of a million keys), packed code units a fraction of that.
   */
  #firsts: Leaf = Leaf.of([""]);
  #size = 0;

  /** Builds the set of `keys` (each once, any order). */
  static from(keys: Iterable<string>): OrderedKeys {
    const out = new OrderedKeys();
    for (const key of keys) out.insert(key);
    return out;
  }

  /**
   * Builds the set of `keys`, which must be distinct and in order (as Array.prototype.sort with
   * no comparator leaves strings: by UTF-16 code units), leaf after leaf: O(n), leaves three
   * quarters full so that inserts after it split late. With a native sort this is how a restore
   * builds the index: a million keys took ~0.7 s to sort and pack on a loaded machine, against
   * ~8 s inserted one by one (each insert a search of two levels with JS comparisons).
   */
  static fromSorted(keys: readonly string[]): OrderedKeys {
    const out = new OrderedKeys();
    if (keys.length === 0) return out;
    const per = (leafKeysMax * 3) >>> 2;
    const leaves: Leaf[] = [];
    const firsts: string[] = [];
    for (let i = 0; i < keys.length; i += per) {
      const leaf = Leaf.of(keys.slice(i, i + per));
      leaves.push(leaf);
      firsts.push(keys[i]!);
    }
    out.#leaves = leaves;
    out.#firsts = Leaf.of(firsts);
    out.#size = keys.length;
    return out;
  }

  get size(): number {
    return this.#size;
  }

  /** Leaves in use (for tests: the structure stays compact). */
  get leafCount(): number {
    return this.#leaves.length;
  }

  /** Bytes of the leaves' typed arrays (for measurements). */
  get bytes(): number {
    let total = 0;
    for (const leaf of [...this.#leaves, this.#firsts]) total += leaf.chars.byteLength + leaf.ends.byteLength;
    return total;
  }

  /** Adds `key`; false if it was there already. */
  insert(key: string): boolean {
    const l = this.#leafFor(key);
    const leaf = this.#leaves[l]!;
    const at = leaf.lowerBound(key);
    if (at < leaf.count && leaf.compare(at, key) === 0) return false;
    leaf.insertAt(at, key);
    this.#size++;
    if (at === 0) this.#firsts.replaceAt(l, key);
    if (leaf.count > leafKeysMax) this.#split(l);
    return true;
  }

  /** Removes `key`; false if it was absent. */
  delete(key: string): boolean {
    const l = this.#leafFor(key);
    const leaf = this.#leaves[l]!;
    const at = leaf.lowerBound(key);
    if (at >= leaf.count || leaf.compare(at, key) !== 0) return false;
    leaf.removeAt(at);
    this.#size--;
    if (leaf.count === 0) {
      if (this.#leaves.length > 1) {
        this.#leaves.splice(l, 1);
        this.#firsts.removeAt(l);
      } else {
        this.#firsts.replaceAt(0, "");
      }
      return true;
    }
    if (at === 0) this.#firsts.replaceAt(l, leaf.key(0));
    if (leaf.count < leafKeysMin) this.#mergeSmall(l);
    return true;
  }

  has(key: string): boolean {
    const leaf = this.#leaves[this.#leafFor(key)]!;
    const at = leaf.lowerBound(key);
    return at < leaf.count && leaf.compare(at, key) === 0;
  }

  /**
   * Keys in order from `from` (included, or excluded with `exclusive`), as long as the caller
   * pulls. The set must not change while a scan runs (a page is read in one synchronous step).
   */
  *scan(from: string, exclusive = false): Generator<string, void, undefined> {
    const p = this.#seek(from, exclusive);
    const leaves = this.#leaves;
    for (let l = p.leaf; l < leaves.length; l++) {
      const leaf = leaves[l]!;
      for (let i = l === p.leaf ? p.at : 0; i < leaf.count; i++) yield leaf.key(i);
    }
  }

  /** The first position holding a key ≥ `from` (> with `exclusive`). */
  #seek(from: string, exclusive: boolean): Position {
    const l = this.#leafFor(from);
    const leaf = this.#leaves[l]!;
    let at = leaf.lowerBound(from);
    if (exclusive && at < leaf.count && leaf.compare(at, from) === 0) at++;
    return { leaf: l, at };
  }

  /** The leaf that holds `key` or would: the last one whose first key is ≤ key (else the first). */
  #leafFor(key: string): number {
    return this.#firsts.floor(key);
  }

  #split(l: number): void {
    const leaf = this.#leaves[l]!;
    const half = leaf.count >>> 1;
    const right = leaf.slice(half, leaf.count);
    const left = leaf.slice(0, half);
    this.#leaves.splice(l, 1, left, right);
    this.#firsts.insertAt(l + 1, right.key(0));
  }

  /** Merges a small leaf with a neighbour when both fit in one leaf (keeps leaves dense after deletes). */
  #mergeSmall(l: number): void {
    const leaves = this.#leaves;
    const leaf = leaves[l]!;
    const right = leaves[l + 1];
    if (right !== undefined && leaf.count + right.count <= leafKeysMax / 2) {
      leaf.append(right);
      leaves.splice(l + 1, 1);
      this.#firsts.removeAt(l + 1);
      return;
    }
    const left = leaves[l - 1];
    if (left !== undefined && left.count + leaf.count <= leafKeysMax / 2) {
      left.append(leaf);
      leaves.splice(l, 1);
      this.#firsts.removeAt(l);
    }
  }
}

/** Strings longer than this are decoded in pieces (Function.prototype.apply has an argument limit). */
const decodeChunkUnits = 8192;

function decode(chars: Units, start: number, end: number): string {
  if (end - start <= decodeChunkUnits) return String.fromCharCode.apply(null, chars.subarray(start, end) as unknown as number[]);
  let out = "";
  for (let at = start; at < end; at += decodeChunkUnits) {
    out += String.fromCharCode.apply(null, chars.subarray(at, Math.min(end, at + decodeChunkUnits)) as unknown as number[]);
  }
  return out;
}
