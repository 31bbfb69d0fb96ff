// Goal: the leader's lease (raft/lease.ts) and the rounds that time it (raft/core/read_index.ts):
// a round is dated when first observed, holds for (leaseTicks - 1) ticks less the drift
// share, never holds once expired or if never observed; the core names the newest round a
// majority acknowledged, only while leading, and never after a leadership transfer began.

import { expect, test } from "bun:test";
import { LeaderLease } from "../../../raft/lease.ts";
import { bytes, Net } from "./core_net.ts";

function lease(): { l: LeaderLease; clock: { t: number; now(): number } } {
  const clock = { t: 0, now: () => clock.t };
  return { l: new LeaderLease({ clock, tickMs: 10, driftFraction: 0.1 }, 11), clock };
}

test("a round holds from its first observation for (leaseTicks - 1) ticks less the drift share", () => {
  const { l, clock } = lease();
  expect(l.durationMs).toBe(90);
  clock.t = 100;
  l.observe(3);
  clock.t = 150;
  l.observe(3); // seen again: still dated 100
  l.observe(5);
  expect(l.holds(1)).toBe(true); // dated by the first observation at or after it
  expect(l.holds(4)).toBe(true); // dated 150, no earlier than any of its messages left
  clock.t = 189.9;
  expect(l.holds(3)).toBe(true);
  clock.t = 190;
  expect(l.holds(3)).toBe(false);
  expect(l.holds(5)).toBe(true);
  expect(l.holds(6)).toBe(false); // never observed: nothing carrying it was sent
  expect(l.holds(0)).toBe(false);
});

test("expired rounds never hold again, even when later rounds are observed", () => {
  const { l, clock } = lease();
  l.observe(1);
  clock.t = 1000;
  l.observe(2);
  expect(l.holds(1)).toBe(false);
  expect(l.holds(2)).toBe(true);
});

test("bad timing is refused", () => {
  const clock = { now: () => 0 };
  expect(() => new LeaderLease({ clock, tickMs: 0 }, 10)).toThrow(RangeError);
  expect(() => new LeaderLease({ clock, tickMs: 10 }, 1)).toThrow(RangeError);
  expect(() => new LeaderLease({ clock, tickMs: 10, driftFraction: 1 }, 10)).toThrow(RangeError);
});

test("the core's quorum round: acknowledged by a majority, leader only, new each tick", () => {
  const net = Net.cluster(["a", "b", "c"]);
  net.elect("a");
  net.tickAll(2);
  const a = net.core("a");
  const r1 = a.quorumRound();
  expect(r1).toBeGreaterThan(0);
  expect(a.readRound()).toBeGreaterThanOrEqual(r1);
  expect(net.core("b").quorumRound()).toBe(0);
  net.tick("a");
  expect(a.quorumRound()).toBeGreaterThan(r1);
  // One follower cut off: the other still makes a majority.
  net.isolate("c");
  net.cut.delete("a>b");
  net.cut.delete("b>a");
  const r2 = a.quorumRound();
  net.tick("a");
  expect(a.quorumRound()).toBeGreaterThan(r2);
  // Both cut off: rounds go on, acknowledgements do not.
  net.isolate("a");
  const r3 = a.quorumRound();
  net.tick("a", 3);
  expect(a.readRound()).toBeGreaterThan(r3);
  expect(a.quorumRound()).toBe(r3);
});

test("a leader that began a leadership transfer holds no lease for the rest of its term", () => {
  const net = Net.cluster(["a", "b", "c"]);
  net.elect("a");
  net.tickAll(2);
  const a = net.core("a");
  net.cut.add("a>b"); // the transfer cannot complete
  expect(a.transferLeadership("b")).toBe(true);
  net.tickAll(30); // the transfer is abandoned after an election timeout
  net.heal();
  a.propose(bytes("x"));
  net.tickAll(2);
  expect(a.status().role).toBe("leader");
  expect(a.quorumRound()).toBe(0);
});

test("the lease window: half the election timeout, at least two heartbeats, at most the timeout", () => {
  const window = (electionTicks: number, heartbeatTicks: number, leaseTicks?: number): number =>
    Net.cluster(["a"], { electionTicks, heartbeatTicks, ...(leaseTicks === undefined ? {} : { config: { leaseTicks } }) }).core("a").leaseTicks();
  expect(window(50, 10)).toBe(25); // hraftd's defaults: -election-timeout 500ms, -heartbeat 100ms, -tick 10ms
  expect(window(50, 20)).toBe(40);
  expect(window(50, 40)).toBe(50);
  expect(window(3, 1)).toBe(2);
  expect(window(10, 1, 7)).toBe(7);
  expect(() => window(10, 1, 11)).toThrow(RangeError);
  expect(() => window(10, 1, 1)).toThrow(RangeError);
});
