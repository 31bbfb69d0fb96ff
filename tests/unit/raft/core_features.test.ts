// Goal: the core's features beyond the paper's Figure 2: PreVote, CheckQuorum, leader
// stickiness, leadership transfer, ReadIndex, fast backtracking. Method: small clusters on
// the synchronous in-memory network (core_net.ts), or one core driven directly.
import { describe, expect, test } from "bun:test";
import type { AppendEntriesReply } from "../../../raft/core/mod.ts";
import { drainMsgs, makeLeader, mkCore, ofType, voteReq } from "./core_kit.ts";
import { bytes, Net } from "./core_net.ts";

const ABC = ["a", "b", "c"];

function elected(ids = ABC, leader = "a", opts = {}): Net {
  const net = Net.cluster(ids, opts);
  net.elect(leader);
  net.tickAll(2);
  return net;
}

describe("PreVote (thesis §9.6)", () => {
  test("a partitioned follower does not inflate its term and cannot disrupt on return", () => {
    const net = elected();
    const term = net.core("a").status().term;
    net.isolate("c");
    net.tickAll(60);
    expect(net.core("c").status().term).toBe(term);
    expect(net.core("c").status().role).toBe("precandidate");
    net.heal();
    net.tickAll(5);
    expect(net.leader()).toBe("a");
    expect(net.core("a").status().term).toBe(term);
    expect(net.core("c").status().leader).toBe("a");
  });

  test("a PreVote round that wins goes on to a real election in term + 1", () => {
    const net = Net.cluster(ABC);
    const before = net.core("b").status().term;
    net.elect("b");
    expect(net.core("b").status().term).toBe(before + 1);
    const pre = net.sent.filter((m) => m.type === "RequestVote" && m.preVote);
    expect(pre.length).toBeGreaterThan(0);
  });
});

describe("CheckQuorum (thesis §6.2)", () => {
  test("a leader cut off from the majority steps down within an election timeout", () => {
    const net = elected();
    net.isolate("a");
    net.tickAll(25);
    expect(net.core("a").status().role).not.toBe("leader");
    const leader = net.leader();
    expect(leader === "b" || leader === "c").toBe(true);
  });

  test("a leader that hears from a majority stays leader", () => {
    const net = elected();
    net.isolate("c");
    net.tickAll(60);
    expect(net.leader()).toBe("a");
  });
});

describe("leader stickiness (thesis §4.2.3)", () => {
  test("a follower with a live leader ignores a higher-term RequestVote unless it is a transfer", () => {
    const net = elected();
    const b = net.core("b");
    const term = b.status().term;
    const last = b.status().lastLogIndex;
    const lastTerm = b.entries().at(-1)?.term ?? 0;
    b.step(voteReq("c", "b", term + 1, last, lastTerm));
    expect(b.status().term).toBe(term);
    expect(b.hasReady()).toBe(false);
    b.step({ ...voteReq("c", "b", term + 1, last, lastTerm), transfer: true });
    expect(b.status().term).toBe(term + 1);
    const reply = ofType(drainMsgs(b), "RequestVoteReply")[0];
    expect(reply?.voteGranted).toBe(true);
  });

  test("once the leader is silent for an election timeout, votes are granted again", () => {
    const net = elected();
    const b = net.core("b");
    for (let i = 0; i < 10; i++) b.tick();
    const term = b.status().term;
    b.step(voteReq("c", "b", term + 1, b.status().lastLogIndex, b.entries().at(-1)?.term ?? 0));
    expect(b.status().term).toBe(term + 1);
  });
});

describe("leadership transfer (thesis §3.10)", () => {
  test("an up-to-date target is elected at once; proposals are refused meanwhile", () => {
    const net = elected();
    const a = net.core("a");
    const term = a.status().term;
    expect(a.transferLeadership("b")).toBe(true);
    expect(a.propose(bytes("x"))).toMatchObject({ ok: false, reason: "transferring" });
    net.settle();
    expect(net.leader()).toBe("b");
    expect(net.core("b").status().term).toBe(term + 1);
    expect(net.sent.some((m) => m.type === "TimeoutNow" && m.to === "b")).toBe(true);
  });

  test("a lagging target is caught up first, then takes over with every entry", () => {
    const net = elected();
    net.isolate("c");
    for (let i = 0; i < 20; i++) net.core("a").propose(bytes(`v${i}`));
    net.settle();
    net.heal();
    expect(net.core("a").transferLeadership("c")).toBe(true);
    net.settle();
    expect(net.leader()).toBe("c");
    net.tickAll(3);
    expect(net.appliedData("c")).toHaveLength(20);
  });

  test("a transfer to an unreachable target is abandoned after an election timeout", () => {
    const net = elected();
    net.isolate("c");
    const a = net.core("a");
    a.propose(bytes("x"));
    net.settle();
    expect(a.transferLeadership("c")).toBe(true);
    net.tickAll(11);
    expect(net.leader()).toBe("a");
    expect(a.propose(bytes("y")).ok).toBe(true);
  });

  test("transfer to self, a non-member or from a follower is refused", () => {
    const net = elected();
    expect(net.core("a").transferLeadership("a")).toBe(false);
    expect(net.core("a").transferLeadership("zz")).toBe(false);
    expect(net.core("b").transferLeadership("c")).toBe(false);
  });
});

describe("ReadIndex (thesis §6.4)", () => {
  test("reads on the leader are confirmed by one heartbeat round, batched", () => {
    const net = elected();
    const a = net.core("a");
    a.propose(bytes("x"));
    net.settle();
    const commit = a.status().commitIndex;
    const sentBefore = net.sent.length;
    for (let i = 0; i < 100; i++) a.readIndex(`r${i}`);
    net.settle();
    const reads = net.reads.get("a") ?? [];
    expect(reads.map((r) => r.ctx)).toEqual(Array.from({ length: 100 }, (_, i) => `r${i}`));
    for (const r of reads) expect(r.readIndex).toBe(commit);
    const rounds = new Set(
      net.sent.slice(sentBefore).filter((m) => m.type === "AppendEntries").map((m) => (m.type === "AppendEntries" ? m.readRound : 0)),
    );
    expect(rounds.size).toBe(1);
  });

  test("a leader without a reachable majority serves nothing, and drops reads when it steps down", () => {
    const net = elected();
    net.isolate("a");
    net.core("a").readIndex("lost");
    net.settle();
    expect(net.reads.get("a")).toEqual([]);
    net.tickAll(25);
    expect(net.dropped.get("a")).toContain("lost");
  });

  test("a follower forwards reads to the leader and gets the read index back", () => {
    const net = elected();
    net.core("a").propose(bytes("x"));
    net.settle();
    net.core("b").readIndex("f1");
    net.settle();
    const reads = net.reads.get("b") ?? [];
    expect(reads).toEqual([{ ctx: "f1", readIndex: net.core("a").status().commitIndex }]);
  });

  test("a node with no leader drops reads; pendingReadsMax bounds the queue", () => {
    const solo = mkCore("a", ABC);
    solo.readIndex("nobody");
    expect(solo.ready().droppedReads).toEqual(["nobody"]);
    const net = elected(ABC, "a", { config: { pendingReadsMax: 2 } });
    net.isolate("a");
    for (const ctx of ["p1", "p2", "p3"]) net.core("a").readIndex(ctx);
    net.settle();
    expect(net.dropped.get("a")).toEqual(["p3"]);
  });

  test("a new leader answers reads only after committing an entry of its term", () => {
    const core = mkCore("a", ABC);
    makeLeader(core);
    core.readIndex("early");
    const msgs = drainMsgs(core);
    expect(ofType(msgs, "AppendEntries").every((m) => m.readRound === 0)).toBe(true);
    const term = core.status().term;
    const last = core.status().lastLogIndex;
    const ack = (from: string, round: number): AppendEntriesReply => ({
      type: "AppendEntriesReply", from, to: "a", term, success: true, matchIndex: last, conflictIndex: 0, conflictTerm: 0, readRound: round,
    });
    core.step(ack("b", 0)); // commits the noop
    const round = ofType(drainMsgs(core), "AppendEntries").find((m) => m.readRound > 0)?.readRound ?? 0;
    expect(round).toBeGreaterThan(0);
    core.step(ack("c", round));
    const rd = core.ready();
    expect(rd.readStates).toEqual([{ ctx: "early", readIndex: last }]);
  });

  test("a single-node leader serves reads at once", () => {
    const net = Net.cluster(["solo"]);
    net.tick("solo");
    net.core("solo").readIndex("s");
    net.settle();
    expect(net.reads.get("solo")?.map((r) => r.ctx)).toEqual(["s"]);
  });
});

describe("flow control", () => {
  test("proposals are refused as busy while uncommittedBytesMax bytes are outstanding", () => {
    const net = elected(ABC, "a", { config: { uncommittedBytesMax: 100 } });
    net.isolate("a");
    const a = net.core("a");
    expect(a.propose(bytes("x".repeat(60))).ok).toBe(true);
    expect(a.propose(bytes("y".repeat(60)))).toMatchObject({ ok: false, reason: "busy" });
    net.heal();
    net.settle();
    net.tickAll(2);
    expect(a.propose(bytes("y".repeat(60))).ok).toBe(true);
  });

  test("many proposals between two Readies travel in one AppendEntries per follower", () => {
    const net = elected();
    net.tickAll(2);
    const a = net.core("a");
    for (let i = 0; i < 200; i++) a.propose(bytes(`v${i}`));
    const rd = a.ready();
    const apps = rd.messages.filter((m) => m.type === "AppendEntries" && m.entries.length > 0);
    expect(apps.map((m) => m.to).sort()).toEqual(["b", "c"]);
    for (const m of apps) expect(m.type === "AppendEntries" && m.entries.length).toBe(200);
    a.advance(rd);
  });
});

describe("fast backtracking (§5.3 optimization, TestBackup-like)", () => {
  test("a follower with 50+ divergent entries is repaired in a few round trips", () => {
    const ids = ["a", "b", "c", "d", "e"];
    const net = elected(ids);
    // a and b are cut off; a keeps appending 60 entries that will never commit.
    net.isolate("a");
    net.isolate("b");
    for (let i = 0; i < 60; i++) net.core("a").propose(bytes(`lost${i}`));
    net.settle();
    expect(net.core("a").status().lastLogIndex).toBeGreaterThan(60);
    // c, d, e elect c and commit 60 entries of a newer term.
    net.heal();
    net.isolate("a");
    net.isolate("b");
    net.cut.delete("b>c");
    net.cut.delete("c>b");
    for (const id of ["c", "d", "e"]) for (const o of ["c", "d", "e"]) net.cut.delete(`${id}>${o}`);
    net.tickAll(30);
    const leader = net.leader();
    expect(leader !== null && leader !== "a").toBe(true);
    for (let i = 0; i < 60; i++) net.core(leader as string).propose(bytes(`kept${i}`));
    net.settle();
    net.heal();
    const before = net.sent.length;
    net.tickAll(5);
    const rejections = net.sent
      .slice(before)
      .filter((m) => m.type === "AppendEntriesReply" && m.from === "a" && !m.success).length;
    expect(rejections).toBeLessThanOrEqual(3);
    expect(net.core("a").entries().map((e) => e.term)).toEqual(net.core(leader as string).entries().map((e) => e.term));
    expect(net.appliedData("a").filter((s) => s.startsWith("lost"))).toEqual([]);
  });
});
