// Goal (issue 17): the cluster view costs nothing while nobody watches and gathers the members'
// reports while someone does:
// - with no page: no timer set and no probe sent, whatever time passes;
// - with one: a view at once, then one a second, each member asked once a second; a member
//   that does not answer within 1.5 s is "unreachable"; the last page to leave stops it all;
// - an answer counts only for a probe in flight, from the address it was sent to (ids carry
//   the incarnation: an answer to an earlier process's probe is never taken);
// - an older build drops the probe tags as a malformed store message (its parser is
//   store/forward.ts's, which takes tags 0 and 1 only), so it never answers and breaks nothing.
// Method: ClusterView (view/cluster_view.ts) with a hand-moved clock, a fake status and a send
// the test delivers or drops.

import { expect, test } from "bun:test";
import { HistogramChild } from "../../../metrics/histogram.ts";
import { nodeId, type RaftStatus } from "../../../raft/core/mod.ts";
import { parseStoreMessage } from "../../../store/forward.ts";
import { ClusterView, type ClusterViewJson } from "../../../view/cluster_view.ts";
import { FollowerTracker } from "../../../view/follower_tracker.ts";
import { type MemberReport, parseProbeMessage, type ProbeMessage, probeMessageValue } from "../../../view/probe_message.ts";
import { Timeline } from "../../../view/timeline.ts";
import { ManualTime } from "./manual_time.ts";

const members = ["a", "b", "c"].map((id) => ({ id: nodeId(id), addr: `${id}:12000`, suffrage: "voter" as const }));

function status(over: Partial<RaftStatus> = {}): RaftStatus {
  return {
    id: nodeId("a"), role: "follower", term: 4, leader: nodeId("b"), votedFor: null, commitIndex: 10, lastApplied: 10,
    lastLogIndex: 11, lastLogTerm: 4, snapshotIndex: 0, members, removed: false, ...over,
  } as RaftStatus;
}

function report(id: string, over: Partial<MemberReport> = {}): MemberReport {
  return { id, httpAddr: `${id}:11000`, role: "follower", removed: false, term: 4, leader: "b", commit: 10, applied: 9, lastIndex: 11, progress: null, ...over };
}

function setup(): { time: ManualTime; view: ClusterView; sent: { addr: string; msg: ProbeMessage }[]; timeline: Timeline } {
  const time = new ManualTime();
  const sent: { addr: string; msg: ProbeMessage }[] = [];
  const timeline = new Timeline();
  const view = new ClusterView({
    id: "a", raftAddr: "a:12000", httpAddr: "a:11000", incarnation: "00000000deadbeef",
    status: () => status(), entries: () => [], send: (addr, msg) => (sent.push({ addr, msg }), true),
    timeline, tracker: new FollowerTracker(time, time), writes: () => [new HistogramChild([1])], reads: () => [],
    timers: time, clock: time, wallClock: time, scheduler: time,
  });
  return { time, view, sent, timeline };
}

/** Answers every probe sent so far (and not yet answered) as `reports` say; others stay silent. */
function answer(view: ClusterView, sent: { addr: string; msg: ProbeMessage }[], reports: Record<string, MemberReport>): void {
  for (const { addr, msg } of sent.splice(0)) {
    const id = addr.split(":")[0]!;
    if (msg.type === "probe" && reports[id] !== undefined) view.receive(addr, { type: "probeAnswer", reqId: msg.reqId, report: reports[id] });
  }
}

test("no timer and no probe while nobody watches", () => {
  const { time, view } = setup();
  time.advance(60_000);
  expect(time.set).toBe(0);
  expect(view.probesSent).toBe(0);
  // The view itself can still be read (GET /ui/state runs a round of its own).
  expect(view.view(false).members.map((m) => m.role)).toEqual(["follower", "unreachable", "unreachable"]);
});

/** Lets promise callbacks (a finished probe round) run, then deferred work. */
async function settle(time: ManualTime): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  time.runDeferred();
}

test("one page: a view at once, then one a second; members asked each second; a silent one unreachable; nothing after it leaves", async () => {
  const { time, view, sent } = setup();
  const views: ClusterViewJson[] = [];
  const leave = view.watch(false, (json) => views.push(JSON.parse(json) as ClusterViewJson));
  expect(sent.map((s) => s.addr)).toEqual(["b:12000", "c:12000"]);
  const progress = [{ id: "a", match: 11, lastContactMs: 12 }, { id: "c", match: 7, lastContactMs: 40 }];
  answer(view, sent, { b: report("b", { role: "leader", lastIndex: 12, commit: 11, progress }), c: report("c") });
  await settle(time);
  expect(views.length).toBe(1);
  const first = views[0]!;
  expect(first.leader).toBe("b");
  expect(first.members.map((m) => [m.id, m.role, m.httpAddr, m.lagEntries, m.lastContactMs])).toEqual([
    ["a", "follower", "a:11000", 1, 12],
    ["b", "leader", "b:11000", 0, null],
    ["c", "follower", "c:11000", 5, 40],
  ]);
  // Next second: c does not answer; 1.5 s after the probe it is unreachable.
  time.advance(1_000);
  expect(views.length).toBe(2);
  expect(sent.length).toBe(2);
  answer(view, sent, { b: report("b", { role: "leader", progress }) });
  time.advance(1_000);
  expect(views[2]!.members.find((m) => m.id === "c")!.role).toBe("follower");
  time.advance(1_000);
  const c = views.at(-1)!.members.find((m) => m.id === "c")!;
  expect(c).toMatchObject({ role: "unreachable", httpAddr: "c:11000", commit: null });
  expect(view.probesSent).toBeGreaterThanOrEqual(8);
  leave();
  // The probe round's own timeout may still be due; after it, nothing is ever set again.
  time.advance(2_000);
  const setAfter = time.set;
  const probesAfter = view.probesSent;
  time.advance(60_000);
  expect(time.set).toBe(setAfter);
  expect(time.pending).toBe(0);
  expect(view.probesSent).toBe(probesAfter);
});

test("GET /ui/state runs a probe round of its own only while no page watches", async () => {
  const { time, view, sent } = setup();
  const alone = view.state(false);
  expect(view.probesSent).toBe(2);
  answer(view, sent, { b: report("b", { role: "leader" }), c: report("c") });
  expect((await alone).members.map((m) => m.role)).toEqual(["follower", "leader", "follower"]);
  expect(time.pending).toBe(0);
  view.watch(false, () => {});
  const probes = view.probesSent;
  await view.state(false);
  expect(view.probesSent).toBe(probes);
});

test("a timeline event reaches a watching page at once", () => {
  const { time, view, timeline } = setup();
  const views: string[] = [];
  view.watch(false, (json) => views.push(json));
  time.runDeferred();
  const before = views.length;
  timeline.add({ at: 1, kind: "election", node: "b", term: 5, detail: "b elected in term 5 after 300 ms", durationMs: 300 });
  time.runDeferred();
  expect(views.length).toBe(before + 1);
  expect(views.at(-1)).toContain("b elected in term 5");
});

test("answers count only for a probe in flight, from the address asked", () => {
  const { time, view, sent } = setup();
  view.watch(false, () => {});
  const probeOfB = sent.find((s) => s.addr === "b:12000")!.msg;
  // From another address, or with an id of an earlier process: ignored.
  view.receive("x:12000", { type: "probeAnswer", reqId: probeOfB.reqId, report: report("b") });
  view.receive("b:12000", { type: "probeAnswer", reqId: "1111111111111111.p1", report: report("b") });
  time.advance(1_600);
  expect(view.view(false).members.find((m) => m.id === "b")!.role).toBe("unreachable");
  expect(probeOfB.reqId.startsWith("00000000deadbeef.")).toBe(true);
});

test("a probe is answered with this node's report; a leader adds its followers' progress", () => {
  const { view, sent } = setup();
  view.receive("b:12000", { type: "probe", reqId: "feedfeedfeedfeed.p9" });
  expect(sent).toEqual([{ addr: "b:12000", msg: { type: "probeAnswer", reqId: "feedfeedfeedfeed.p9", report: { ...report("a", { applied: 10 }), progress: null } } }]);
});

test("probes and answers survive the wire; an older build's parser drops them as malformed", () => {
  const probe: ProbeMessage = { type: "probe", reqId: "0123456789abcdef.p1" };
  const answer: ProbeMessage = { type: "probeAnswer", reqId: "0123456789abcdef.p1", report: report("b", { role: "leader", progress: [{ id: "a", match: null, lastContactMs: 3 }] }) };
  for (const m of [probe, answer]) {
    expect(parseProbeMessage(probeMessageValue(m))).toEqual(m);
    expect(parseStoreMessage(probeMessageValue(m))).toBeNull();
  }
  expect(parseProbeMessage([3, "x.p1", ["b"]])).toBeNull();
  expect(parseProbeMessage([2, "x.p1", "extra"])).toBeNull();
  const value = probeMessageValue(answer) as unknown[];
  (value[2] as unknown[])[2] = "king";
  expect(parseProbeMessage(value)).toBeNull();
  // Forwarded requests are not probes.
  expect(parseProbeMessage([0, "x.1", [4, "k"]])).toBeNull();
});
