// Join and removal as the leader carries them out: each one a sequence of single-server
// membership changes (§4.1) proposed through the driver, retried while another change is in
// flight, and a join that waits until the core has promoted the new learner to voter.

import type { ConfChange, Member } from "../raft/core/mod.ts";
import type { Clock, Timers } from "../raft/host.ts";
import { RequestError, type RaftNode } from "../raft/node.ts";
import { StoreError } from "./errors.ts";
import { rethrow } from "./request_errors.ts";

/** What MembershipChanges needs from its Store. */
export interface MembershipChangesOptions {
  /** The driver; throws the Store's StoreError while starting or once removed. */
  readonly raft: () => RaftNode;
  readonly clock: Clock;
  readonly timers: Timers;
  /** How long a request may wait for Raft before it is answered 503. */
  readonly requestTimeoutMs: number;
  /** Pause between attempts of a change refused because another is in flight; default 20 ms. */
  readonly confChangeRetryMs?: number;
  /** How long a join waits for the learner's promotion; default half of requestTimeoutMs. */
  readonly joinCatchUpMs?: number;
}

/** Joins and removals on the leader; `applied` must be called after every applied entry. */
export class MembershipChanges {
  readonly #o: MembershipChangesOptions;
  /** Called after every applied entry (join waits for promotion this way). */
  readonly #appliedWatchers = new Set<() => void>();

  constructor(options: MembershipChangesOptions) {
    this.#o = options;
  }

  /** An entry was applied: a join waiting for its learner's promotion looks again. */
  applied(): void {
    for (const watcher of this.#appliedWatchers) watcher();
  }

  /** Removes member `id`; StoreError("notMember") if there is none. */
  async remove(id: string): Promise<void> {
    if (!this.#members().some((m) => m.id === id)) throw new StoreError("notMember", `node ${id} is not a member`);
    await this.#confChange(() => ({ type: "remove", id }));
  }

  #members(): readonly Member[] {
    return this.#o.raft().status().members;
  }

  /**
   * Adds `id` at `addr` as a learner and waits until the core promotes it (caught up). The
   * whole join fits in half the request timeout, so a follower that forwarded it hears the
   * real answer before its own timeout would say "outcome unknown".
   */
  async join(id: string, addr: string): Promise<void> {
    const waitMs = this.#o.joinCatchUpMs ?? this.#o.requestTimeoutMs / 2;
    const deadline = this.#o.clock.now() + waitMs;
    // As hraftd does: a member with the same id or the same address is replaced. Each step is
    // chosen when it is proposed, from the membership then in force, so a join racing another
    // (the same one, or a retry) never undoes the other's steps: it finds them done.
    const nextStep = (): ConfChange | null => {
      const members = this.#members();
      if (members.some((m) => m.id === id && m.addr === addr)) return null;
      const old = members.find((m) => m.id === id || m.addr === addr);
      return old === undefined ? { type: "addLearner", id, addr } : { type: "remove", id: old.id };
    };
    // At most: remove the old holder of the id, of the address, then add. More means another
    // join for this id or address keeps changing it: the last one wins, this one says so.
    for (let steps = 0; nextStep() !== null; steps++) {
      if (steps === 3) {
        throw new StoreError("unavailable", `another join is changing member ${id} or address ${addr} at the same time; retry`);
      }
      await this.#confChange(nextStep);
    }
    await this.#untilVoter(id, addr, deadline, waitMs);
  }

  /**
   * Waits until the core has promoted `id` to voter, or until `deadline`. A learner that has
   * not caught up by then is left in place (it is promoted by itself once it answers, and a
   * learner never counts toward quorum), and the join fails saying so and how to undo it: we
   * cannot tell a wrong address from a node still receiving a large log.
   */
  #untilVoter(id: string, addr: string, deadline: number, waitMs: number): Promise<void> {
    const isVoter = (): boolean => this.#members().some((m) => m.id === id && m.suffrage === "voter");
    if (isVoter()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (error: StoreError | null): void => {
        this.#o.timers.clearTimeout(timer);
        this.#appliedWatchers.delete(check);
        if (error === null) resolve();
        else reject(error);
      };
      const check = (): void => {
        if (isVoter()) finish(null);
      };
      const timer = this.#o.timers.setTimeout(() => finish(learnerLeftError(id, addr, waitMs)), Math.max(0, deadline - this.#o.clock.now()));
      this.#appliedWatchers.add(check);
    });
  }

  /**
   * Proposes a membership change, retrying while another one is in flight; `next` is asked
   * again at each attempt and returns null when nothing is left to change. A change already in
   * force settles at once, or with the request already waiting for its entry (raft/node.ts).
   */
  async #confChange(next: () => ConfChange | null): Promise<void> {
    const deadline = this.#o.clock.now() + this.#o.requestTimeoutMs;
    for (;;) {
      const change = next();
      if (change === null) return;
      try {
        await this.#o.raft().proposeConfChange(change);
        return;
      } catch (e) {
        if (!(e instanceof RequestError) || e.reason !== "confChangeInFlight" || this.#o.clock.now() > deadline) rethrow(e);
      }
      await new Promise<void>((resolve) => this.#o.timers.setTimeout(resolve, this.#o.confChangeRetryMs ?? 20));
    }
  }
}

/** A join whose learner has not caught up in time: what was left, and how to undo it. */
function learnerLeftError(id: string, addr: string, waitMs: number): StoreError {
  return new StoreError(
    "timeout",
    `node ${id} (${addr}) was added as a learner but has not caught up within ${waitMs / 1000} s: nothing answers at ` +
      `${addr}, or it is still receiving the log. It becomes a voter by itself once it catches up (a learner never ` +
      `counts toward quorum); if the address is wrong or the node is not coming, undo the join with ` +
      `POST /remove ${JSON.stringify({ id })}`,
  );
}
