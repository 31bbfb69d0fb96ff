// Round-trip time to each peer, from the heartbeats the leader sends anyway (no probe
// traffic of its own). Every AppendEntries carries the leader's newest heartbeat round
// (raft/lease.ts) and every reply echoes it, so a round's first heartbeat to a peer and the
// first reply echoing that round time one round trip through both transports and both
// event loops: what a slow or overloaded peer costs the leader.
//
// A round is timed only if a heartbeat was the first message to carry it to that peer. A
// round first carried by entries could be answered only after the follower's fsync, which
// is not network time (etcd_disk_wal_fsync_duration_seconds says that part).

import type { Message } from "../raft/core/mod.ts";

/** Rounds remembered per peer while their replies are awaited (older ones are forgotten). */
const roundsRememberedMax = 64;

/** Pairs heartbeats with their replies by (peer, round). */
export class PeerRoundTrips {
  /** Per peer: round → when its first heartbeat left (ms), or -1 if entries carried it first. */
  readonly #sent = new Map<string, Map<number, number>>();
  readonly #observe: (peer: string, seconds: number) => void;

  /** `observe` gets each round trip measured, in seconds. */
  constructor(observe: (peer: string, seconds: number) => void) {
    this.#observe = observe;
  }

  /** A message leaves for `msg.to` at `nowMs` (monotonic). */
  sent(msg: Message, nowMs: number): void {
    if (msg.type !== "AppendEntries" || msg.readRound === 0) return;
    let rounds = this.#sent.get(msg.to);
    if (rounds === undefined) {
      rounds = new Map();
      this.#sent.set(msg.to, rounds);
    }
    if (rounds.has(msg.readRound)) return;
    rounds.set(msg.readRound, msg.entries.length === 0 ? nowMs : -1);
    if (rounds.size > roundsRememberedMax) rounds.delete(rounds.keys().next().value!);
  }

  /** A message arrived from `msg.from` at `nowMs`. */
  received(msg: Message, nowMs: number): void {
    if (msg.type !== "AppendEntriesReply" || msg.readRound === 0) return;
    const rounds = this.#sent.get(msg.from);
    const sentAt = rounds?.get(msg.readRound);
    if (rounds === undefined || sentAt === undefined) return;
    // Replies to this round and every earlier one are no longer worth waiting for.
    for (const round of rounds.keys()) {
      if (round > msg.readRound) break;
      rounds.delete(round);
    }
    if (sentAt >= 0) this.#observe(msg.from, Math.max(0, nowMs - sentAt) / 1000);
  }

  /** Forgets a peer (removed from the cluster). */
  forget(peer: string): void {
    this.#sent.delete(peer);
  }
}
