// Goal: a ReadIndex round (thesis §6.4) asks only as many voters as a majority needs, those
// that acknowledged the newest round first; if they stay silent, the round asks every voter at
// its second tick, and the next round asks one that answered. The guarantee is unchanged: a
// read is released only by a majority's acknowledgement of a round begun after it arrived.
// Method: one core driven directly (core_kit.ts), heartbeats only every 9 ticks so that
// the periodic ones never stand in for the round's.

import { expect, test } from "bun:test";
import type { RaftCore } from "../../../raft/core/mod.ts";
import { drain, drainMsgs, leaderWithCommit, ofType } from "./core_kit.ts";

/** The reads the core releases now (a driver's Ready, advanced). */
const served = (core: RaftCore): string[] => drain(core)?.readStates.map((r) => r.ctx) ?? [];

const roundHeartbeats = (core: RaftCore): { to: string; round: number }[] =>
  ofType(drainMsgs(core), "AppendEntries").filter((m) => m.readRound > 0).map((m) => ({ to: m.to, round: m.readRound }));

test("a round asks one follower of two; a silent one costs the round two ticks, then everyone is asked", () => {
  const { core, ack } = leaderWithCommit();
  core.readIndex("r1");
  const first = roundHeartbeats(core);
  expect(first).toHaveLength(1);
  const [{ to: asked, round }] = first as [{ to: string; round: number }];
  const other = asked === "b" ? "c" : "b";
  core.tick();
  expect(roundHeartbeats(core)).toEqual([]);
  core.tick();
  const widened = roundHeartbeats(core);
  expect(widened.map((h) => h.to)).toEqual([other]);
  expect(widened[0]!.round).toBeGreaterThan(round);
  expect(served(core)).toEqual([]);
  core.step(ack(other, widened[0]!.round));
  expect(served(core)).toEqual(["r1"]);
  // The next round asks the voter that answered.
  core.readIndex("r2");
  expect(roundHeartbeats(core).map((h) => h.to)).toEqual([other]);
});

test("an acknowledgement of an earlier round never releases a later one", () => {
  const { core, ack } = leaderWithCommit();
  core.readIndex("r1");
  const [{ to, round }] = roundHeartbeats(core) as [{ to: string; round: number }];
  core.step(ack(to, round));
  expect(served(core)).toEqual(["r1"]);
  core.readIndex("r2");
  const [next] = roundHeartbeats(core) as [{ to: string; round: number }];
  expect(next.round).toBeGreaterThan(round);
  core.step(ack(to === "b" ? "c" : "b", round));
  core.step(ack(to, round));
  expect(served(core)).toEqual([]);
  core.step(ack(next.to, next.round));
  expect(served(core)).toEqual(["r2"]);
});
