// Goal: proposals of one driver turn share one timer (issue 18: a timer per write was ~1.5% of
// a loaded leader's main-thread samples), and each still times out as "unknown" when its
// group's timeout passes, unless applied first; a group whose proposals all settled leaves no
// timer behind. Method: raft/requests.ts's Proposals on counting Timers; endTurn() is what
// the driver calls once per turn (raft/node.ts process()).

import { describe, expect, test } from "bun:test";
import { Proposals, RequestCounts, RequestError } from "../../../raft/requests.ts";

class CountingTimers {
  readonly due = new Map<number, () => void>();
  set = 0;
  cleared = 0;
  #next = 1;
  setTimeout(fn: () => void): unknown {
    this.set++;
    this.due.set(this.#next, fn);
    return this.#next++;
  }
  clearTimeout(handle: unknown): void {
    if (this.due.delete(handle as number)) this.cleared++;
  }
  fireAll(): void {
    const fns = [...this.due.values()];
    this.due.clear();
    for (const fn of fns) fn();
  }
}

const settled = async (p: Promise<unknown>): Promise<unknown> => p.then((v) => ({ ok: v }), (e: unknown) => e);

describe("proposal timers", () => {
  test("proposals of one turn set one timer; the next turn's another", () => {
    const timers = new CountingTimers();
    const proposals = new Proposals(timers, 1000);
    for (let i = 1; i <= 64; i++) void proposals.wait(i, 1).catch(() => undefined);
    expect(timers.set).toBe(1);
    proposals.endTurn();
    for (let i = 65; i <= 70; i++) void proposals.wait(i, 1).catch(() => undefined);
    expect(timers.set).toBe(2);
    expect(proposals.size).toBe(70);
  });

  test("a group's timeout fails only its proposals still waiting, as unknown", async () => {
    const timers = new CountingTimers();
    const counts = new RequestCounts();
    const proposals = new Proposals(timers, 1000, counts);
    const a = settled(proposals.wait(1, 1));
    const b = settled(proposals.wait(2, 1));
    proposals.applied(1, 1, "done");
    timers.fireAll();
    expect(await a).toEqual({ ok: "done" });
    const failure = await b;
    expect(failure).toBeInstanceOf(RequestError);
    expect((failure as RequestError).reason).toBe("unknown");
    expect([proposals.size, counts.proposalsPending, counts.proposalsFailed]).toEqual([0, 0, 1]);
  });

  test("a group whose proposals all settled clears its timer, even within its turn", async () => {
    const timers = new CountingTimers();
    const proposals = new Proposals(timers, 1000);
    const a = settled(proposals.wait(1, 1));
    proposals.applied(1, 1, "one");
    expect(timers.due.size).toBe(0);
    // Still the same turn: a later proposal gets a timer of its own, not the cleared one.
    const b = settled(proposals.wait(2, 1));
    expect(timers.due.size).toBe(1);
    timers.fireAll();
    expect(await a).toEqual({ ok: "one" });
    expect(((await b) as RequestError).reason).toBe("unknown");
  });
});
