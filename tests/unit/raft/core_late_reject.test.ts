// Goal: a rejection that arrives late (reordered or duplicated by the network) never lowers
// what the leader knows a follower holds: matchIndex only grows (Figure 2). Method: one
// leader core; b's replies are crafted and delivered out of order; the leader's next
// heartbeat to b shows its matchIndex (a heartbeat is sent at prevLogIndex = matchIndex).
import { expect, test } from "bun:test";
import type { AppendEntriesReply } from "../../../raft/core/mod.ts";
import { appReply, drainMsgs, makeLeader, mkCore, ofType } from "./core_kit.ts";

function reject(rejectedPrev: number, conflictIndex: number, term: number): AppendEntriesReply {
  return {
    type: "AppendEntriesReply", from: "b", to: "a", term, success: false, matchIndex: rejectedPrev,
    conflictIndex, conflictTerm: 0, readRound: 0,
  };
}

test("a late duplicate of an old rejection does not lower the follower's matchIndex", () => {
  // One entry per append, so b's acknowledgements stop short of the rejected position.
  const a = mkCore("a", ["a", "b", "c"], { terms: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], config: { appendBytesMax: 1 } });
  makeLeader(a);
  const term = a.status().term;
  // The first probe (prevLogIndex 10) finds b's log ending at 5. This rejection is also
  // duplicated by the network; its twin arrives at the very end.
  a.step(reject(10, 6, term));
  drainMsgs(a);
  a.step(appReply("b", "a", term, 6));
  a.step(appReply("b", "a", term, 7));
  drainMsgs(a);
  a.step(reject(10, 6, term)); // the late twin: b's log ended at 5 when it was sent
  drainMsgs(a);
  a.tick();
  const beats = ofType(drainMsgs(a), "AppendEntries").filter((m) => m.to === "b" && m.entries.length === 0);
  expect(beats.length).toBeGreaterThan(0);
  expect(Math.max(...beats.map((m) => m.prevLogIndex))).toBe(7);
});

test("a follower that really lost entries is resent them from its end, its matchIndex kept", () => {
  const a = mkCore("a", ["a", "b", "c"], { terms: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1] });
  makeLeader(a);
  const term = a.status().term;
  a.step(appReply("b", "a", term, 11));
  drainMsgs(a);
  // b restarted with an empty log (-inmem): it rejects the heartbeat at 11, its log ends at 0.
  a.step(reject(11, 1, term));
  const resent = ofType(drainMsgs(a), "AppendEntries").filter((m) => m.to === "b");
  expect(resent.map((m) => m.prevLogIndex)).toContain(0);
  a.tick();
  const beats = ofType(drainMsgs(a), "AppendEntries").filter((m) => m.to === "b" && m.entries.length === 0);
  expect(beats.map((m) => m.prevLogIndex)).toContain(11);
});
