// Who leads, and handing leadership on (issue 15): the leader's side of POST /leader and of a
// shutdown, and the waits that let a write refused during a handoff be tried again at the new
// leader instead of failing. The transfer itself is the core's (thesis §3.10), followed to its
// end by the driver (raft/transfer_request.ts); the Store forwards a follower's POST /leader.

import type { NodeId, RaftStatus } from "../raft/core/mod.ts";
import type { Clock, Timers } from "../raft/host.ts";
import type { RaftNode } from "../raft/node.ts";
import type { LeaderReport } from "./api.ts";
import { StoreError } from "./errors.ts";
import { rethrow } from "./request_errors.ts";

/** Raft timing the handoff waits are measured in. */
export interface ElectionTiming {
  /** Ticks of one (minimum) election timeout: the core abandons a transfer after these. */
  readonly electionTicks: number;
  /** Milliseconds per tick. */
  readonly tickMs: number;
}

/** hraftd's defaults (-election-timeout 500ms, -tick 10ms), for stores built without timing. */
export const electionTimingDefault: ElectionTiming = { electionTicks: 50, tickMs: 10 };

export interface LeadershipOptions {
  /** The driver; throws StoreError when there is none (starting) or the node was removed. */
  readonly raft: () => RaftNode;
  readonly timers: Timers;
  readonly clock: Clock;
  readonly timing: ElectionTiming;
}

/** The leader's handoffs, and waiting for a leader change. */
export class Leadership {
  readonly #o: LeadershipOptions;
  /** Callers waiting for the next change of leader (see leaderChanged). */
  #onChange: (() => void)[] = [];
  /** When this node last handed leadership on (clock ms), or null. */
  #handedOffAt: number | null = null;

  constructor(options: LeadershipOptions) {
    this.#o = options;
  }

  /** One election timeout in milliseconds. */
  get electionMs(): number {
    return this.#o.timing.electionTicks * this.#o.timing.tickMs;
  }

  /** The leader this node knows of; StoreError "noLeader" when it knows none. */
  report(): LeaderReport {
    const s = this.#o.raft().status();
    const leader = s.members.find((m) => m.id === s.leader);
    if (s.leader === null || leader === undefined) throw new StoreError("noLeader", "no leader is known; retry later");
    return { id: leader.id, raftAddr: leader.addr, isSelf: leader.id === s.id, term: s.term };
  }

  /**
   * Refuses a target that cannot lead (400): not a member, or a learner. Returns the member's
   * id, or null for this node itself (nothing to hand over when it already leads).
   */
  checkTarget(s: RaftStatus, id: string): NodeId | null {
    if (id === s.id) return null;
    const member = s.members.find((m) => m.id === id);
    if (member === undefined) throw new StoreError("invalid", `node ${JSON.stringify(id)} is not a member of the cluster`);
    if (member.suffrage !== "voter") {
      throw new StoreError("invalid", `node ${JSON.stringify(id)} is a learner (a non-voting member) and cannot lead; wait until it is promoted`);
    }
    return member.id;
  }

  /**
   * As the leader: hands leadership to `id` (null: the most caught-up voter) and resolves
   * with the new leader's id. This node named while it leads is a no-op.
   */
  transfer(id: string | null): Promise<string> {
    const raft = this.#o.raft();
    const s = raft.status();
    const target = id === null ? null : this.checkTarget(s, id);
    if (id !== null && target === null && s.role === "leader") return Promise.resolve(s.id);
    if (id === null && !s.members.some((m) => m.suffrage === "voter" && m.id !== s.id)) {
      return Promise.reject(new StoreError("invalid", "this cluster has no other voter to hand leadership to"));
    }
    return this.#transfer(raft, target).catch(rethrow);
  }

  /** The driver's transfer, noting when it succeeded. */
  async #transfer(raft: RaftNode, target: NodeId | null): Promise<NodeId> {
    const to = await raft.transferLeadership(target, this.#o.timing.electionTicks);
    this.#handedOffAt = this.#o.clock.now();
    return to;
  }

  /**
   * True within an election timeout after this node handed leadership on: requests sent to it
   * by nodes that had not heard of the new leader yet may still arrive, and are relayed.
   */
  handedOffLately(): boolean {
    return this.#handedOffAt !== null && this.#o.clock.now() - this.#handedOffAt < this.electionMs;
  }

  /** Settles once a handoff this node leads has ended (at once if none is under way). */
  handoffEnded(): Promise<void> {
    return this.#o.raft().transferSettled();
  }

  /** The driver reported a role or leader change. */
  leaderChanged(): void {
    const waiting = this.#onChange;
    this.#onChange = [];
    for (const fn of waiting) fn();
  }

  /**
   * Resolves once a leader other than `old` is known ("": any leader), or after `ms`
   * (whatever happened): a write refused without being appended is then tried once more,
   * wherever leadership is. Never throws (it runs inside the driver's events).
   */
  leaderOtherThan(old: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const deadline = this.#o.clock.now() + ms;
      const check = (): void => {
        let now: string | null = null;
        try {
          now = this.#o.raft().status().leader;
        } catch {
          // Removed or stopping: nothing to wait for; the retry gets the error.
          now = "";
        }
        if ((now !== null && now !== old) || this.#o.clock.now() >= deadline) {
          this.#o.timers.clearTimeout(timer);
          resolve();
          return;
        }
        this.#onChange.push(check);
      };
      const timer = this.#o.timers.setTimeout(() => {
        this.#onChange = this.#onChange.filter((fn) => fn !== check);
        resolve();
      }, ms);
      check();
    });
  }

  /**
   * Before the process exits: if this node leads and another voter exists, hand leadership to
   * the most caught-up voter, then let the requests it holds settle (the new leader commits
   * them), all within one election timeout and two ticks: the core abandons a transfer after
   * one election timeout, so an unanswered handoff ends in time. `pending` counts the
   * requests still waiting here. Never throws; returns the line to log, or null (not leader).
   */
  async handOff(pending: () => number): Promise<string | null> {
    let raft: RaftNode;
    try {
      raft = this.#o.raft();
    } catch {
      return null;
    }
    const s = raft.status();
    if (s.role !== "leader") return null;
    if (!s.members.some((m) => m.suffrage === "voter" && m.id !== s.id)) return "the only voter leads: no one to hand leadership to";
    const { clock } = this.#o;
    const start = clock.now();
    const deadline = start + this.electionMs + 2 * this.#o.timing.tickMs;
    let to: NodeId;
    try {
      to = await this.#transfer(raft, null);
    } catch (e) {
      return `leadership handoff failed after ${Math.round(clock.now() - start)} ms (${e instanceof Error ? e.message : String(e)}); exiting`;
    }
    const moved = Math.round(clock.now() - start);
    // Until nothing waits here for two ticks running: requests sent here by nodes that had not
    // yet heard of the new leader arrive within a round trip, and are relayed to it.
    for (let quiet = 0; quiet < 2 && clock.now() < deadline;) {
      await new Promise<void>((resolve) => this.#o.timers.setTimeout(resolve, this.#o.timing.tickMs));
      quiet = pending() > 0 ? 0 : quiet + 1;
    }
    const left = pending();
    return `leadership handed to ${to} in ${moved} ms${left > 0 ? `; ${left} requests still waiting fail as outcome unknown` : ""}`;
  }
}
