// Goal: single-server membership changes (thesis §4.1-§4.2): learners join and are promoted
// automatically, one change at a time and none before the leader commits in its term, a
// removed leader steps down, removed nodes cannot disrupt. Method: in-memory network.
import { describe, expect, test } from "bun:test";
import { app, entry, makeLeader, mkCore } from "./core_kit.ts";
import { bytes, Net } from "./core_net.ts";

function suffrage(net: Net, on: string, id: string): string | undefined {
  return net.core(on).status().members.find((m) => m.id === id)?.suffrage;
}

describe("membership changes", () => {
  test("a new node joins as a learner and is promoted once caught up", () => {
    const net = Net.cluster(["a"]);
    net.tick("a");
    for (let i = 0; i < 30; i++) net.core("a").propose(bytes(`v${i}`));
    net.settle();
    net.add("d", null); // empty, no bootstrap: waits to be contacted
    net.tickAll(30);
    expect(net.core("d").status().role).toBe("follower"); // never campaigned
    const res = net.core("a").proposeConfChange({ type: "addLearner", id: "d", addr: "addr-d" });
    expect(res.ok).toBe(true);
    net.settle();
    net.tickAll(3);
    expect(suffrage(net, "a", "d")).toBe("voter");
    expect(suffrage(net, "d", "d")).toBe("voter");
    expect(net.appliedData("d")).toHaveLength(30);
    // With two voters, a commit needs d's ack too.
    net.isolate("d");
    const p = net.core("a").propose(bytes("needs-d"));
    net.settle();
    expect(p.ok && net.core("a").status().commitIndex < p.id.index).toBe(true);
  });

  test("a learner does not vote in quorums and never campaigns", () => {
    const net = Net.cluster(["a", "b"]);
    net.elect("a");
    net.isolate("b"); // keeps the learner from being promoted... and blocks promotion commit
    net.add("l", null);
    net.cut.delete("a>l");
    net.cut.delete("l>a");
    net.heal();
    net.isolate("b");
    // a has not committed through b yet: b is isolated, so the change cannot commit either.
    const res = net.core("a").proposeConfChange({ type: "addLearner", id: "l", addr: "x" });
    expect(res.ok).toBe(true);
    net.settle();
    // The learner has the log but the entry needs b: a learner's ack does not count.
    expect(res.ok && net.core("a").status().commitIndex < res.id.index).toBe(true);
    net.isolate("a");
    for (let i = 0; i < 40; i++) net.core("l").tick();
    expect(net.core("l").status().role).toBe("follower");
  });

  test("only one change at a time, and none before the leader commits in its term", () => {
    const core = mkCore("a", ["a", "b", "c"]);
    makeLeader(core); // the noop of its term is not committed yet
    expect(core.proposeConfChange({ type: "addLearner", id: "d", addr: "x" })).toMatchObject({
      ok: false, reason: "confChangeInFlight",
    });
    const net = Net.cluster(["a", "b", "c"]);
    net.elect("a");
    net.isolate("b");
    net.isolate("c");
    expect(net.core("a").proposeConfChange({ type: "addLearner", id: "d", addr: "x" }).ok).toBe(true);
    expect(net.core("a").proposeConfChange({ type: "addLearner", id: "e", addr: "y" })).toMatchObject({
      ok: false, reason: "confChangeInFlight",
    });
  });

  test("re-adding the same id and addr is a no-op; a new addr replaces the old one", () => {
    const net = Net.cluster(["a", "b", "c"]);
    net.elect("a");
    net.tickAll(2);
    const a = net.core("a");
    const last = a.status().lastLogIndex;
    const same = a.proposeConfChange({ type: "addLearner", id: "b", addr: "addr-b" });
    expect(same.ok).toBe(true);
    expect(a.status().lastLogIndex).toBe(last);
    const moved = a.proposeConfChange({ type: "addLearner", id: "b", addr: "new-b" });
    expect(moved.ok).toBe(true);
    net.settle();
    expect(a.status().members.find((m) => m.id === "b")).toEqual({ id: "b", addr: "new-b", suffrage: "voter" });
    expect(a.proposeConfChange({ type: "promote", id: "zz" })).toMatchObject({ ok: false, reason: "invalid" });
  });

  test("a config entry takes effect when appended and reverts if truncated (§4.1)", () => {
    const b = mkCore("b", ["a", "b", "c"], { terms: [1], term: 2 });
    const withZ = {
      members: [...b.status().members, { id: "z", addr: "z", suffrage: "learner" as const }],
    };
    const cfg = { index: 2, term: 2, kind: "config" as const, data: new Uint8Array(0), membership: withZ };
    b.step(app("a", "b", 2, 1, 1, [cfg], 0));
    expect(b.status().members.map((m) => m.id)).toEqual(["a", "b", "c", "z"]);
    // A new leader of term 3 overwrites index 2: the configuration reverts to the older one.
    b.step(app("c", "b", 3, 1, 1, [entry(2, 3)], 0));
    expect(b.status().members.map((m) => m.id)).toEqual(["a", "b", "c"]);
  });

  test("a removed leader keeps replicating until the removal commits, then steps down", () => {
    const net = Net.cluster(["a", "b", "c"]);
    net.elect("a");
    net.tickAll(2);
    const res = net.core("a").proposeConfChange({ type: "remove", id: "a" });
    expect(res.ok).toBe(true);
    net.settle();
    net.tickAll(5);
    expect(net.core("a").status().role).toBe("follower");
    const leader = net.leader();
    expect(leader === "b" || leader === "c").toBe(true);
    expect(net.core(leader as string).status().members.map((m) => m.id)).toEqual(["b", "c"]);
    // The new cluster works, and the removed node never campaigns.
    expect(net.core(leader as string).propose(bytes("after")).ok).toBe(true);
    const aTerm = net.core("a").status().term;
    net.isolate("a");
    net.tickAll(60);
    expect(net.core("a").status().term).toBe(aTerm);
  });

  test("a removed follower that missed its removal cannot depose the leader", () => {
    const net = Net.cluster(["a", "b", "c"]);
    net.elect("a");
    net.tickAll(2);
    net.isolate("c");
    expect(net.core("a").proposeConfChange({ type: "remove", id: "c" }).ok).toBe(true);
    net.settle();
    net.tickAll(40);
    const term = net.core("a").status().term;
    net.heal();
    net.tickAll(40);
    expect(net.leader()).toBe("a");
    expect(net.core("a").status().term).toBe(term);
  });
});
