// A leadership transfer (thesis §3.10) as a client request of the driver: the core does the
// transfer itself (raft/core/transfer.ts: stop taking proposals, catch the target up, send
// TimeoutNow, give up after one election timeout) but says nothing when it ends. This settles
// the request when another node is known to lead, and fails it once the core must have given
// up (one election timeout of ticks passed and this node still leads).
// It also picks the target when none is named: the voter that acknowledged the most of our
// log, among those heard from within an election timeout (a silent voter cannot win soon).

import type { LogIndex, NodeId, RaftStatus, SoftState } from "./core/mod.ts";
import { RequestError } from "./requests.ts";

/** What the leader last heard from one follower: how much of its log it holds, and when. */
interface Ack {
  matchIndex: LogIndex;
  /** Tick count (of TransferRequests) when it was heard. */
  tick: number;
}

interface Pending {
  readonly target: NodeId;
  readonly ticksMax: number;
  ticks: number;
  readonly waiters: { resolve: (leader: NodeId) => void; reject: (e: RequestError) => void }[];
}

/** The driver's leadership transfers: at most one at a time. */
export class TransferRequests {
  readonly #acks = new Map<NodeId, Ack>();
  /** Ticks seen since this node last became leader (dates the acks). */
  #tick = 0;
  #pending: Pending | null = null;
  /** Callers waiting for the transfer under way to end, either way. */
  #onEnd: (() => void)[] = [];

  /** A successful AppendEntries reply from `from` in the current term. */
  acked(from: NodeId, matchIndex: LogIndex): void {
    const ack = this.#acks.get(from);
    if (ack === undefined) this.#acks.set(from, { matchIndex, tick: this.#tick });
    else {
      if (matchIndex > ack.matchIndex) ack.matchIndex = matchIndex;
      ack.tick = this.#tick;
    }
  }

  /** True while a transfer waits to settle. */
  get isPending(): boolean {
    return this.#pending !== null;
  }

  /**
   * The voter to hand leadership to: the most caught-up among voters heard from within
   * `recentTicks`, else the most caught-up of all; ties go to membership order. Null when
   * there is no other voter.
   */
  pick(s: RaftStatus, recentTicks: number): NodeId | null {
    let best: NodeId | null = null;
    let bestKey = -Infinity;
    for (const m of s.members) {
      if (m.suffrage !== "voter" || m.id === s.id) continue;
      const ack = this.#acks.get(m.id);
      const isRecent = ack !== undefined && this.#tick - ack.tick <= recentTicks;
      // Recent voters first (offset by more than any index), then by match index.
      const key = (isRecent ? Number.MAX_SAFE_INTEGER / 2 : 0) + (ack?.matchIndex ?? 0);
      if (key > bestKey) {
        best = m.id;
        bestKey = key;
      }
    }
    return best;
  }

  /**
   * Waits for the transfer to `target` the core just began (or joins the one under way to the
   * same target). `ticksMax`: ticks after which it fails if no other node is known to lead.
   */
  wait(target: NodeId, ticksMax: number): Promise<NodeId> {
    return new Promise((resolve, reject) => {
      if (this.#pending === null) this.#pending = { target, ticksMax, ticks: 0, waiters: [] };
      this.#pending.waiters.push({ resolve, reject });
    });
  }

  /** Settles once no transfer is under way (at once if none is). */
  ended(): Promise<void> {
    if (this.#pending === null) return Promise.resolve();
    return new Promise((resolve) => this.#onEnd.push(resolve));
  }

  /** The target of the transfer under way, if any. */
  get target(): NodeId | null {
    return this.#pending?.target ?? null;
  }

  /** The driver's tick. `s`: the core's status after it. */
  tick(s: RaftStatus): void {
    this.#tick++;
    const p = this.#pending;
    if (p === null) return;
    p.ticks++;
    if (p.ticks <= p.ticksMax) return;
    if (s.role === "leader") {
      // The core abandoned the transfer at ticksMax ticks (§3.10) and takes proposals again.
      this.#fail(new RequestError(
        "timeout",
        `leadership transfer to ${p.target} did not complete within an election timeout (the target may be unreachable or far behind); node ${s.id} still leads`,
        s.id,
      ));
    } else {
      // Stepped down (a vote for the target, or CheckQuorum) with no leader heard of since.
      this.#fail(new RequestError("noLeader", `node ${s.id} stepped down but no new leader was known within an election timeout`));
    }
  }

  /** Role or leader changed: a transfer settles once another node leads. */
  softState(self: NodeId, s: SoftState): void {
    if (s.role === "leader") {
      // A new term of leadership: acks of an earlier term say nothing about this log.
      if (this.#pending === null) this.#acks.clear();
      return;
    }
    if (s.leader === null || s.leader === self) return;
    const p = this.#pending;
    this.#pending = null;
    for (const w of p?.waiters ?? []) w.resolve(s.leader);
    this.#ended();
  }

  /** The node stopped: a transfer under way can no longer be followed. */
  failAll(message: string): void {
    this.#fail(new RequestError("noLeader", message));
  }

  #fail(e: RequestError): void {
    const p = this.#pending;
    this.#pending = null;
    for (const w of p?.waiters ?? []) w.reject(e);
    this.#ended();
  }

  #ended(): void {
    const waiting = this.#onEnd;
    this.#onEnd = [];
    for (const fn of waiting) fn();
  }
}
