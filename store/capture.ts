// Copy-on-write view of the key-value map while a snapshot is encoded in the background.
// Starting a capture is O(1): the map becomes a frozen `base` that the encoder walks at its own
// pace, and writes made meanwhile go to small side maps until `fold` merges them back. Captures
// stack: the base of a capture may be an older capture (a backup being streamed while the
// driver takes a snapshot), frozen in turn because writes now reach only the newest one.

import { PackedMap } from "./packed_map.ts";

/** What a capture is built over and folds into: a PackedMap, or an older Capture. */
export interface CaptureBase {
  readonly size: number;
  /** Work done so far by growth, rehash and compaction (PackedMap.work): what bounds a fold slice. */
  readonly work: number;
  get(key: string): string | undefined;
  has(key: string): boolean;
  /** The log index of the key's last write (0: unknown), or undefined if absent. */
  versionOf(key: string): number | undefined;
  set(key: string, value: string, version?: number): unknown;
  delete(key: string): boolean;
  entries(): Generator<[string, string], void, undefined>;
  entriesVersioned(): Generator<[string, string, number], void, undefined>;
}

/** The version that marks a key of `changed` as absent from the live view (versions are ≥ 0). */
const deletedVersion = -1;

/**
 * The live map as `base` plus the writes made since the capture began. The view behaves exactly
 * like a plain Map, insertion order included, so `entries()` and the snapshot bytes taken after
 * the fold do not depend on whether a capture happened to be running:
 * - `changed` holds base keys that are still in their base position: a new value (overwritten
 *   in place, as Map.set on a present key keeps its position), or deletedVersion once the key left.
 * - `added` holds keys inserted while absent, in insertion order (a plain Map appends them).
 *   A base key deleted and set again lives here, its base slot marked deleted, because a plain
 *   Map would have moved it to the end. One overlay map could not tell those two cases apart.
 * Both are PackedMaps, not JS Maps (issue 18): at ten million keys the overlay holds hundreds
 * of thousands of keys or more, and a JS Map rehashes all of them in the one set that grows
 * it (80-90 ms seen in a single apply slice) while every collection marks a string per key
 * and value. A PackedMap grows by bounded steps and holds no JS object per key.
 */
export class Capture<Base extends CaptureBase = CaptureBase> implements CaptureBase {
  readonly #base: Base;
  readonly #changed = new PackedMap();
  readonly #added = new PackedMap();
  #size: number;
  /** The overlay's size when the last foldSome slice ended (-1: no slice yet). */
  #unfoldedAfterSlice = -1;

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

  /** Overlay entries not yet folded into the base: what the fold still has to move. */
  get unfolded(): number {
    return this.#changed.size + this.#added.size;
  }

  /** The overlay's work counter (PackedMap.work): what a test bounds per operation. */
  get work(): number {
    return this.#changed.work + this.#added.work;
  }

  get(key: string): string | undefined {
    const added = this.#added.get(key);
    if (added !== undefined) return added;
    const version = this.#changed.versionOf(key);
    if (version === undefined) return this.#base.get(key);
    return version === deletedVersion ? undefined : this.#changed.get(key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  versionOf(key: string): number | undefined {
    const added = this.#added.versionOf(key);
    if (added !== undefined) return added;
    const version = this.#changed.versionOf(key);
    if (version === undefined) return this.#base.versionOf(key);
    return version === deletedVersion ? undefined : version;
  }

  set(key: string, value: string, version = 0): void {
    if (this.#added.has(key)) {
      this.#added.set(key, value, version);
      return;
    }
    if (this.#isInBaseSlot(key)) {
      this.#changed.set(key, value, version);
      return;
    }
    this.#added.set(key, value, version);
    this.#size++;
  }

  /** Removes `key` from the live view; false if it was not there. */
  delete(key: string): boolean {
    if (this.#added.delete(key)) {
      this.#size--;
      return true;
    }
    if (!this.#isInBaseSlot(key)) return false;
    this.#changed.set(key, "", deletedVersion);
    this.#size--;
    return true;
  }

  /** The live view in plain-Map order: surviving base keys in base order, then `added`. */
  *entries(): Generator<[string, string], void, undefined> {
    for (const [key, value] of this.entriesVersioned()) yield [key, value];
  }

  /** entries() with each key's version. */
  *entriesVersioned(): Generator<[string, string, number], void, undefined> {
    const changed = this.#changed;
    for (const entry of this.#base.entriesVersioned()) {
      const version = changed.size === 0 ? undefined : changed.versionOf(entry[0]);
      if (version === undefined) yield entry;
      else if (version !== deletedVersion) yield [entry[0], changed.get(entry[0])!, version];
    }
    yield* this.#added.entriesVersioned();
  }

  /**
   * Writes the changes into the base and returns it: the live map once more. Costs
   * O(writes made during the capture), not O(map). Deleting first, then appending `added`,
   * reproduces plain-Map order: a re-inserted base key was deleted by its deleted mark.
   */
  fold(): Base {
    const base = this.#base;
    for (const [key, value, version] of this.#changed.entriesVersioned()) {
      if (version === deletedVersion) base.delete(key);
      else base.set(key, value, version);
    }
    for (const [key, value, version] of this.#added.entriesVersioned()) base.set(key, value, version);
    return base;
  }

  /**
   * fold() a slice at a time: first as many overlay entries as the overlay gained since the
   * previous slice, then at most `budget` more, stopping early once the base has done
   * `workBudget` (its `work`: a rehash moving slots, a compaction copying) in that second part;
   * says whether the overlay is now empty. The first part is what makes the fold end however
   * fast writes come: the overlay never grows from one slice to the next, and each slice takes
   * it down by at least one entry. That part costs what the writes it matches would have cost
   * written straight to the map (a heavy load of new keys outran slices bounded by work alone,
   * and a snapshot captured early in a 10 M-key load ended only after the load: issue 18).
   * The live view is the same before and after each move, so reads and writes may go on
   * through this capture between slices (a fold of a million overlay entries at once held the
   * loop for about a second). Only while nothing reads this capture's base or view as a frozen
   * state: the caller stops slicing when a newer capture begins over it. Changed slots go
   * first, so a base key deleted and set again has left its base position before its new value
   * is appended (plain-Map order, as in fold()).
   */
  foldSome(budget: number, workBudget = Infinity): boolean {
    const base = this.#base;
    // The first slice matches nothing: the overlay then holds what the encoding let through.
    const gained = this.#unfoldedAfterSlice < 0 ? 0 : Math.max(0, this.unfolded - this.#unfoldedAfterSlice);
    let done = false;
    for (let moved = 0; moved < gained && !done; moved++) done = this.#moveOne();
    const workEnd = base.work + workBudget;
    for (let moved = 0; moved < budget && base.work < workEnd && !done; moved++) done = this.#moveOne();
    this.#unfoldedAfterSlice = this.unfolded;
    return this.unfolded === 0;
  }

  /** Moves the overlay's next entry into the base; true if there was none left. */
  #moveOne(): boolean {
    const base = this.#base;
    const changed = this.#changed.shift();
    if (changed !== undefined) {
      if (changed[2] === deletedVersion) base.delete(changed[0]);
      else base.set(changed[0], changed[1], changed[2]);
      return false;
    }
    const added = this.#added.shift();
    if (added === undefined) return true;
    base.set(added[0], added[1], added[2]);
    return false;
  }

  /** True if `key` is in the base and has stayed in its base position throughout. */
  #isInBaseSlot(key: string): boolean {
    const version = this.#changed.versionOf(key);
    return version === undefined ? this.#base.has(key) : version !== deletedVersion;
  }
}
