// Goal (issue 17): the leader's view of its followers costs nothing until a probe arms it, then
// keeps each follower's highest acknowledged index of the current term and when it was last
// heard from, and disarms itself (forgetting all) once no probe came for 10 s (checked every 10 s).
// Method: FollowerTracker (view/follower_tracker.ts) fed Raft messages, with hand-moved time.

import { expect, test } from "bun:test";
import { type Message, nodeId } from "../../../raft/core/mod.ts";
import { FollowerTracker } from "../../../view/follower_tracker.ts";
import { ManualTime } from "./manual_time.ts";

function ack(from: string, term: number, matchIndex: number, success = true): Message {
  return { type: "AppendEntriesReply", from: nodeId(from), to: nodeId("a"), term, success, matchIndex, conflictIndex: 0, conflictTerm: 0, readRound: 0 } as unknown as Message;
}

test("armed by a probe, it keeps match and last contact of the current term; it disarms within 20 s of the last probe", () => {
  const time = new ManualTime();
  const t = new FollowerTracker(time, time);
  expect(t.isArmed).toBe(false);
  expect(time.set).toBe(0);
  t.probed();
  expect(t.isArmed).toBe(true);
  t.received(ack("b", 3, 10));
  t.received(ack("b", 3, 8));
  t.received(ack("c", 3, 5, false));
  time.advance(40);
  expect(t.progress(["b", "c", "d"], 3)).toEqual([
    { id: "b", match: 10, lastContactMs: 40 },
    { id: "c", match: null, lastContactMs: 40 },
    { id: "d", match: null, lastContactMs: null },
  ]);
  // A newer term starts afresh; an older one's replies no longer count.
  t.received(ack("b", 4, 2));
  t.received(ack("c", 3, 9));
  expect(t.progress(["b", "c"], 4).map((p) => p.match)).toEqual([2, null]);
  expect(t.progress(["b"], 3)[0]!.match).toBeNull();
  time.advance(9_000);
  t.probed();
  time.advance(9_000);
  expect(t.isArmed).toBe(true);
  // Checked every 10 s: disarmed within 20 s of the last probe.
  time.advance(11_000);
  expect(t.isArmed).toBe(false);
  expect(time.pending).toBe(0);
  expect(t.progress(["b"], 4)).toEqual([{ id: "b", match: null, lastContactMs: null }]);
});

test("closing it clears its timer", () => {
  const time = new ManualTime();
  const t = new FollowerTracker(time, time);
  t.probed();
  t.close();
  expect(time.pending).toBe(0);
  expect(t.isArmed).toBe(false);
});
