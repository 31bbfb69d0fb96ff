// Goal: a follower that takes several AppendEntries from its leader before one Ready (they
// arrived while it synced the previous one) acknowledges them with one reply, carrying the
// highest match index and read round of them (issue 18: a leader of four followers read, and
// each follower wrote, an ack per message rather than per batch). A rejection still leaves
// on its own, with its hint. Method: core_kit's cores; messages stepped, then one Ready read.
import { expect, test } from "bun:test";
import type { AppendEntries } from "../../../raft/core/mod.ts";
import { app, drain, entry, mkCore, ofType } from "./core_kit.ts";

function withRound(m: AppendEntries, readRound: number): AppendEntries {
  return { ...m, readRound };
}

test("three AppendEntries before a Ready: one ack, of the last match and the highest round", () => {
  const f = mkCore("b", ["a", "b", "c", "d", "e"], { term: 2 });
  f.step(withRound(app("a", "b", 2, 0, 0, [entry(1, 2), entry(2, 2)], 0), 5));
  f.step(withRound(app("a", "b", 2, 2, 2, [entry(3, 2)], 1), 7));
  f.step(withRound(app("a", "b", 2, 3, 2, [entry(4, 2), entry(5, 2)], 3), 6)); // rounds need not arrive in order
  const rd = drain(f)!;
  expect(rd.entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
  const acks = ofType(rd.messagesAfterPersist, "AppendEntriesReply");
  expect(acks).toEqual([
    { type: "AppendEntriesReply", from: "b", to: "a", term: 2, success: true, matchIndex: 5, conflictIndex: 0, conflictTerm: 0, readRound: 7 },
  ]);
  expect(rd.messages).toEqual([]);
});

test("a stale duplicate after a newer append keeps the higher match", () => {
  const f = mkCore("b", ["a", "b", "c"], { term: 2 });
  f.step(app("a", "b", 2, 0, 0, [entry(1, 2), entry(2, 2), entry(3, 2)], 2));
  f.step(app("a", "b", 2, 0, 0, [entry(1, 2)], 0)); // a retransmission of an older one
  const acks = ofType(drain(f)!.messagesAfterPersist, "AppendEntriesReply");
  expect(acks).toHaveLength(1);
  expect(acks[0]!.matchIndex).toBe(3);
});

test("a rejection is not merged with an ack, nor an ack into a rejection", () => {
  const f = mkCore("b", ["a", "b", "c"], { term: 2 });
  f.step(app("a", "b", 2, 0, 0, [entry(1, 2)], 0));
  f.step(app("a", "b", 2, 5, 2, [entry(6, 2)], 0)); // a gap: rejected with a hint
  f.step(app("a", "b", 2, 1, 2, [entry(2, 2)], 0));
  const acks = ofType(drain(f)!.messagesAfterPersist, "AppendEntriesReply");
  expect(acks.map((m) => [m.success, m.matchIndex, m.conflictIndex])).toEqual([[true, 1, 0], [false, 5, 2], [true, 2, 0]]);
});

test("acks of different Readies are not merged", () => {
  const f = mkCore("b", ["a", "b", "c"], { term: 2 });
  f.step(app("a", "b", 2, 0, 0, [entry(1, 2)], 0));
  expect(ofType(drain(f)!.messagesAfterPersist, "AppendEntriesReply").map((m) => m.matchIndex)).toEqual([1]);
  f.step(app("a", "b", 2, 1, 2, [entry(2, 2)], 0));
  expect(ofType(drain(f)!.messagesAfterPersist, "AppendEntriesReply").map((m) => m.matchIndex)).toEqual([2]);
});
