// Goal: a ReadIndex round (thesis §6.4) rides the AppendEntries a leader sends in the same
// Ready instead of a heartbeat of its own (issue 18: under a mixed load every round cost the
// leader a heartbeat written and an acknowledgement read, beside appends to the same follower
// that carry the leader's term and are acknowledged anyway). The guarantee is unchanged: the
// round begins after its reads arrived, the appends that carry it leave after it began, and
// the reads are released only by a majority's acknowledgement of that round.
// Method: one core driven directly (core_kit.ts), heartbeats only every 9 ticks so that the
// periodic ones never stand in for a round's. Work is counted: messages per Ready.

import { expect, test } from "bun:test";
import type { AppendEntries, AppendEntriesReply, RaftCore } from "../../../raft/core/mod.ts";
import { drain, drainMsgs, leaderWithCommit, makeLeader, mkCore, ofType } from "./core_kit.ts";

/** Every Ready until the core is quiet: its AppendEntries and the reads it released. */
function turn(core: RaftCore): { appends: AppendEntries[]; served: string[] } {
  const appends: AppendEntries[] = [];
  const served: string[] = [];
  for (let rd = drain(core); rd !== null; rd = drain(core)) {
    appends.push(...ofType(rd.messages, "AppendEntries"));
    served.push(...rd.readStates.map((r) => r.ctx));
  }
  return { appends, served };
}

const write = new Uint8Array([1, 2, 3]);

test("a read arriving with a write rides the write's appends: no heartbeat of its own", () => {
  const { core, ack } = leaderWithCommit();
  const before = core.readRound();
  expect(core.propose(write).ok).toBe(true);
  core.readIndex("r1");
  const { appends, served } = turn(core);
  expect(served).toEqual([]);
  // One append to each follower, none empty: the round went out on them.
  expect(appends.map((m) => [m.to, m.entries.length])).toEqual([["b", 1], ["c", 1]]);
  const round = appends[0]!.readRound;
  expect(round).toBeGreaterThan(before);
  expect(appends[1]!.readRound).toBe(round);
  // An acknowledgement of an earlier round releases nothing; one follower's of this round does.
  core.step(ack("b", before));
  expect(turn(core).served).toEqual([]);
  core.step(ack("c", round));
  expect(turn(core).served).toEqual(["r1"]);
});

test("a read with no append going out still gets its heartbeat round", () => {
  const { core, ack } = leaderWithCommit();
  core.readIndex("r1");
  const { appends } = turn(core);
  expect(appends).toHaveLength(1);
  expect(appends[0]!.entries).toHaveLength(0);
  core.step(ack(appends[0]!.to, appends[0]!.readRound));
  expect(turn(core).served).toEqual(["r1"]);
});

test("reads that arrived while a round was out ride the next write's appends once it is acknowledged", () => {
  const { core, ack } = leaderWithCommit();
  core.readIndex("r1");
  const [first] = turn(core).appends as [AppendEntries];
  core.readIndex("r2");
  expect(core.propose(write).ok).toBe(true);
  // The write leaves at once; r2 waits for r1's round, as before.
  const meanwhile = turn(core).appends;
  expect(meanwhile.every((m) => m.entries.length === 1 && m.readRound === first.readRound)).toBe(true);
  core.step(ack(first.to, first.readRound));
  expect(core.propose(write).ok).toBe(true);
  const next = turn(core);
  expect(next.served).toEqual(["r1"]);
  // r2's round goes out on the second write's appends only.
  expect(next.appends.every((m) => m.entries.length === 1 && m.readRound > first.readRound)).toBe(true);
  core.step(ack("b", next.appends[0]!.readRound));
  expect(turn(core).served).toEqual(["r2"]);
});

test("five voters, two silent: the round still asks the two that answer, by append or heartbeat", () => {
  const core = mkCore("a", ["a", "b", "c", "d", "e"], { config: { heartbeatTicks: 9 } });
  makeLeader(core);
  drainMsgs(core);
  const term = core.status().term;
  const last = core.status().lastLogIndex;
  const ack = (from: string, round: number, match = last): AppendEntriesReply => ({
    type: "AppendEntriesReply", from, to: "a", term, success: true, matchIndex: match, conflictIndex: 0, conflictTerm: 0, readRound: round,
  });
  // b and c answer (the leader's first entry, then a round); d and e are silent from now on.
  core.step(ack("b", 0));
  core.step(ack("c", 0));
  core.tick();
  drainMsgs(core);
  core.readIndex("r0");
  const [r0] = ofType(drainMsgs(core), "AppendEntries");
  for (const id of ["b", "c"]) core.step(ack(id, r0!.readRound));
  expect(turn(core).served).toEqual(["r0"]);
  core.propose(write);
  core.readIndex("r1");
  const { appends } = turn(core);
  const round = Math.max(...appends.map((m) => m.readRound));
  const carrying = appends.filter((m) => m.readRound === round).map((m) => m.to);
  expect(carrying).toContain("b");
  expect(carrying).toContain("c");
  // Each voter hears the round once at most: an append or a heartbeat, never both.
  expect(new Set(carrying).size).toBe(carrying.length);
  core.step(ack("b", round, last + 1));
  core.step(ack("c", round, last + 1));
  expect(turn(core).served).toEqual(["r1"]);
});
