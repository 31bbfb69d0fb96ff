// Goal (issue 17): each node keeps its timeline of rare events in a bounded ring, oldest first,
// and derives election, leader-change and step-down events from the driver's soft state, an
// election with how long this node knew no leader, once per outcome.
// Method: the ring and the feed (view/timeline.ts, view/timeline_feed.ts) with a hand-moved clock.

import { expect, test } from "bun:test";
import { nodeId, type SoftState } from "../../../raft/core/mod.ts";
import { Timeline, type TimelineEvent, timelineEventsMax } from "../../../view/timeline.ts";
import { TimelineFeed } from "../../../view/timeline_feed.ts";
import { ManualTime } from "./manual_time.ts";

function event(i: number): TimelineEvent {
  return { at: i, kind: "membership", node: "n", term: 1, detail: `e${i}`, durationMs: null };
}

test("the ring keeps the newest events, oldest first, never more than its capacity", () => {
  const t = new Timeline(3);
  for (let i = 1; i <= 2; i++) t.add(event(i));
  expect(t.events().map((e) => e.at)).toEqual([1, 2]);
  for (let i = 3; i <= 7; i++) t.add(event(i));
  expect(t.events().map((e) => e.at)).toEqual([5, 6, 7]);
  expect(t.size).toBe(3);
  const big = new Timeline();
  for (let i = 0; i < 1000; i++) big.add(event(i));
  expect(big.size).toBe(timelineEventsMax);
  expect(timelineEventsMax).toBe(200);
  expect(big.events()[0]!.at).toBe(800);
  expect(big.events().at(-1)!.at).toBe(999);
});

test("listeners hear each event until they unsubscribe", () => {
  const t = new Timeline(2);
  const heard: number[] = [];
  const stop = t.listen((e) => heard.push(e.at));
  t.add(event(1));
  stop();
  t.add(event(2));
  expect(heard).toEqual([1]);
});

const soft = (role: SoftState["role"], leader: string | null, term: number): SoftState => ({
  role,
  leader: leader === null ? null : nodeId(leader),
  term: term as SoftState["term"],
  removed: false,
});

test("an election is recorded once, with the time this node knew no leader; a step-down and a leader change too", () => {
  const time = new ManualTime();
  const t = new Timeline();
  const feed = new TimelineFeed(t, { id: "n1", clock: time, wallClock: { now: () => 1_764_500_000_000 + time.now() } });
  time.advance(300);
  feed.softState(soft("precandidate", null, 1));
  feed.softState(soft("candidate", null, 2));
  feed.softState(soft("leader", "n1", 2));
  feed.softState(soft("leader", "n1", 2));
  // Loses leadership, no leader for 512 ms, then n2 wins.
  feed.softState(soft("follower", null, 3));
  time.advance(512);
  feed.softState(soft("follower", "n2", 3));
  // A higher term with its leader at once: a change with no gap seen here.
  feed.softState(soft("follower", "n3", 4));
  const events = t.events();
  expect(events.map((e) => [e.kind, e.node, e.term, e.durationMs])).toEqual([
    ["election", "n1", 2, 300],
    ["stepDown", "n1", 3, null],
    ["election", "n2", 3, 512],
    ["leaderChange", "n3", 4, null],
  ]);
  expect(events[2]!.detail).toBe("n2 elected in term 3 after 512 ms");
  expect(events[3]!.detail).toBe("leader now n3 in term 4 (was n2)");
  expect(events[0]!.at).toBe(1_764_500_000_000 + 1_300);
});

test("a node that joins a cluster with a leader records who leads, with no duration it cannot know", () => {
  const time = new ManualTime();
  const t = new Timeline();
  const feed = new TimelineFeed(t, { id: "n3", clock: time, wallClock: time });
  feed.softState(soft("follower", null, 0));
  time.advance(5_000);
  feed.softState(soft("follower", "n1", 7));
  expect(t.events().map((e) => [e.kind, e.node, e.term, e.durationMs, e.detail])).toEqual([["leaderChange", "n1", 7, null, "leader is n1 in term 7"]]);
  // Then its leader is lost and another elected 200 ms later: an election it saw whole.
  feed.softState(soft("precandidate", null, 7));
  time.advance(200);
  feed.softState(soft("follower", "n2", 8));
  expect(t.events().at(-1)!).toMatchObject({ kind: "election", node: "n2", durationMs: 200 });
});

test("snapshots taken and installed are recorded with their index (a taken one with its duration)", () => {
  const time = new ManualTime();
  const t = new Timeline();
  const feed = new TimelineFeed(t, { id: "n2", clock: time, wallClock: time });
  const meta = { lastIncludedIndex: 120 as never, lastIncludedTerm: 3 as never, membership: { members: [] } as never };
  feed.snapshotTaken(meta, 4096, 12.4);
  feed.snapshotInstalled(meta);
  expect(t.events().map((e) => [e.kind, e.node, e.term, e.durationMs, e.detail])).toEqual([
    ["snapshotTaken", "n2", 3, 12, "n2 took a snapshot up to index 120 (4096 bytes)"],
    ["snapshotInstalled", "n2", 3, null, "n2 installed the leader's snapshot up to index 120"],
  ]);
});
