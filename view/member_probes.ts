// The asking side of the view's probes (view/probe_message.ts): one round asks every other
// member for its report and settles once all have answered or the round's time is up; a
// member that did not answer in the newest finished round is unreachable. The last report of
// each member is kept (its HTTP address stays known after it dies: a page reconnects with it).

import type { Clock, Timers } from "../raft/host.ts";
import type { MemberReport, ProbeMessage } from "./probe_message.ts";

/** How long a member has to answer a probe before it is shown unreachable. */
export const probeTimeoutMs = 1500;
/**
 * A member silent for this many rounds in a row is asked only every `silentProbeEvery` rounds
 * until it answers again: an older build logs each probe it drops (a warning a second per
 * watching node during a rolling upgrade), and a dead member has nothing to say. It is shown
 * unreachable meanwhile, and seen again within that many rounds once it answers.
 */
export const silentRoundsMax = 3;
export const silentProbeEvery = 5;

export interface MemberProbesOptions {
  readonly incarnation: string;
  /** Sends a probe to the node advertising Raft address `addr`; false if dropped unsent. */
  readonly send: (addr: string, msg: ProbeMessage) => boolean;
  readonly timers: Timers;
  readonly clock: Clock;
  readonly timeoutMs?: number;
}

/** What is known of one member from its answers. */
export interface Known {
  /** Its newest report, even when it has since stopped answering. */
  readonly report: MemberReport | null;
  /** It did not answer the newest finished round. */
  readonly isUnreachable: boolean;
}

interface Asked {
  readonly id: string;
  readonly addr: string;
  readonly round: Round;
}

interface Round {
  readonly waiting: Set<string>;
  readonly done: () => void;
}

export class MemberProbes {
  readonly #o: MemberProbesOptions;
  readonly #known = new Map<string, { report: MemberReport | null; isUnreachable: boolean }>();
  /** Probes in flight, by request id. */
  readonly #asked = new Map<string, Asked>();
  #next = 1;
  #rounds = 0;
  /** Rounds in a row each member did not answer. */
  readonly #misses = new Map<string, number>();
  /** Probes sent in this process (a test counts them). */
  sent = 0;

  constructor(options: MemberProbesOptions) {
    this.#o = options;
  }

  known(id: string): Known | undefined {
    return this.#known.get(id);
  }

  /** Forgets members no longer in the configuration. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.#known.keys()) if (!ids.has(id)) this.#known.delete(id);
    for (const id of this.#misses.keys()) if (!ids.has(id)) this.#misses.delete(id);
  }

  /** One round: asks each of `members`; settles when all answered or the time is up. */
  round(all: readonly { readonly id: string; readonly addr: string }[]): Promise<void> {
    const n = this.#rounds++;
    const members = all.filter((m) => (this.#misses.get(m.id) ?? 0) < silentRoundsMax || n % silentProbeEvery === 0);
    if (members.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: unknown = null;
      const finish = (): void => {
        if (timer === null) return;
        this.#o.timers.clearTimeout(timer);
        timer = null;
        for (const [reqId, asked] of this.#asked) if (asked.round === round) this.#asked.delete(reqId);
        for (const id of round.waiting) {
          this.#misses.set(id, (this.#misses.get(id) ?? 0) + 1);
          const k = this.#known.get(id);
          this.#known.set(id, { report: k?.report ?? null, isUnreachable: true });
        }
        resolve();
      };
      const round: Round = { waiting: new Set(), done: finish };
      timer = this.#o.timers.setTimeout(finish, this.#o.timeoutMs ?? probeTimeoutMs);
      for (const m of members) {
        const reqId = `${this.#o.incarnation}.p${this.#next++}`;
        round.waiting.add(m.id);
        this.#asked.set(reqId, { id: m.id, addr: m.addr, round });
        this.sent++;
        // A probe that cannot leave (no connection yet) is simply not answered.
        this.#o.send(m.addr, { type: "probe", reqId });
      }
    });
  }

  /** An answer arrived from `fromAddr`: taken only for a probe in flight sent to that address. */
  answered(fromAddr: string, reqId: string, report: MemberReport): void {
    const asked = this.#asked.get(reqId);
    if (asked === undefined || asked.addr !== fromAddr || report.id !== asked.id) return;
    this.#asked.delete(reqId);
    this.#known.set(asked.id, { report, isUnreachable: false });
    this.#misses.delete(asked.id);
    asked.round.waiting.delete(asked.id);
    if (asked.round.waiting.size === 0) asked.round.done();
  }
}
