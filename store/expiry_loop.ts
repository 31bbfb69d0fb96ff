// The leader's side of expiring keys (issue 16, TTL): it finds keys past their deadline by its
// wall clock and proposes expiry entries for them; applying those entries deletes the keys on
// every replica alike (store/state_machine.ts). Only the leader runs it; a follower's loop is
// idle. Time and timers come through the seams (raft/host.ts), so the simulator runs it too.
//
// One expiry entry is in flight at a time, naming at most expireBatchKeys keys: a backlog
// (a leader that was down while many keys came due) is worked off an entry at a time rather
// than as one huge entry. The loop sleeps until the earliest reminder is due (store/expiry.ts),
// at most expireWakeMsMax, and nothing at all is armed while no key has a deadline: a cluster
// that never uses a TTL runs no timer for it.

import type { Clock, Timers } from "../raft/host.ts";
import { encodeCommand } from "./commands.ts";
import type { KvStateMachine } from "./state_machine.ts";

/** Most keys one expiry entry names. */
export const expireBatchKeys = 1024;
/** Most characters of keys one expiry entry names (keys may be long). */
export const expireBatchChars = 256 * 1024;
/**
 * Longest sleep: the loop looks again at least this often while keys have deadlines, so a
 * wall clock stepped forward is noticed soon, whatever the reminders said before.
 */
export const expireWakeMsMax = 1000;
/** Pause after an expiry entry that was not applied (not the leader any more, a handoff) before trying again. */
export const expireRetryMs = 100;

export interface ExpiryLoopOptions {
  readonly stateMachine: KvStateMachine;
  readonly timers: Timers;
  /** Wall-clock time in ms since 1970: the leader's time, stamped into expiry entries. */
  readonly wallClock: Clock;
  /** True while this node leads. */
  readonly isLeader: () => boolean;
  /** Proposes an entry; settles when applied (with the apply result) or when it failed. */
  readonly propose: (data: Uint8Array) => Promise<unknown>;
}

export class ExpiryLoop {
  readonly #o: ExpiryLoopOptions;
  #timer: unknown = null;
  /** When the armed timer fires (wall-clock ms), or Infinity when none is armed. */
  #wakeAt = Infinity;
  #inFlight = false;
  #isClosed = false;

  constructor(options: ExpiryLoopOptions) {
    this.#o = options;
    options.stateMachine.onDeadline((deadline) => this.#armFor(deadline));
  }

  /**
   * The leader's time for expiry: its wall clock, never behind the log clock (a leader whose
   * clock is behind the last one's still sees what that one expired as expired).
   */
  now(): number {
    return Math.max(Math.round(this.#o.wallClock.now()), this.#o.stateMachine.logClock);
  }

  /** Leadership changed: a new leader looks at once; a node that lost it stops looking. */
  leaderChanged(): void {
    if (!this.#o.isLeader()) {
      this.#disarm();
      return;
    }
    this.#armFor(this.#o.stateMachine.expiry.nextReminder());
  }

  /**
   * Proposes the expiry of `keys` (each with the version it was found at) stamped now, and
   * settles once it applied: a read or a conditional write that found a key due waits for
   * its expiry to be in the log before it answers. Rejects as propose does.
   */
  expireNow(keys: ReadonlyArray<readonly [string, number]>): Promise<unknown> {
    return this.#o.propose(encodeCommand({ type: "expire", stamp: this.now(), keys }));
  }

  /** Stops for good (the store shuts down). */
  close(): void {
    this.#isClosed = true;
    this.#disarm();
  }

  /** Arms the timer for `deadline` (wall-clock ms), unless one fires sooner or this node does not lead. */
  #armFor(deadline: number | undefined, notBefore = 0): void {
    // Cheap checks first: this runs for every set with a TTL applied.
    if (deadline === undefined || this.#isClosed || this.#inFlight || (deadline >= this.#wakeAt && notBefore === 0)) return;
    if (!this.#o.isLeader()) return;
    const now = this.now();
    const at = Math.min(Math.max(deadline, now, notBefore), now + expireWakeMsMax);
    if (at >= this.#wakeAt) return;
    this.#disarm();
    this.#wakeAt = at;
    this.#timer = this.#o.timers.setTimeout(() => this.#run(), at - now);
  }

  #disarm(): void {
    if (this.#timer !== null) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#wakeAt = Infinity;
  }

  /** Collects the keys due now and proposes their expiry; then sleeps until the next is due. */
  #run(): void {
    this.#timer = null;
    this.#wakeAt = Infinity;
    if (this.#isClosed || !this.#o.isLeader()) return;
    const sm = this.#o.stateMachine;
    const due = sm.expiry.collectDue(this.now(), expireBatchKeys, expireBatchChars, (key) => sm.versionOf(key));
    if (due.length === 0) {
      // Never at once again: a reminder still due here would make the loop spin.
      this.#armFor(sm.expiry.nextReminder(), this.now() + expireRetryMs);
      return;
    }
    this.#inFlight = true;
    // Applied: the keys are gone, or were written since and stay. Not applied (leadership
    // lost, a handoff, a timeout): they stay due and are found again, here after a pause or by
    // whoever leads next.
    this.expireNow(due).then(
      () => {
        this.#inFlight = false;
        this.#armFor(sm.expiry.nextReminder());
      },
      () => {
        this.#inFlight = false;
        this.#armFor(sm.expiry.nextReminder(), this.now() + expireRetryMs);
      },
    );
  }
}
