// Deadlines of expiring keys (issue 16, POST /key?ttl=): which keys expire, and when, in log
// time (ms, the clock of store/sessions.ts: the largest leader stamp applied). The deadlines are
// replicated state: they change only by applying the log, travel in snapshots, and decide
// deterministically whether an expiry entry deletes a key and whether a condition sees it.
//
// Two structures, neither holding a JS object per key (store/packed_map.ts's header says why):
// - `deadlines`: a PackedMap from key to "" whose version slot holds the deadline.
// - `reminders`: a binary min-heap of (deadline, key) in typed arrays, the keys' characters in
//   an arena of their own. It only says where to look: the leader pops the reminders that are
//   due to find keys to expire (store/expiry_loop.ts). A reminder may be stale (the key was
//   refreshed, rewritten without a TTL or deleted since): when popped, the key's deadline is
//   looked up and the reminder dropped, or pushed again at the key's later deadline. So a
//   refresh that extends a deadline pushes nothing; only a key that had none, or a shorter
//   deadline, is pushed. Every replica keeps reminders alike (derived from the applied log), so
//   a follower that becomes the leader has them; pruning is done on every replica when an
//   expiry applies, so stale reminders do not pile up on followers.

import { Capture } from "./capture.ts";
import { PackedMap } from "./packed_map.ts";

/** A key due to expire, with the version it had when found due. */
export type DueKey = readonly [key: string, version: number];

export class ExpiryTable {
  /**
   * The deadlines: a PackedMap, or while a snapshot encodes them (beginSnapshot), a
   * copy-on-write Capture over it that takes the changes meanwhile.
   */
  #deadlines: PackedMap | Capture<PackedMap> = new PackedMap();
  readonly #reminders = new ReminderHeap();

  /** Keys with a deadline. */
  get size(): number {
    return this.#deadlines.size;
  }

  /**
   * The deadlines as of now, frozen for a snapshot that encodes them a slice at a time while
   * applies go on (store/capture.ts): O(1). `end` folds the changes made meanwhile back (they
   * are few: the writes with a TTL or to such keys during the snapshot). One at a time.
   */
  beginSnapshot(): { readonly size: number; entries(): Generator<[string, number], void, undefined>; end(): void } {
    if (this.#deadlines instanceof Capture) throw new Error("ExpiryTable: a snapshot of the deadlines is already running");
    const capture = new Capture(this.#deadlines);
    this.#deadlines = capture;
    const base = capture.base;
    return {
      size: base.size,
      entries: function* () {
        for (const [key, , deadline] of base.entriesVersioned()) yield [key, deadline];
      },
      end: () => {
        if (this.#deadlines === capture) this.#deadlines = capture.fold();
      },
    };
  }

  /** Reminders held (stale ones included): for tests of the bound. */
  get reminders(): number {
    return this.#reminders.size;
  }

  /** The deadline of `key` (log-time ms), or undefined if it has none. O(1) when no key has one. */
  deadlineOf(key: string): number | undefined {
    return this.#deadlines.size === 0 ? undefined : this.#deadlines.versionOf(key);
  }

  /** Sets the deadline of `key` (a set with a TTL). */
  set(key: string, deadline: number): void {
    const old = this.#deadlines.versionOf(key);
    this.#deadlines.set(key, "", deadline);
    // An existing reminder at or before the new deadline will find it when popped.
    if (old === undefined || deadline < old) this.#reminders.push(deadline, key);
  }

  /** Drops the deadline of `key` (a write without a TTL, a delete, an expiry). */
  clear(key: string): void {
    if (this.#deadlines.size !== 0) this.#deadlines.delete(key);
  }

  /** The earliest reminder's time (maybe stale), or undefined when none is held. */
  nextReminder(): number | undefined {
    return this.#reminders.size === 0 ? undefined : this.#reminders.peekDeadline();
  }

  /**
   * Up to `max` keys whose deadline is at most `now`, each with its version by `versionOf`
   * (absent keys are skipped), earliest first, and at most `charsMax` characters of keys. Their
   * reminders stay: a key is forgotten only once its expiry applies (or something else clears
   * its deadline), so an expiry that never commits is found again. Stale reminders met on the
   * way are dropped or moved to the key's later deadline.
   */
  collectDue(now: number, max: number, charsMax: number, versionOf: (key: string) => number | undefined): DueKey[] {
    const due: DueKey[] = [];
    const keep: Array<readonly [number, string]> = [];
    let chars = 0;
    const seen = new Set<string>();
    while (due.length < max && chars < charsMax && this.#reminders.size > 0 && this.#reminders.peekDeadline() <= now) {
      const [at, key] = this.#reminders.pop();
      const deadline = this.#deadlines.versionOf(key);
      if (deadline === undefined) continue; // rewritten without a TTL, deleted or expired
      if (deadline > now) {
        this.#reminders.push(deadline, key);
        continue;
      }
      keep.push([at, key]);
      if (seen.has(key)) continue;
      seen.add(key);
      const version = versionOf(key);
      if (version === undefined) continue;
      due.push([key, version]);
      chars += key.length;
    }
    for (const [at, key] of keep) this.#reminders.push(at, key);
    return due;
  }

  /**
   * Drops or moves stale reminders due by `now` (log time), stopping at the first that still
   * names a key due then. Every replica runs it when an expiry applies: without it a
   * follower, which never collects, would keep a reminder for every key that ever expired.
   */
  prune(now: number): void {
    while (this.#reminders.size > 0 && this.#reminders.peekDeadline() <= now) {
      const key = this.#reminders.pop()[1];
      const deadline = this.#deadlines.versionOf(key);
      if (deadline === undefined) continue;
      this.#reminders.push(deadline, key);
      if (deadline <= now) return;
    }
  }

  /** Every key with its deadline, in the order they were first given one (snapshots). */
  *entries(): Generator<[string, number], void, undefined> {
    for (const [key, , deadline] of this.#deadlines.entriesVersioned()) yield [key, deadline];
  }

  /** Replaces everything with `entries` (a snapshot's or a backup's), rebuilding the reminders; ends a snapshot's capture. */
  load(entries: Iterable<readonly [string, number]>): void {
    this.#deadlines = new PackedMap();
    this.#reminders.clear();
    for (const [key, deadline] of entries) this.set(key, deadline);
  }
}

/** Arena characters past which the dead ones are compacted away (when they are the majority). */
const arenaCompactMin = 1 << 16;

/**
 * A min-heap of (deadline, key) in typed arrays. Keys are runs of UTF-16 code units in an
 * append-only arena; a popped key's run is dead until the arena is compacted (when more than
 * half of it is dead), so the arena holds at most about twice the live keys' characters.
 */
class ReminderHeap {
  #deadline = new Float64Array(64);
  #start = new Uint32Array(64);
  #length = new Uint32Array(64);
  #size = 0;
  #chars = new Uint16Array(1024);
  #charsUsed = 0;
  #charsDead = 0;

  get size(): number {
    return this.#size;
  }

  clear(): void {
    this.#size = 0;
    this.#charsUsed = 0;
    this.#charsDead = 0;
  }

  peekDeadline(): number {
    return this.#deadline[0]!;
  }

  push(deadline: number, key: string): void {
    if (this.#size === this.#deadline.length) this.#growEntries();
    const start = this.#append(key);
    let i = this.#size++;
    // Sift up: move parents down until the slot for the new reminder is found.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#deadline[parent]! <= deadline) break;
      this.#move(parent, i);
      i = parent;
    }
    this.#deadline[i] = deadline;
    this.#start[i] = start;
    this.#length[i] = key.length;
  }

  /** Removes and returns the earliest reminder. The heap must not be empty. */
  pop(): [number, string] {
    const deadline = this.#deadline[0]!;
    const key = this.#decode(this.#start[0]!, this.#length[0]!);
    this.#charsDead += this.#length[0]!;
    const last = --this.#size;
    if (last > 0) {
      const d = this.#deadline[last]!;
      const s = this.#start[last]!;
      const l = this.#length[last]!;
      let i = 0;
      // Sift down the last reminder from the root.
      for (;;) {
        const left = 2 * i + 1;
        if (left >= last) break;
        const right = left + 1;
        const child = right < last && this.#deadline[right]! < this.#deadline[left]! ? right : left;
        if (this.#deadline[child]! >= d) break;
        this.#move(child, i);
        i = child;
      }
      this.#deadline[i] = d;
      this.#start[i] = s;
      this.#length[i] = l;
    }
    if (this.#size === 0) this.clear();
    else if (this.#charsDead > arenaCompactMin && this.#charsDead * 2 > this.#charsUsed) this.#compact();
    return [deadline, key];
  }

  #move(from: number, to: number): void {
    this.#deadline[to] = this.#deadline[from]!;
    this.#start[to] = this.#start[from]!;
    this.#length[to] = this.#length[from]!;
  }

  #append(key: string): number {
    const start = this.#charsUsed;
    if (start + key.length > this.#chars.length) {
      const grown = new Uint16Array(Math.max(this.#chars.length * 2, start + key.length));
      grown.set(this.#chars.subarray(0, start));
      this.#chars = grown;
    }
    for (let i = 0; i < key.length; i++) this.#chars[start + i] = key.charCodeAt(i);
    this.#charsUsed += key.length;
    return start;
  }

  #decode(start: number, length: number): string {
    let s = "";
    for (let at = start; at < start + length; at += 8192) {
      s += String.fromCharCode(...this.#chars.subarray(at, Math.min(at + 8192, start + length)));
    }
    return s;
  }

  #growEntries(): void {
    const n = this.#deadline.length * 2;
    const deadline = new Float64Array(n);
    const start = new Uint32Array(n);
    const length = new Uint32Array(n);
    deadline.set(this.#deadline);
    start.set(this.#start);
    length.set(this.#length);
    this.#deadline = deadline;
    this.#start = start;
    this.#length = length;
  }

  /** Copies the live keys' runs into a new arena, in heap order (the heap's shape is unchanged). */
  #compact(): void {
    const live = this.#charsUsed - this.#charsDead;
    const chars = new Uint16Array(Math.max(1024, live * 2));
    let at = 0;
    for (let i = 0; i < this.#size; i++) {
      const s = this.#start[i]!;
      const l = this.#length[i]!;
      chars.set(this.#chars.subarray(s, s + l), at);
      this.#start[i] = at;
      at += l;
    }
    this.#chars = chars;
    this.#charsUsed = at;
    this.#charsDead = 0;
  }
}
