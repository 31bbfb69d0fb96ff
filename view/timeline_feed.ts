// Turns the driver's events into timeline events (view/timeline.ts). It sees what the
// election and membership log lines see (open_node.ts feeds both from the same events), so an
// election is recorded once per outcome, not once per role change.
//
// An election's duration is how long this node knew no leader, on its own monotonic clock:
// from the moment it lost its leader (or, for its first leader, started) to the moment it
// learned the next one. A node that learns a new leader without having been without one (a
// higher term arrived with the leader's first append), or learns its first leader without
// having campaigned (it joined a cluster that already had one), records a leader change with
// no duration: it cannot say how long that election took.

import type { SnapshotMeta, SoftState } from "../raft/core/mod.ts";
import type { Clock } from "../raft/host.ts";
import type { Timeline, TimelineKind } from "./timeline.ts";

export interface TimelineFeedOptions {
  readonly id: string;
  /** Monotonic ms: durations. */
  readonly clock: Clock;
  /** Wall-clock ms since the epoch: when each event happened, comparable across nodes. */
  readonly wallClock: Clock;
}

export class TimelineFeed {
  readonly #timeline: Timeline;
  readonly #options: TimelineFeedOptions;
  #last: SoftState | null = null;
  /** The (leader, term) last recorded, as "leader@term". */
  #recorded: string | null = null;
  /** Monotonic ms since which no leader was known (after having one), or null. */
  #leaderlessSince: number | null = null;
  /** When the feed began: the start of this node's first time without a leader. */
  readonly #openedAt: number;
  /** This node campaigned (PreVote or vote) since the last leader it learned. */
  #hasCampaigned = false;

  constructor(timeline: Timeline, options: TimelineFeedOptions) {
    this.#timeline = timeline;
    this.#options = options;
    this.#openedAt = options.clock.now();
  }

  softState(s: SoftState): void {
    const last = this.#last;
    this.#last = s;
    const now = this.#options.clock.now();
    if (last?.role === "leader" && s.role !== "leader") {
      this.#add("stepDown", this.#options.id, s.term, `${this.#options.id} stepped down in term ${last.term}; now ${s.role} in term ${s.term}`, null);
    }
    if (s.role === "precandidate" || s.role === "candidate") this.#hasCampaigned = true;
    if (s.leader === null) {
      if (this.#recorded !== null) this.#leaderlessSince ??= now;
      return;
    }
    const election = `${s.leader}@${s.term}`;
    if (election === this.#recorded) return;
    const previous = this.#recorded === null ? null : this.#recorded.slice(0, this.#recorded.lastIndexOf("@"));
    this.#recorded = election;
    const since = this.#leaderlessSince ?? (this.#hasCampaigned || s.leader === this.#options.id ? this.#openedAt : null);
    this.#leaderlessSince = null;
    this.#hasCampaigned = false;
    if (since !== null) {
      const ms = Math.max(0, Math.round(now - since));
      this.#add("election", s.leader, s.term, `${s.leader} elected in term ${s.term} after ${ms} ms`, ms);
    } else {
      const was = previous === null ? "" : ` (was ${previous})`;
      const what = previous === null ? `leader is ${s.leader} in term ${s.term}` : `leader now ${s.leader} in term ${s.term}${was}`;
      this.#add("leaderChange", s.leader, s.term, what, null);
    }
  }

  /** A new configuration is in force (membership_log.ts says when it really changed). */
  membership(text: string): void {
    this.#add("membership", this.#options.id, this.#term(), `members now ${text}`, null);
  }

  /** This node wrote a snapshot of its own state, in `ms`. */
  snapshotTaken(meta: SnapshotMeta, bytes: number, ms: number): void {
    this.#add(
      "snapshotTaken",
      this.#options.id,
      meta.lastIncludedTerm,
      `${this.#options.id} took a snapshot up to index ${meta.lastIncludedIndex} (${bytes} bytes)`,
      Math.round(ms),
    );
  }

  /** This node installed a snapshot sent by its leader. */
  snapshotInstalled(meta: SnapshotMeta): void {
    this.#add("snapshotInstalled", this.#options.id, meta.lastIncludedTerm, `${this.#options.id} installed the leader's snapshot up to index ${meta.lastIncludedIndex}`, null);
  }

  #term(): number {
    return this.#last?.term ?? 0;
  }

  #add(kind: TimelineKind, node: string, term: number, detail: string, durationMs: number | null): void {
    this.#timeline.add({ at: Math.round(this.#options.wallClock.now()), kind, node, term, detail, durationMs });
  }
}
