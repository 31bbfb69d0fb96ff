// The log lines a node writes about its membership: the configuration once as it stands after
// recovery, then each change once, and the removal of this node once. A restart re-applies
// every entry after the snapshot, config entries included; logging each of them would print
// the cluster's whole membership history at every start, as if it were happening now.

import type { Member, Membership, SoftState } from "./raft/core/mod.ts";
import type { Logger } from "./raft/host.ts";

/** `id@addr(suffrage), ...`, or a note that there is none yet. */
export function describeMembers(members: readonly Member[]): string {
  if (members.length === 0) return "none yet (waiting to be added by a leader)";
  return members.map((m) => `${m.id}@${m.addr}(${m.suffrage})`).join(", ");
}

/** Feeds on the driver's events (applied, softState); one instance per process. */
export class MembershipLog {
  readonly #log: Logger;
  readonly #id: string;
  /** The membership last written to the log, as described. */
  #last: string | null = null;
  #isRemoved = false;

  /** Told each real change, as it is logged (the cluster view's timeline). */
  readonly #changed: ((text: string) => void) | undefined;

  constructor(log: Logger, id: string, changed?: (text: string) => void) {
    this.#log = log;
    this.#id = id;
    this.#changed = changed;
  }

  /** At start: the configuration recovered from the snapshot and log (the newest one in it). */
  recovered(members: readonly Member[]): void {
    this.#last = describeMembers(members);
    this.#log.info(`membership at start: ${this.#last}`, { event: "membership_at_start", members: this.#last });
  }

  /**
   * A config entry was applied; `current` is the configuration in force now (the newest in
   * the log). An entry that is not the newest is history being replayed or caught up: silent.
   */
  applied(membership: Membership, current: readonly Member[]): void {
    const text = describeMembers(membership.members);
    if (text !== describeMembers(current) || text === this.#last) return;
    this.#last = text;
    this.#log.info(`membership now ${text}`, { event: "membership", members: text });
    this.#changed?.(text);
  }

  /** The removal of this node (and its return) is said once, when it happens or at start. */
  softState(state: SoftState): void {
    if (state.removed === this.#isRemoved) return;
    this.#isRemoved = state.removed;
    if (state.removed) {
      this.#log.warn(
        `this node (${this.#id}) was removed from the cluster: it no longer campaigns and answers clients 503; ` +
          `add it back with POST /join on a member, or stop it`,
        { event: "removed", id: this.#id },
      );
    } else {
      this.#log.info(`this node (${this.#id}) is a member of the cluster again`, { event: "member_again", id: this.#id });
    }
  }
}
