// Goal: one ReadIndex round (thesis §6.4) out at a time; reads arriving while it is out wait
// for its acknowledgement and then all share the next round (issue 18: under load every
// driver turn had started a round of its own, up to four out, and each round costs the leader
// a heartbeat sent and an acknowledgement read, and wakes a follower: more than the reads it
// carries save by not waiting). The guarantee is unchanged: each read is released only by a
// majority's acknowledgement of a round begun after it arrived, and rounds release in order.
// Method: one core driven directly (core_kit.ts), heartbeats only every 9 ticks so that the
// periodic ones never stand in for a round's. Work is counted: rounds started per reads.

import { expect, test } from "bun:test";
import type { RaftCore } from "../../../raft/core/mod.ts";
import { drain, leaderWithCommit, ofType } from "./core_kit.ts";

/** Every Ready until the core is quiet: the rounds its heartbeats started and the reads it released. */
function turn(core: RaftCore): { rounds: { to: string; round: number }[]; served: string[] } {
  const rounds: { to: string; round: number }[] = [];
  const served: string[] = [];
  for (let rd = drain(core); rd !== null; rd = drain(core)) {
    for (const m of ofType(rd.messages, "AppendEntries")) if (m.readRound > 0) rounds.push({ to: m.to, round: m.readRound });
    served.push(...rd.readStates.map((r) => r.ctx));
  }
  return { rounds, served };
}

test("reads arriving one per turn while a round is out share the next round: two rounds for twelve reads", () => {
  const { core, ack } = leaderWithCommit();
  core.readIndex("r1");
  const first = turn(core).rounds;
  expect(first).toHaveLength(1);
  // Eleven more reads, each in a turn of its own, while the first round is out: no round starts.
  const later = Array.from({ length: 11 }, (_, i) => `r${i + 2}`);
  let started = 0;
  for (const ctx of later) {
    core.readIndex(ctx);
    started += turn(core).rounds.length;
  }
  expect(started).toBe(0);
  // The acknowledgement releases r1 (only r1: the others arrived after its round began) and
  // starts one round for all eleven in the same turn.
  core.step(ack(first[0]!.to, first[0]!.round));
  const next = turn(core);
  expect(next.served).toEqual(["r1"]);
  expect(next.rounds).toHaveLength(1);
  expect(next.rounds[0]!.round).toBeGreaterThan(first[0]!.round);
  core.step(ack(next.rounds[0]!.to, next.rounds[0]!.round));
  expect(turn(core).served).toEqual(later);
});

test("an acknowledgement of an earlier round releases no read that arrived after it began", () => {
  const { core, ack } = leaderWithCommit();
  core.readIndex("r1");
  const [first] = turn(core).rounds as [{ to: string; round: number }];
  core.readIndex("r2");
  expect(turn(core).rounds).toEqual([]);
  // Both followers acknowledge the first round: r1 only; r2's own round starts now.
  core.step(ack("b", first.round));
  core.step(ack("c", first.round));
  const after = turn(core);
  expect(after.served).toEqual(["r1"]);
  expect(after.rounds).toHaveLength(1);
  const second = after.rounds[0]!;
  expect(second.round).toBeGreaterThan(first.round);
  // A stale acknowledgement (of the first round again) releases nothing.
  core.step(ack(second.to, first.round));
  expect(turn(core).served).toEqual([]);
  core.step(ack(second.to, second.round));
  expect(turn(core).served).toEqual(["r2"]);
});

test("a silent voter: the round out asks every voter at its second tick; reads that waited take the next", () => {
  const { core, ack } = leaderWithCommit();
  core.readIndex("r1");
  const [first] = turn(core).rounds as [{ to: string; round: number }];
  core.tick();
  core.readIndex("r2");
  expect(turn(core).rounds).toEqual([]);
  core.tick();
  const widened = turn(core).rounds;
  const other = first.to === "b" ? "c" : "b";
  expect(widened.map((h) => h.to)).toEqual([other]);
  // The widening heartbeat carries a round begun after r2 arrived, but r2 is not in a round
  // yet: its acknowledgement releases r1 only, and r2's round starts.
  core.step(ack(other, widened[0]!.round));
  const after = turn(core);
  expect(after.served).toEqual(["r1"]);
  expect(after.rounds).toHaveLength(1);
  core.step(ack(after.rounds[0]!.to, after.rounds[0]!.round));
  expect(turn(core).served).toEqual(["r2"]);
});
