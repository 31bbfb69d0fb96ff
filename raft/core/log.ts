// RaftLog: the entries kept in memory since the compaction point, plus the indexes that
// describe them (commit, applied, handed-out, persisted) and the §5.3 append/truncate rules.

import { assert } from "./assert.ts";
import type { Entry, LogIndex, Term } from "./types.ts";

/** Rough per-entry overhead in bytes (index, term, kind, framing) for batching limits. */
const ENTRY_OVERHEAD_BYTES = 24;

/** Approximate encoded size of an entry, used for appendBytesMax and uncommittedBytesMax. */
export function entryBytes(e: Entry): number {
  const members = e.membership === undefined ? 0 : e.membership.members.length * 64;
  return e.data.length + ENTRY_OVERHEAD_BYTES + members;
}

/**
 * The in-memory log. Entries [firstIndex, lastIndex] are held; the term of firstIndex-1 is
 * remembered (it is the snapshot's or a compacted entry's) so consistency checks still work.
 * Invariants: indexes contiguous; terms non-decreasing; lastApplied ≤ handedOut ≤ commitIndex
 * ≤ lastIndex; unstableFrom ≤ persistedIndex + 1.
 */
export class RaftLog {
  /** Live entries are ents[start..]; the prefix is dropped lazily so compaction is amortized O(1). */
  private ents: Entry[] = [];
  private start = 0;
  /** Index of the first held entry (lastIndex + 1 when empty). */
  firstIndex: LogIndex;
  /** Term of the entry at firstIndex - 1 (the snapshot's last term, or 0). */
  prevTerm: Term;
  /** Highest index known committed (§5.3). Never decreases. */
  commitIndex: LogIndex;
  /** Highest index the driver has applied (confirmed by advance()). */
  lastApplied: LogIndex;
  /** Highest index handed out in Ready.committed (applied once advance() runs). */
  handedOut: LogIndex;
  /** First index not yet handed out in Ready.entries. */
  unstableFrom: LogIndex;
  /** Highest index known durable on local storage and equal to our log there. */
  persistedIndex: LogIndex;

  constructor(prevIndex: LogIndex, prevTerm: Term) {
    this.firstIndex = prevIndex + 1;
    this.prevTerm = prevTerm;
    this.commitIndex = prevIndex;
    this.lastApplied = prevIndex;
    this.handedOut = prevIndex;
    this.unstableFrom = prevIndex + 1;
    this.persistedIndex = prevIndex;
  }

  /** Number of held entries. */
  get length(): number {
    return this.ents.length - this.start;
  }

  lastIndex(): LogIndex {
    return this.firstIndex + this.length - 1;
  }

  lastTerm(): Term {
    const n = this.ents.length;
    return n > this.start ? (this.ents[n - 1] as Entry).term : this.prevTerm;
  }

  /** Term of the entry at `index`, or undefined if it is compacted away or beyond the end. */
  term(index: LogIndex): Term | undefined {
    if (index === this.firstIndex - 1) return this.prevTerm;
    if (index < this.firstIndex || index > this.lastIndex()) return undefined;
    return (this.ents[this.start + index - this.firstIndex] as Entry).term;
  }

  /** The entry at `index`; the caller guarantees firstIndex ≤ index ≤ lastIndex. */
  entry(index: LogIndex): Entry {
    const e = this.ents[this.start + index - this.firstIndex];
    // The message only when it fails: a template literal is built (and its numbers formatted)
    // before the call, on every entry read or appended.
    if (e === undefined || e.index !== index) assert(false, `log: no entry at ${index}`);
    return e;
  }

  /**
   * Entries [lo, hi] (clamped to the held range), cut after `bytesMax` bytes but always at
   * least one entry, so progress is made even for an oversized entry.
   */
  slice(lo: LogIndex, hi: LogIndex, bytesMax: number): Entry[] {
    const from = Math.max(lo, this.firstIndex);
    const to = Math.min(hi, this.lastIndex());
    if (from > to) return [];
    const base = this.start - this.firstIndex;
    let end = from;
    let bytes = 0;
    while (end <= to) {
      bytes += entryBytes(this.ents[base + end] as Entry);
      if (bytes > bytesMax && end > from) break;
      end++;
    }
    return this.ents.slice(base + from, base + end);
  }

  /** Appends entries that continue the log exactly (index lastIndex + 1 onward). */
  append(entries: readonly Entry[]): void {
    let next = this.lastIndex() + 1;
    for (const e of entries) {
      if (e.index !== next) assert(false, `log: append at ${e.index}, expected ${next}`);
      this.ents.push(e);
      next++;
    }
  }

  /** Removes every entry with index ≥ `index` (a real conflict, §5.3). Never below commit. */
  truncateFrom(index: LogIndex): void {
    assert(index > this.commitIndex, `log: truncate at ${index} ≤ commitIndex ${this.commitIndex}`);
    if (index > this.lastIndex()) return;
    this.ents.length = this.start + Math.max(0, index - this.firstIndex);
    this.unstableFrom = Math.min(this.unstableFrom, index);
    this.persistedIndex = Math.min(this.persistedIndex, index - 1);
  }

  /**
   * §5.3 receiver rule: entries that already match are skipped; at the first entry whose term
   * differs, the log is truncated there and the rest appended. A stale or duplicate message
   * (all entries match) changes nothing. Returns the first index written, or 0.
   */
  appendFromLeader(entries: readonly Entry[]): LogIndex {
    if (entries.length === 0) return 0;
    const lastNew = entries[entries.length - 1] as Entry;
    // Log Matching: if the last entry matches, all earlier ones do too.
    if (this.term(lastNew.index) === lastNew.term) return 0;
    const last = this.lastIndex();
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry;
      if (e.index <= last && this.term(e.index) === e.term) continue;
      if (e.index < this.firstIndex) continue; // below compaction: committed, hence matching
      if (e.index <= last) this.truncateFrom(e.index);
      this.append(i === 0 ? entries : entries.slice(i));
      return e.index;
    }
    return 0;
  }

  /** Drops held entries below `index` (they are covered by a snapshot). */
  compactBefore(index: LogIndex): void {
    if (index <= this.firstIndex) return;
    assert(index <= this.lastIndex() + 1, `log: compact to ${index} beyond the end`);
    this.prevTerm = this.term(index - 1) as Term;
    this.start += index - this.firstIndex;
    this.firstIndex = index;
    // Reclaim the dropped prefix once it dominates the array (amortized O(1) per entry).
    if (this.start > 1024 && this.start * 2 > this.ents.length) {
      this.ents = this.ents.slice(this.start);
      this.start = 0;
    }
  }

  /** Replaces the whole log by an installed snapshot ending at (index, term). */
  resetToSnapshot(index: LogIndex, term: Term): void {
    this.ents = [];
    this.start = 0;
    this.firstIndex = index + 1;
    this.prevTerm = term;
    this.commitIndex = Math.max(this.commitIndex, index);
    this.handedOut = Math.max(this.handedOut, index);
    this.unstableFrom = index + 1;
    this.persistedIndex = Math.min(this.persistedIndex, index);
  }

  /** §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up-to-date as ours? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * First held index whose term is ≥ `term`, searching [firstIndex, upTo] by bisection
   * (terms are non-decreasing). Returns upTo + 1 if none.
   */
  firstIndexAtOrAfterTerm(term: Term, upTo: LogIndex): LogIndex {
    let lo = this.firstIndex;
    let hi = Math.min(upTo, this.lastIndex()) + 1;
    while (lo < hi) {
      const mid = lo + ((hi - lo) >> 1);
      if ((this.term(mid) as Term) >= term) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Last index ≤ upTo whose term is ≤ `term`, or firstIndex - 1 if none is held. */
  lastIndexAtOrBeforeTerm(term: Term, upTo: LogIndex): LogIndex {
    let lo = this.firstIndex - 1;
    let hi = Math.min(upTo, this.lastIndex());
    while (lo < hi) {
      const mid = hi - ((hi - lo) >> 1);
      if ((this.term(mid) as Term) <= term) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Entries not yet handed out in a Ready (they must be persisted). */
  unstable(): Entry[] {
    const from = Math.max(this.unstableFrom, this.firstIndex);
    return this.ents.slice(this.start + from - this.firstIndex);
  }

  /** Held entries as a fresh array (for checkers; O(length)). */
  all(): Entry[] {
    return this.ents.slice(this.start);
  }
}
