// The log lines a node writes about elections: exactly one info line per election it sees end
// (won: "elected leader"; lost or not run: "leader is X"), one when a leader steps down, and
// the steps in between (precandidate, candidate, leader unknown) only at debug level. A
// failover used to print three or four lines per node (every role change); an operator
// reading the log, or an alert counting lines, wants one per outcome.

import type { SoftState } from "./raft/core/mod.ts";
import type { Logger } from "./raft/host.ts";

/** Feeds on the driver's softState events; one instance per process. */
export class ElectionLog {
  readonly #log: Logger;
  readonly #id: string;
  #last: SoftState | null = null;
  /** The (leader, term) whose election was last logged, as "leader@term". */
  #loggedElection: string | null = null;
  /** This node campaigned (PreVote or vote) since the last election it logged. */
  #hasCampaigned = false;

  constructor(log: Logger, id: string) {
    this.#log = log;
    this.#id = id;
  }

  softState(s: SoftState): void {
    const last = this.#last;
    this.#last = s;
    if (last !== null && last.role === s.role && last.leader === s.leader && last.term === s.term) return;
    this.#log.debug?.(`${s.role} in term ${s.term}; leader ${s.leader ?? "unknown"}`, {
      event: "role",
      role: s.role,
      term: s.term,
      leader: s.leader,
    });
    if (s.role === "precandidate" || s.role === "candidate") this.#hasCampaigned = true;
    if (last?.role === "leader" && s.role !== "leader") {
      const next = s.leader === null ? "no leader known yet" : `leader is ${s.leader}`;
      this.#log.info(`stepped down as leader in term ${last.term}; now ${s.role} in term ${s.term}, ${next}`, {
        event: "stepdown",
        term: s.term,
        leader: s.leader,
      });
    }
    if (s.leader === null) return;
    const election = `${s.leader}@${s.term}`;
    if (election === this.#loggedElection) return;
    this.#loggedElection = election;
    const campaigned = this.#hasCampaigned;
    this.#hasCampaigned = false;
    if (s.leader === this.#id) {
      this.#log.info(`elected leader in term ${s.term}`, { event: "election", outcome: "won", term: s.term, leader: s.leader });
    } else {
      const what = campaigned ? "lost the election" : "new leader";
      this.#log.info(`${what} in term ${s.term}: leader is ${s.leader}`, {
        event: "election",
        outcome: campaigned ? "lost" : "follower",
        term: s.term,
        leader: s.leader,
      });
    }
  }
}
