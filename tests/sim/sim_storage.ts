// Durable storage of one simulated node: hard state, log entries and snapshot. It is the only
// thing that survives a crash; a Ready whose persistence had not completed is lost with it.

import type { Entry, HardState, InitialState, Membership, Snapshot } from "../../raft/core/mod.ts";
import { deepCopy } from "./sim_network.ts";

/** What a simulated node has made durable. Invariant: entries are contiguous and all above the snapshot. */
export class SimStorage {
  hardState: HardState = { currentTerm: 0, votedFor: null };
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  /** Durable writes completed (for tests that count fsyncs). */
  syncCount = 0;

  /** Index of the last durable entry (or of the snapshot when the log above it is empty). */
  lastIndex(): number {
    const last = this.entries[this.entries.length - 1];
    return last !== undefined ? last.index : (this.snapshot?.meta.lastIncludedIndex ?? 0);
  }

  /** Term of the entry at `index`, or null if neither the log nor the snapshot knows it. */
  termAt(index: number): number | null {
    if (index === 0) return 0;
    const snap = this.snapshot?.meta;
    if (snap !== undefined && index === snap.lastIncludedIndex) return snap.lastIncludedTerm;
    const first = this.entries[0];
    if (first === undefined || index < first.index) return null;
    return this.entries[index - first.index]?.term ?? null;
  }

  /** Installs a snapshot: entries it covers go; the rest stay only if the log agrees at its last index (§7). */
  installSnapshot(snapshot: Snapshot): void {
    const { lastIncludedIndex, lastIncludedTerm } = snapshot.meta;
    const current = this.snapshot?.meta.lastIncludedIndex ?? 0;
    if (lastIncludedIndex < current) {
      throw new Error(`asked to persist snapshot at ${lastIncludedIndex} below the durable one at ${current}`);
    }
    const agrees = this.termAt(lastIncludedIndex) === lastIncludedTerm;
    this.snapshot = deepCopy(snapshot);
    this.entries = agrees ? this.entries.filter((e) => e.index > lastIncludedIndex) : [];
  }

  /** Appends `entries`, first truncating every stored entry at or above entries[0].index. */
  appendEntries(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const expected = this.lastIndex() + 1;
    if (first.index > expected) throw new Error(`gap in persisted log: have up to ${expected - 1}, got ${first.index}`);
    const floor = this.snapshot?.meta.lastIncludedIndex ?? 0;
    if (first.index <= floor) throw new Error(`asked to persist entry ${first.index} at or below snapshot ${floor}`);
    this.entries = this.entries.filter((e) => e.index < first.index);
    for (const [i, e] of entries.entries()) {
      if (e.index !== first.index + i) throw new Error(`non-contiguous entries in a Ready at ${e.index}`);
      this.entries.push(deepCopy(e));
    }
  }

  /** Builds what the node starts from after a (re)start. */
  initialState(bootstrap: Membership | null): InitialState {
    const empty = this.entries.length === 0 && this.snapshot === null;
    return {
      hardState: { ...this.hardState },
      snapshot: deepCopy(this.snapshot),
      entries: deepCopy(this.entries),
      bootstrap: empty ? bootstrap : null,
    };
  }
}
