// Copy-on-write view of the key-value map while a snapshot is encoded in the background.
// Starting a capture is O(1): the map becomes a frozen `base` that the encoder walks at its own
// pace, and writes made meanwhile go to small side maps until `fold` merges them back. Captures
// stack: the base of a capture may be an older capture (a backup being streamed while the
// driver takes a snapshot), frozen in turn because writes now reach only the newest one.

/** What a capture is built over and folds into: a PackedMap, or an older Capture. */
export interface CaptureBase {
  readonly size: number;
  get(key: string): string | undefined;
  has(key: string): boolean;
  /** The log index of the key's last write (0: unknown), or undefined if absent. */
  versionOf(key: string): number | undefined;
  set(key: string, value: string, version?: number): unknown;
  delete(key: string): boolean;
  entries(): Generator<[string, string], void, undefined>;
  entriesVersioned(): Generator<[string, string, number], void, undefined>;
}

/** Marks a base key as absent from the live view (deleted, or re-inserted into `added`). */
const DELETED: unique symbol = Symbol("deleted");

/**
 * The live map as `base` plus the writes made since the capture began. The view behaves exactly
 * like a plain Map, insertion order included, so `entries()` and the snapshot bytes taken after
 * the fold do not depend on whether a capture happened to be running:
 * - `changed` holds base keys that are still in their base position: a new value (overwritten
 *   in place, as Map.set on a present key keeps its position), or DELETED once the key left.
 * - `added` holds keys inserted while absent, in insertion order (a plain Map appends them).
 *   A base key deleted and set again lives here, its base slot marked DELETED, because a plain
 *   Map would have moved it to the end. One overlay map could not tell those two cases apart.
 */
export class Capture<Base extends CaptureBase = CaptureBase> implements CaptureBase {
  readonly #base: Base;
  readonly #changed = new Map<string, string | typeof DELETED>();
  readonly #added = new Map<string, string>();
  /** Versions of the values in `changed` and `added` (issue 16), beside them so those stay as they were. */
  readonly #versions = new Map<string, number>();
  #size: number;

  /** Takes over `base`: nobody but `fold` may write to it from now on. */
  constructor(base: Base) {
    this.#base = base;
    this.#size = base.size;
  }

  /** The state at capture time, for the encoder; unchanged until `fold`. */
  get base(): Pick<CaptureBase, "size" | "get" | "has" | "entries" | "entriesVersioned"> {
    return this.#base;
  }

  /** Number of keys in the live view. */
  get size(): number {
    return this.#size;
  }

  get(key: string): string | undefined {
    const added = this.#added.get(key);
    if (added !== undefined) return added;
    const slot = this.#changed.get(key);
    if (slot === undefined) return this.#base.get(key);
    return slot === DELETED ? undefined : slot;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  versionOf(key: string): number | undefined {
    if (this.#added.has(key)) return this.#versions.get(key) ?? 0;
    const slot = this.#changed.get(key);
    if (slot === undefined) return this.#base.versionOf(key);
    return slot === DELETED ? undefined : this.#versions.get(key) ?? 0;
  }

  set(key: string, value: string, version = 0): void {
    this.#versions.set(key, version);
    if (this.#added.has(key)) {
      this.#added.set(key, value);
      return;
    }
    if (this.#isInBaseSlot(key)) {
      this.#changed.set(key, value);
      return;
    }
    this.#added.set(key, value);
    this.#size++;
  }

  /** Removes `key` from the live view; false if it was not there. */
  delete(key: string): boolean {
    if (this.#added.delete(key)) {
      this.#size--;
      return true;
    }
    if (!this.#isInBaseSlot(key)) return false;
    this.#changed.set(key, DELETED);
    this.#size--;
    return true;
  }

  /** The live view in plain-Map order: surviving base keys in base order, then `added`. */
  *entries(): Generator<[string, string], void, undefined> {
    for (const [key, value] of this.#base.entries()) {
      const slot = this.#changed.get(key);
      if (slot === DELETED) continue;
      yield [key, slot ?? value];
    }
    yield* this.#added;
  }

  /** entries() with each key's version. */
  *entriesVersioned(): Generator<[string, string, number], void, undefined> {
    for (const [key, value, version] of this.#base.entriesVersioned()) {
      const slot = this.#changed.get(key);
      if (slot === DELETED) continue;
      yield slot === undefined ? [key, value, version] : [key, slot, this.#versions.get(key) ?? 0];
    }
    for (const [key, value] of this.#added) yield [key, value, this.#versions.get(key) ?? 0];
  }

  /**
   * Writes the changes into the base and returns it: the live map once more. Costs
   * O(writes made during the capture), not O(map). Deleting first, then appending `added`,
   * reproduces plain-Map order: a re-inserted base key was deleted by its DELETED slot.
   */
  fold(): Base {
    const base = this.#base;
    for (const [key, slot] of this.#changed) {
      if (slot === DELETED) base.delete(key);
      else base.set(key, slot, this.#versions.get(key) ?? 0);
    }
    for (const [key, value] of this.#added) base.set(key, value, this.#versions.get(key) ?? 0);
    return base;
  }

  /**
   * fold() a slice at a time: moves at most `budget` overlay entries into the base and says
   * whether the overlay is now empty. The live view is the same before and after each move,
   * so reads and writes may go on through this capture between slices (a fold of a million
   * overlay entries at once held the loop for about a second). Only while nothing reads this
   * capture's base or view as a frozen state: the caller stops slicing when a newer capture
   * begins over it. Changed slots go first, so a base key deleted and set again has left its
   * base position before its new value is appended (plain-Map order, as in fold()).
   */
  foldSome(budget: number): boolean {
    const base = this.#base;
    let moved = 0;
    for (const [key, slot] of this.#changed) {
      if (moved >= budget) return false;
      if (slot === DELETED) base.delete(key);
      else {
        base.set(key, slot, this.#versions.get(key) ?? 0);
        this.#versions.delete(key); // a changed value's key is never in `added` as well
      }
      this.#changed.delete(key);
      moved++;
    }
    for (const [key, value] of this.#added) {
      if (moved >= budget) return false;
      base.set(key, value, this.#versions.get(key) ?? 0);
      this.#versions.delete(key);
      this.#added.delete(key);
      moved++;
    }
    return true;
  }

  /** True if `key` is in the base and has stayed in its base position throughout. */
  #isInBaseSlot(key: string): boolean {
    const slot = this.#changed.get(key);
    return slot === undefined ? this.#base.has(key) : slot !== DELETED;
  }
}
