// What a leader knows of each follower, for the cluster view: the highest index it acknowledged
// (its match index as the replies carry it) and when the leader last heard from it. Read off
// the Raft messages the node receives anyway, and only while someone looks: the tracker is
// armed by a probe (view/probe_message.ts) and disarms itself once no probe came for a while,
// so a node nobody watches pays one boolean test per received message.
//
// The core's own progress is not read: the store and the view reach Raft only through the
// driver's methods (ARCHITECTURE "What each part must never do"). A reply's matchIndex is what
// the core adds to its progress too; the highest of the leader's current term is kept.

import type { Message } from "../raft/core/mod.ts";
import type { Clock, Timers } from "../raft/host.ts";
import type { FollowerProgress } from "./probe_message.ts";

/** How long after the last probe the tracker keeps watching messages. */
export const trackAfterProbeMs = 10_000;

export class FollowerTracker {
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #keepMs: number;
  /** Read by the transport's callback before each call of received(): false costs nothing more. */
  isArmed = false;
  #lastProbe = 0;
  #timer: unknown = null;
  #term = 0;
  readonly #match = new Map<string, number>();
  readonly #heard = new Map<string, number>();

  constructor(clock: Clock, timers: Timers, keepMs = trackAfterProbeMs) {
    this.#clock = clock;
    this.#timers = timers;
    this.#keepMs = keepMs;
  }

  /** A probe arrived: track (or go on tracking) for keepMs from now. */
  probed(): void {
    this.#lastProbe = this.#clock.now();
    if (this.isArmed) return;
    this.isArmed = true;
    this.#check();
  }

  #check(): void {
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = null;
      if (this.#clock.now() - this.#lastProbe < this.#keepMs) {
        this.#check();
        return;
      }
      this.close();
    }, this.#keepMs);
  }

  /** Stops tracking (no probe for a while, or the node stops). */
  close(): void {
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.isArmed = false;
    this.#match.clear();
    this.#heard.clear();
  }

  /** A Raft message arrived (only called while armed). */
  received(msg: Message): void {
    this.#heard.set(msg.from, this.#clock.now());
    if (msg.type !== "AppendEntriesReply" || !msg.success) return;
    if (msg.term > this.#term) {
      this.#term = msg.term;
      this.#match.clear();
    } else if (msg.term < this.#term) return;
    if (msg.matchIndex > (this.#match.get(msg.from) ?? -1)) this.#match.set(msg.from, msg.matchIndex);
  }

  /** What is known of each of `ids` (in the leader's current term `term`). */
  progress(ids: readonly string[], term: number): FollowerProgress[] {
    const now = this.#clock.now();
    return ids.map((id) => {
      const heard = this.#heard.get(id);
      const match = this.#term === term ? this.#match.get(id) ?? null : null;
      return { id, match, lastContactMs: heard === undefined ? null : Math.max(0, Math.round(now - heard)) };
    });
  }
}
