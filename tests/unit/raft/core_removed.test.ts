// Goal: a removed server knows it was removed (status `removed`, one soft-state change for the
// driver to log), never campaigns and does not disturb the cluster, whether it was connected
// when removed or missed its removal and comes back asking for votes. A server still waiting
// to be added has never been listed, so it is not "removed". Method: in-memory network.
import { expect, test } from "bun:test";
import type { RaftCore } from "../../../raft/core/mod.ts";
import { bytes, Net } from "./core_net.ts";

function ids(core: RaftCore): string[] {
  return core.status().members.map((m) => m.id);
}

/** How many Readies of `id` reported a change to removed = `value`. */
function removalReports(net: Net, id: string, value: boolean): number {
  return (net.readies.get(id) ?? []).filter((rd) => rd.softState?.removed === value).length;
}

test("a follower removed while connected learns its removal and never campaigns", () => {
  const net = Net.cluster(["a", "b", "c"]);
  net.elect("a");
  net.tickAll(2);
  expect(net.core("a").proposeConfChange({ type: "remove", id: "c" }).ok).toBe(true);
  net.settle();
  net.tickAll(3);
  const c = net.core("c");
  expect(ids(c)).toEqual(["a", "b"]);
  expect(c.status().removed).toBe(true);
  expect(removalReports(net, "c", true)).toBe(1);
  expect(net.core("a").status().removed).toBe(false);
  // Cut off from everyone, it still never starts an election.
  const term = c.status().term;
  net.isolate("c");
  net.tickAll(60);
  expect(c.status().role).toBe("follower");
  expect(c.status().term).toBe(term);
  expect(removalReports(net, "c", true)).toBe(1);
});

test("a follower that missed its removal learns it from the leader, and the leader then lets it go", () => {
  const net = Net.cluster(["a", "b", "c"]);
  net.elect("a");
  net.tickAll(2);
  net.isolate("c");
  expect(net.core("a").proposeConfChange({ type: "remove", id: "c" }).ok).toBe(true);
  net.settle();
  for (let i = 0; i < 5; i++) net.core("a").propose(bytes(`after-${i}`));
  net.settle();
  net.tickAll(40);
  const term = net.core("a").status().term;
  expect(net.core("c").status().removed).toBe(false); // it has not heard yet
  net.heal();
  net.tickAll(40);
  const c = net.core("c");
  expect(c.status().removed).toBe(true);
  expect(ids(c)).toEqual(["a", "b"]);
  expect(c.status().lastLogIndex).toBeGreaterThanOrEqual(net.core("a").status().commitIndex - 5);
  expect(net.leader()).toBe("a");
  expect(net.core("a").status().term).toBe(term);
  // It holds its removal: the leader stops sending it anything, and it stays quiet.
  const before = net.sent.length;
  net.tickAll(30);
  const toOrFromC = net.sent.slice(before).filter((m) => m.to === "c" || m.from === "c");
  expect(toOrFromC).toEqual([]);
  expect(c.status().term).toBe(term);
});

test("a node waiting to be added is not removed; once added and then removed, it is", () => {
  const net = Net.cluster(["a"]);
  net.tick("a");
  const d = net.add("d", null);
  net.tickAll(30);
  expect(d.status().removed).toBe(false);
  expect(removalReports(net, "d", true)).toBe(0);
  expect(net.core("a").proposeConfChange({ type: "addLearner", id: "d", addr: "addr-d" }).ok).toBe(true);
  net.settle();
  net.tickAll(5);
  expect(d.status().removed).toBe(false);
  expect(ids(d)).toEqual(["a", "d"]);
  expect(net.core("a").proposeConfChange({ type: "remove", id: "d" }).ok).toBe(true);
  net.settle();
  net.tickAll(5);
  expect(d.status().removed).toBe(true);
});

test("a removed node restarted from its own log says so in its first Ready; added back, it is a member again", () => {
  const net = Net.cluster(["a", "b", "c"]);
  net.elect("a");
  net.tickAll(2);
  expect(net.core("a").proposeConfChange({ type: "remove", id: "c" }).ok).toBe(true);
  net.settle();
  net.tickAll(3);
  const c = net.restart("c");
  expect(c.status().removed).toBe(true);
  expect(c.hasReady()).toBe(true);
  expect(c.ready().softState?.removed).toBe(true);
  net.cores.set("c", net.restart("c"));
  net.tickAll(3);
  expect(net.core("a").proposeConfChange({ type: "addLearner", id: "c", addr: "addr-c" }).ok).toBe(true);
  net.settle();
  net.tickAll(10);
  expect(net.core("c").status().removed).toBe(false);
  expect(net.core("c").status().members.find((m) => m.id === "c")?.suffrage).toBe("voter");
  expect(removalReports(net, "c", false)).toBeGreaterThan(0);
});
