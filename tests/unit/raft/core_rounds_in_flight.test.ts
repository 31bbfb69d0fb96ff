// Goal: a read arriving while a ReadIndex round (thesis §6.4) is out starts a round of its own
// at once, up to roundsInFlightMax rounds out together, instead of waiting for the round out
// to be acknowledged first (issue 18: under load a read then waited for a round it could not
// use, then for its own). The guarantee is unchanged: each read is released only by a
// majority's acknowledgement of a round begun after it arrived, and rounds release in order.
// Method: one core driven directly (core_kit.ts), heartbeats only every 9 ticks so that the
// periodic ones never stand in for a round's.

import { expect, test } from "bun:test";
import type { RaftCore } from "../../../raft/core/mod.ts";
import { roundsInFlightMax } from "../../../raft/core/read_queue.ts";
import { drain, drainMsgs, leaderWithCommit, ofType } from "./core_kit.ts";

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

test("reads arriving while rounds are out start rounds at once, at most roundsInFlightMax", () => {
  expect(roundsInFlightMax).toBeGreaterThan(1);
  const { core, ack } = leaderWithCommit();
  const out: { to: string; round: number }[] = [];
  for (let i = 1; i <= roundsInFlightMax; i++) {
    core.readIndex(`r${i}`);
    const t = turn(core);
    expect(t.rounds).toHaveLength(1);
    out.push(t.rounds[0]!);
  }
  for (let i = 1; i < out.length; i++) expect(out[i]!.round).toBeGreaterThan(out[i - 1]!.round);
  // One more: it waits for the oldest round to be acknowledged.
  const late = `r${roundsInFlightMax + 1}`;
  core.readIndex(late);
  expect(turn(core).rounds).toEqual([]);
  core.step(ack(out[0]!.to, out[0]!.round));
  const next = turn(core);
  expect(next.served).toEqual(["r1"]);
  expect(next.rounds).toHaveLength(1);
  // The newest round's acknowledgement releases every round before it, in order.
  core.step(ack(next.rounds[0]!.to, next.rounds[0]!.round));
  expect(turn(core).served).toEqual([...Array.from({ length: roundsInFlightMax - 1 }, (_, i) => `r${i + 2}`), late]);
});

test("an acknowledgement of an earlier round releases no read that arrived after it began", () => {
  const { core, ack } = leaderWithCommit();
  core.readIndex("r1");
  const [first] = turn(core).rounds as [{ to: string; round: number }];
  core.readIndex("r2");
  const [second] = turn(core).rounds as [{ to: string; round: number }];
  core.step(ack("b", first.round));
  core.step(ack("c", first.round));
  expect(turn(core).served).toEqual(["r1"]);
  core.step(ack(second.to, second.round));
  expect(turn(core).served).toEqual(["r2"]);
});

test("a silent voter: the rounds out ask every voter at their second tick", () => {
  const { core, ack } = leaderWithCommit();
  core.readIndex("r1");
  const [first] = turn(core).rounds as [{ to: string; round: number }];
  core.tick();
  core.readIndex("r2");
  const [second] = turn(core).rounds as [{ to: string; round: number }];
  expect(second.to).toBe(first.to);
  core.tick();
  const widened = turn(core).rounds;
  const other = first.to === "b" ? "c" : "b";
  expect(widened.map((h) => h.to)).toEqual([other]);
  expect(widened[0]!.round).toBeGreaterThan(second.round);
  core.step(ack(other, widened[0]!.round));
  expect(turn(core).served).toEqual(["r1", "r2"]);
});
