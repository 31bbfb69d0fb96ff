// Per-follower replication progress on the leader (§5.3 nextIndex/matchIndex), as a small
// state machine: probe (one append at a time), replicate (pipelined), snapshot (sending one).

import type { LogIndex } from "./types.ts";

export type ProgressState = "probe" | "replicate" | "snapshot";

/**
 * Bytes of entries a leader keeps in flight to one follower in replicate state (one append at
 * least, whatever its size), besides the window of inflightMessagesMax appends. A follower
 * that just installed a snapshot is owed everything logged since (~16 MB at ten million keys,
 * issue 18): within the window alone, all of it was encoded and sent in one driver turn (123
 * ms, 37 ms of CPU), and the follower took it in one Ready. A write load keeps far less in
 * flight (a closed loop of clients at most their count times a value's size: 1 MiB for 16
 * writing 64 KiB values), so this bounds only a catch-up, to a round trip per 2 MiB.
 */
export const inflightBytesMax = 2 * 1024 * 1024;

/**
 * What the leader knows about one follower. Every state transition is a method here.
 * Invariants: matchIndex never decreases; matchIndex < nextIndex in "replicate" state (a
 * probe resending to a follower whose log ended below matchIndex, or the snapshot such a
 * probe turned into, may start at or below it: see resendFrom); in "snapshot" state
 * pendingSnapshot > 0.
 */
export class Progress {
  matchIndex: LogIndex = 0;
  nextIndex: LogIndex;
  state: ProgressState = "probe";
  /** In probe state: an append is outstanding; cleared by a reply or a heartbeat. */
  probeSent = false;
  /** Snapshot being sent (its lastIncludedIndex) and the next byte offset to send. */
  pendingSnapshot: LogIndex = 0;
  snapshotOffset = 0;
  /** In snapshot state: a chunk is outstanding; cleared by its reply or a heartbeat. */
  chunkSent = false;
  /** Heard from this follower since the last CheckQuorum round (§6.2). */
  recentActive = false;
  /** Highest commit index this follower was told (and can apply given what it was sent). */
  commitSent: LogIndex = 0;
  /** matchIndex at the previous heartbeat and heartbeats since without progress (stall check). */
  matchAtHeartbeat: LogIndex = 0;
  stalledHeartbeats = 0;
  /** Highest ReadIndex round this follower acknowledged (§6.4). */
  readAck = 0;
  /** Last index of each pipelined append in flight, oldest first (bounded window). */
  private inflight: LogIndex[] = [];
  /** Bytes of entries of each append in `inflight`, and their sum (see inflightBytesMax). */
  private inflightSizes: number[] = [];
  private inflightBytes = 0;
  private readonly inflightMax: number;

  constructor(nextIndex: LogIndex, inflightMax: number) {
    this.nextIndex = nextIndex;
    this.inflightMax = inflightMax;
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot; probe right after it.
    const next =
      this.state === "snapshot" ? Math.max(this.matchIndex, this.pendingSnapshot) + 1 : this.matchIndex + 1;
    this.resetState("probe");
    this.nextIndex = next;
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.nextIndex = this.matchIndex + 1;
  }

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotOffset = 0;
    this.chunkSent = false;
    this.inflight.length = 0;
    this.inflightSizes.length = 0;
    this.inflightBytes = 0;
  }

  /** A successful reply acknowledged entries up to `index`. Returns true if matchIndex grew. */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (this.matchIndex < index) {
      this.matchIndex = index;
      updated = true;
      this.probeSent = false;
    }
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    this.freeUpTo(index);
    return updated;
  }

  /**
   * A rejection of an append whose prevLogIndex was `rejected`; `hintNext` is where the
   * conflict hint says to probe (§5.3 optimization). Returns false for a stale rejection,
   * which must be ignored.
   */
  maybeDecrTo(rejected: LogIndex, hintNext: LogIndex): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.matchIndex) return false;
      this.becomeProbe();
      this.nextIndex = Math.max(this.matchIndex + 1, Math.min(rejected, hintNext));
      return true;
    }
    if (this.state === "snapshot") return false;
    if (rejected !== this.nextIndex - 1) return false;
    this.nextIndex = Math.max(this.matchIndex + 1, Math.min(rejected, hintNext));
    this.probeSent = false;
    return true;
  }

  /**
   * A rejection says the follower's log ends at `followerLastIndex`, below what it
   * acknowledged. Either the rejection is old (sent before the acknowledgement, then delayed
   * or duplicated by the network) or the follower lost entries (restarted with -inmem).
   * Nothing in the reply tells the two apart, so: resend from the follower's end, which
   * repairs a real loss and costs a few duplicate entries otherwise, and keep matchIndex,
   * which only ever grows (Figure 2): a late rejection must not undo an acknowledgement.
   * Until the follower acknowledges past matchIndex again, nextIndex may be ≤ matchIndex.
   */
  resendFrom(followerLastIndex: LogIndex): void {
    this.resetState("probe");
    this.nextIndex = followerLastIndex + 1;
  }

  /** An append carrying entries up to `lastIndex`, `bytes` of them, was sent. */
  sentEntries(lastIndex: LogIndex, bytes = 0): void {
    if (this.state === "replicate") {
      this.nextIndex = lastIndex + 1;
      this.inflight.push(lastIndex);
      this.inflightSizes.push(bytes);
      this.inflightBytes += bytes;
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /** Forget in-flight appends acknowledged up to `index`. */
  private freeUpTo(index: LogIndex): void {
    let n = 0;
    while (n < this.inflight.length && (this.inflight[n] as LogIndex) <= index) n++;
    if (n === 0) return;
    this.inflight.splice(0, n);
    for (const bytes of this.inflightSizes.splice(0, n)) this.inflightBytes -= bytes;
  }

  inflightCount(): number {
    return this.inflight.length;
  }

  /** A heartbeat reply: let a stalled probe or snapshot chunk be sent again. */
  onHeartbeat(): void {
    this.probeSent = false;
    this.chunkSent = false;
  }

  /** True if the leader should not send more appends now (flow control). */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflight.length >= this.inflightMax || this.inflightBytes >= inflightBytesMax;
      case "snapshot":
        return true;
    }
  }
}
