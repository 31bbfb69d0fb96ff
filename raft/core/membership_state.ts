// ConfigHistory: which membership is in force at each point of the log. Thesis §4.1: a
// server uses the newest configuration in its log, committed or not; truncating the log
// reverts to the one before.

import { assert } from "./assert.ts";
import type { LogIndex, Member, Membership, NodeId } from "./types.ts";

interface ConfigAt {
  readonly index: LogIndex;
  readonly membership: Membership;
}

/** The empty membership of a node that has not joined a cluster yet. */
export const EMPTY_MEMBERSHIP: Membership = { members: [] };

/**
 * The base membership (as of the snapshot or compaction point) plus every config entry
 * after it. Invariant: change indexes strictly increase and are all > baseIndex.
 */
export class ConfigHistory {
  private base: ConfigAt;
  private changes: ConfigAt[] = [];
  #current: Membership;
  #currentIndex: LogIndex;
  #voters: readonly NodeId[] = [];
  #selfSeen = false;
  /** `self` is a member of `current` (kept by refresh: asked on every Ready and every status()). */
  #selfListed = false;
  private readonly self: NodeId | null;

  constructor(base: Membership, baseIndex: LogIndex, self: NodeId | null = null) {
    this.self = self;
    this.base = { index: baseIndex, membership: base };
    this.#current = base;
    this.#currentIndex = baseIndex;
    this.refresh();
  }

  /** The configuration in force: the newest one in the log. */
  get current(): Membership {
    return this.#current;
  }

  /** Index of the entry that carries `current` (or the base index). */
  get currentIndex(): LogIndex {
    return this.#currentIndex;
  }

  /** Voter ids of `current`, sorted. */
  get voters(): readonly NodeId[] {
    return this.#voters;
  }

  /**
   * True once any configuration this server held (as of its snapshot, in its log, or
   * since) included `self`. Sticky: a new server that is being added has never seen itself
   * and so is not "removed" while it waits for its first configuration.
   */
  get selfSeen(): boolean {
    return this.#selfSeen;
  }

  /** This server saw itself in a configuration and the one in force no longer lists it. */
  isSelfRemoved(): boolean {
    return this.#selfSeen && !this.#selfListed;
  }

  /** A config entry was appended at `index`. */
  push(index: LogIndex, membership: Membership): void {
    assert(index > this.currentIndex, `config: push at ${index} ≤ ${this.currentIndex}`);
    this.changes.push({ index, membership });
    this.refresh();
  }

  /** Entries ≥ `index` were truncated: forget the configs they carried. Returns true on change. */
  truncateFrom(index: LogIndex): boolean {
    const before = this.changes.length;
    while (this.changes.length > 0 && (this.changes[this.changes.length - 1] as ConfigAt).index >= index) {
      this.changes.pop();
    }
    if (this.changes.length === before) return false;
    this.refresh();
    return true;
  }

  /** The membership in force at `index` (for snapshot metadata). */
  at(index: LogIndex): Membership {
    let m = this.base.membership;
    for (const c of this.changes) {
      if (c.index > index) break;
      m = c.membership;
    }
    return m;
  }

  /** Folds changes up to `index` into the base (they are covered by a snapshot). */
  compactTo(index: LogIndex): void {
    if (index <= this.base.index) return;
    const m = this.at(index);
    let n = 0;
    while (n < this.changes.length && (this.changes[n] as ConfigAt).index <= index) n++;
    this.changes.splice(0, n);
    this.base = { index, membership: m };
  }

  /** Replaces everything by a snapshot's membership. */
  reset(membership: Membership, index: LogIndex): void {
    this.base = { index, membership };
    this.changes = [];
    this.refresh();
  }

  member(id: NodeId): Member | undefined {
    return this.current.members.find((m) => m.id === id);
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  private refresh(): void {
    const last = this.changes[this.changes.length - 1] ?? this.base;
    // Every configuration passes through here (push runs once per config entry), so one
    // that listed us only briefly, between two others in one append, still counts.
    if (this.self !== null && !this.#selfSeen) {
      this.#selfSeen = this.base.membership.members.some((m) => m.id === this.self) ||
        this.changes.some((c) => c.membership.members.some((m) => m.id === this.self));
    }
    this.#current = last.membership;
    this.#currentIndex = last.index;
    this.#selfListed = this.self !== null && last.membership.members.some((m) => m.id === this.self);
    this.#voters = last.membership.members.filter((m) => m.suffrage === "voter").map((m) => m.id);
  }
}
