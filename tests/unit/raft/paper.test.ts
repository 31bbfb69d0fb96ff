// Goal: one test per rule of the Raft paper (Ongaro & Ousterhout, "In Search of an
// Understandable Consensus Algorithm", extended version), each citing its section or figure.
// Method: drive a single core directly with step()/tick() and assert on its Ready and
// status; PreVote and CheckQuorum are off here (the paper has neither; they are tested in
// core_features.test.ts). The list follows the etcd paper-test names in SCENARIOS.md.
import { describe, expect, test } from "bun:test";
import { createRng, type Message, type RaftCore } from "../../../raft/core/mod.ts";
import {
  app, appReply, drain, drainMsgs, ELECTION_TICKS, entry, makeLeader, mkCore, ofType, tickUntilCampaign, voteReply, voteReq,
} from "./core_kit.ts";
import { bytes, Net } from "./core_net.ts";

const ABC = ["a", "b", "c"];

/** Puts `core` into `role` at term 1 (leader via votes, candidate via timeout). */
function inRole(role: "follower" | "candidate" | "leader"): RaftCore {
  const core = mkCore("a", ABC);
  drain(core);
  if (role === "candidate") tickUntilCampaign(core);
  if (role === "leader") makeLeader(core);
  drain(core);
  return core;
}

describe("§5.1 terms", () => {
  for (const role of ["follower", "candidate", "leader"] as const) {
    test(`TestUpdateTermFromMessage (${role}): a higher term makes a server a follower of that term`, () => {
      const core = inRole(role);
      const before = core.status().term;
      core.step(app("b", "a", before + 5, 0, 0, [], 0));
      const s = core.status();
      expect(s.role).toBe("follower");
      expect(s.term).toBe(before + 5);
      expect(s.leader).toBe("b");
      // The new term is part of the hard state that must persist.
      expect(drain(core)?.hardState?.currentTerm).toBe(before + 5);
    });
  }

  test("TestRejectStaleTermMessage: a request with a stale term is rejected and changes nothing", () => {
    const core = mkCore("a", ABC, { terms: [1, 2], term: 3 });
    core.step(app("b", "a", 2, 2, 2, [entry(3, 2)], 3));
    const s = core.status();
    expect(s.lastLogIndex).toBe(2);
    expect(s.commitIndex).toBe(0);
    const replies = ofType(drainMsgs(core), "AppendEntriesReply");
    expect(replies).toHaveLength(1);
    expect(replies[0]?.success).toBe(false);
    expect(replies[0]?.term).toBe(3);
  });
});

describe("§5.2 leader election", () => {
  test("TestStartAsFollower: servers begin as followers", () => {
    expect(mkCore("a", ABC).status().role).toBe("follower");
  });

  test("TestLeaderBcastBeat: a leader sends empty AppendEntries every heartbeat interval", () => {
    const core = inRole("leader");
    for (const m of ofType(drainMsgs(core), "AppendEntries")) expect(m.to).not.toBe("a");
    core.tick(); // heartbeatTicks = 1
    const beats = ofType(drainMsgs(core), "AppendEntries");
    expect(beats.map((m) => m.to).sort()).toEqual(["b", "c"]);
    for (const m of beats) expect(m.entries).toHaveLength(0);
  });

  for (const role of ["follower", "candidate"] as const) {
    test(`TestStartElection (${role}): on timeout, increment term, vote for self, RequestVote to all`, () => {
      const core = inRole(role);
      const before = core.status().term;
      let ticks = 0;
      while (core.status().term === before && ticks < 3 * ELECTION_TICKS) {
        core.tick();
        ticks++;
      }
      const s = core.status();
      expect(s.role).toBe("candidate");
      expect(s.term).toBe(before + 1);
      expect(s.votedFor).toBe("a");
      const rd = drain(core);
      expect(rd?.hardState).toEqual({ currentTerm: before + 1, votedFor: "a" });
      // RequestVote depends on the persisted term and vote: it leaves after persistence.
      const reqs = ofType(rd?.messagesAfterPersist ?? [], "RequestVote");
      expect(reqs.map((m) => m.to).sort()).toEqual(["b", "c"]);
      for (const m of reqs) expect(m.term).toBe(before + 1);
    });
  }

  test("TestLeaderElectionInOneRoundRPC: a majority of votes wins, a majority of refusals loses", () => {
    const cases: [number, Record<string, boolean>, string][] = [
      [1, {}, "leader"],
      [3, { b: true, c: true }, "leader"],
      [3, { b: true }, "leader"],
      [5, { b: true, c: true, d: true, e: true }, "leader"],
      [5, { b: true, c: true }, "leader"],
      [3, {}, "candidate"],
      [5, { b: true }, "candidate"],
      [5, { b: false, c: false }, "candidate"],
      [3, { b: false, c: false }, "follower"],
      [5, { b: false, c: false, d: false }, "follower"],
      [5, { b: true, c: false, d: false, e: false }, "follower"],
    ];
    for (const [size, votes, want] of cases) {
      const ids = ["a", "b", "c", "d", "e"].slice(0, size);
      const core = mkCore("a", ids);
      drain(core);
      tickUntilCampaign(core);
      const term = core.status().term;
      for (const [from, granted] of Object.entries(votes)) core.step(voteReply(from, "a", term, granted));
      expect(`${size} ${JSON.stringify(votes)} ${core.status().role}`).toBe(`${size} ${JSON.stringify(votes)} ${want}`);
    }
  });

  test("TestFollowerVote: one vote per term, first come first served", () => {
    const cases: [string | null, string, boolean][] = [
      [null, "b", true],
      [null, "c", true],
      ["b", "b", true],
      ["c", "c", true],
      ["b", "c", false],
      ["c", "b", false],
    ];
    for (const [votedFor, candidate, granted] of cases) {
      const core = mkCore("a", ABC, { terms: [1], term: 1, votedFor });
      core.step(voteReq(candidate, "a", 1, 1, 1));
      const replies = ofType(drainMsgs(core), "RequestVoteReply");
      expect(replies).toHaveLength(1);
      expect([votedFor, candidate, replies[0]?.voteGranted]).toEqual([votedFor, candidate, granted]);
    }
  });

  test("TestCandidateFallback: AppendEntries from a leader of the same or newer term ends candidacy", () => {
    for (const delta of [0, 1]) {
      const core = inRole("candidate");
      const term = core.status().term;
      core.step(app("b", "a", term + delta, 0, 0, [], 0));
      expect(core.status().role).toBe("follower");
      expect(core.status().term).toBe(term + delta);
      expect(core.status().leader).toBe("b");
    }
  });

  for (const role of ["follower", "candidate"] as const) {
    test(`TestElectionTimeoutRandomized (${role}): timeouts spread over [T, 2T)`, () => {
      const seen = new Set<number>();
      for (let seed = 1; seed <= 200; seed++) {
        const core = mkCore("a", ABC, { seed });
        drain(core);
        if (role === "candidate") tickUntilCampaign(core);
        const term = core.status().term;
        let ticks = 0;
        while (core.status().term === term) {
          core.tick();
          ticks++;
        }
        expect(ticks).toBeGreaterThanOrEqual(ELECTION_TICKS);
        expect(ticks).toBeLessThan(2 * ELECTION_TICKS);
        seen.add(ticks);
      }
      // Every value of the range shows up: the timeout really is randomized (§5.2).
      expect(seen.size).toBe(ELECTION_TICKS);
    });
  }

  for (const role of ["follower", "candidate"] as const) {
    test(`TestElectionTimeoutNonconflict (${role}): rarely do two servers time out together`, () => {
      const rng = createRng(99);
      let conflicts = 0;
      const rounds = 300;
      for (let round = 0; round < rounds; round++) {
        const ids = ["a", "b", "c", "d", "e"];
        const cores = ids.map((id) => mkCore(id, ids, { seed: rng.int(1_000_000_000) }));
        for (const c of cores) drain(c);
        if (role === "candidate") for (const c of cores) tickUntilCampaign(c);
        const terms = cores.map((c) => c.status().term);
        let fired = 0;
        while (fired === 0) {
          for (const c of cores) c.tick();
          fired = cores.filter((c, i) => c.status().term !== terms[i]).length;
        }
        if (fired > 1) conflicts++;
      }
      expect(conflicts / rounds).toBeLessThan(0.3);
    });
  }

  test("TestVoteRequest: RequestVote carries the candidate's last log index and term (§5.4.1)", () => {
    const core = mkCore("a", ABC, { terms: [1, 1, 2], term: 2 });
    tickUntilCampaign(core);
    const reqs = ofType(drainMsgs(core), "RequestVote");
    expect(reqs).toHaveLength(2);
    for (const m of reqs) {
      expect(m.term).toBe(3);
      expect(m.lastLogIndex).toBe(3);
      expect(m.lastLogTerm).toBe(2);
    }
  });

  test("TestVoter: votes only for candidates whose log is at least as up-to-date (§5.4.1)", () => {
    const cases: [number[], number, number, boolean][] = [
      [[1], 1, 1, true], // same last term, same index
      [[1], 2, 1, true], // same term, longer
      [[1, 1], 1, 1, false], // same term, shorter
      [[1], 1, 2, true], // newer last term
      [[1], 2, 2, true],
      [[1, 1], 1, 2, true], // newer term beats a longer log
      [[2], 1, 1, false], // older last term
      [[2], 2, 1, false],
      [[1, 2], 1, 1, false],
    ];
    for (const [terms, lastIndex, lastTerm, granted] of cases) {
      const core = mkCore("a", ABC, { terms, term: 3 });
      core.step(voteReq("b", "a", 3, lastIndex, lastTerm));
      const reply = ofType(drainMsgs(core), "RequestVoteReply")[0];
      expect([terms, lastIndex, lastTerm, reply?.voteGranted]).toEqual([terms, lastIndex, lastTerm, granted]);
    }
  });
});

describe("§5.3 log replication", () => {
  test("TestLeaderStartReplication: a proposal is appended and sent to followers in AppendEntries", () => {
    const core = inRole("leader");
    drainMsgs(core);
    const last = core.status().lastLogIndex;
    // Followers that acknowledged the leader's log are replicated to in a pipeline.
    for (const id of ["b", "c"]) core.step(appReply(id, "a", core.status().term, last));
    drainMsgs(core);
    const res = core.propose(bytes("x"));
    expect(res).toEqual({ ok: true, id: { index: last + 1, term: core.status().term } });
    const rd = drain(core);
    expect(rd?.entries.map((e) => e.index)).toEqual([last + 1]);
    const apps = ofType(rd?.messages ?? [], "AppendEntries");
    expect(apps.map((m) => m.to).sort()).toEqual(["b", "c"]);
    for (const m of apps) {
      expect(m.prevLogIndex).toBe(last);
      expect(m.entries.map((e) => e.index)).toEqual([last + 1]);
    }
  });

  /** A leader whose entry last + 1 follower b has just acknowledged (so it is committed). */
  function leaderWithAckedEntry(): { core: RaftCore; last: number } {
    const core = inRole("leader");
    const last = core.status().lastLogIndex;
    const term = core.status().term;
    core.step(appReply("b", "a", term, last));
    core.propose(bytes("x"));
    drainMsgs(core);
    core.step(appReply("b", "a", term, last + 1));
    return { core, last };
  }

  test("TestLeaderCommitEntry: a majority ack commits the entry, which is then applied and sent on", () => {
    const { core, last } = leaderWithAckedEntry();
    expect(core.status().commitIndex).toBe(last + 1);
    const rd = drain(core);
    expect(rd?.committed.at(-1)?.index).toBe(last + 1);
    // The new commit index reaches the followers "in future AppendEntries RPCs (including
    // heartbeats)" (§5.3): here, with nothing else to send, within one tick.
    expect(ofType(rd?.messages ?? [], "AppendEntries").some((m) => m.leaderCommit === last + 1)).toBe(false);
    core.tick();
    const apps = ofType(drainMsgs(core), "AppendEntries");
    expect(apps.some((m) => m.to === "b" && m.leaderCommit === last + 1)).toBe(true);
    expect(apps.some((m) => m.to === "c" && m.leaderCommit === last + 1)).toBe(false);
  });

  test("a new commit index rides on the next AppendEntries without a heartbeat of its own", () => {
    const { core, last } = leaderWithAckedEntry();
    core.propose(bytes("y"));
    const apps = ofType(drainMsgs(core), "AppendEntries").filter((m) => m.to === "b");
    expect(apps.length).toBe(1);
    expect(apps[0]!.entries.length).toBe(1);
    expect(apps[0]!.leaderCommit).toBe(last + 1);
  });

  test("TestLeaderAcknowledgeCommit: commit needs acks from a majority, the leader included", () => {
    const cases: [number, string[], boolean][] = [
      [1, [], true],
      [3, [], false],
      [3, ["b"], true],
      [3, ["b", "c"], true],
      [5, [], false],
      [5, ["b"], false],
      [5, ["b", "c"], true],
      [5, ["b", "c", "d"], true],
    ];
    for (const [size, ackers, committed] of cases) {
      const ids = ["a", "b", "c", "d", "e"].slice(0, size);
      const core = mkCore("a", ids);
      drain(core);
      makeLeader(core);
      const res = core.propose(bytes("x"));
      if (!res.ok) throw new Error("refused");
      const index = res.id.index;
      drainMsgs(core);
      for (const id of ackers) core.step(appReply(id, "a", core.status().term, index));
      drainMsgs(core);
      expect([size, ackers, core.status().commitIndex >= index]).toEqual([size, ackers, committed]);
    }
  });

  test("TestLeaderCommitPrecedingEntries: committing a current-term entry commits earlier ones (§5.3)", () => {
    for (const terms of [[], [2], [1, 1], [1, 2]]) {
      const core = mkCore("a", ABC, { terms, term: 2 });
      makeLeader(core);
      const res = core.propose(bytes("x"));
      if (!res.ok) throw new Error("refused");
      drainMsgs(core);
      core.step(appReply("b", "a", 3, res.id.index));
      const rd = drain(core);
      // Everything up to the new entry is handed out for applying, in order.
      const indexes = rd?.committed.map((e) => e.index) ?? [];
      expect(indexes).toEqual(Array.from({ length: res.id.index }, (_, i) => i + 1));
    }
  });

  test("TestFollowerCommitEntry: a follower applies entries up to the leader's commit index", () => {
    const cases: [number, number][] = [
      [1, 1],
      [2, 2],
      [2, 1],
      [3, 2],
    ];
    for (const [count, commit] of cases) {
      const core = mkCore("a", ABC, { terms: [], term: 1 });
      const ents = Array.from({ length: count }, (_, i) => entry(i + 1, 1));
      core.step(app("b", "a", 1, 0, 0, ents, commit));
      expect(core.status().commitIndex).toBe(commit);
      const rd = drain(core);
      expect(rd?.committed.map((e) => e.index)).toEqual(ents.slice(0, commit).map((e) => e.index));
    }
  });

  test("TestFollowerCheckMsgApp: the consistency check on prevLogIndex/prevLogTerm, with hints", () => {
    // Follower log: (1,1) (2,2). Cases: [prevIndex, prevTerm, success, conflictIndex, conflictTerm]
    const cases: [number, number, boolean, number, number][] = [
      [0, 0, true, 0, 0],
      [1, 1, true, 0, 0],
      [2, 2, true, 0, 0],
      [1, 2, false, 1, 1], // term mismatch at 1: hint is the start of our term-1 run
      [3, 3, false, 3, 0], // beyond our log: hint is our end
    ];
    for (const [prev, prevTerm, success, ci, ct] of cases) {
      const core = mkCore("a", ABC, { terms: [1, 2], term: 2 });
      core.step(app("b", "a", 2, prev, prevTerm, [], 0));
      const reply = ofType(drainMsgs(core), "AppendEntriesReply")[0];
      expect([prev, reply?.success, success ? 0 : reply?.conflictIndex, success ? 0 : reply?.conflictTerm]).toEqual([
        prev, success, success ? 0 : ci, success ? 0 : ct,
      ]);
    }
  });

  test("TestFollowerAppendEntries: conflicting entries are replaced, matching ones kept (§5.3)", () => {
    const cases: [number, number, [number, number][], number[]][] = [
      [2, 2, [[3, 3]], [1, 2, 3]],
      [1, 1, [[2, 3], [3, 4]], [1, 3, 4]],
      [0, 0, [[1, 1]], [1, 2]], // a stale message: nothing is truncated
      [0, 0, [[1, 3]], [3]],
    ];
    for (const [prev, prevTerm, raw, want] of cases) {
      const core = mkCore("a", ABC, { terms: [1, 2], term: 2 });
      core.step(app("b", "a", 4, prev, prevTerm, raw.map(([i, t]) => entry(i, t)), 0));
      expect(core.entries().map((e) => e.term)).toEqual(want);
      // A truncation shows in Ready.entries starting at the first replaced index.
      const rd = drain(core);
      const changed = raw.filter(([i, t]) => [1, 2][i - 1] !== t);
      expect(rd?.entries[0]?.index).toBe(changed[0]?.[0]);
    }
  });

  test("TestLeaderSyncFollowerLog: Figure 7 followers (a)-(f) converge on the leader's log", () => {
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers = [
      [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a)
      [1, 1, 1, 4], // (b)
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c)
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d)
      [1, 1, 1, 4, 4, 4, 4], // (e)
      [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f)
    ];
    for (const flog of followers) {
      const net = new Net({ config: { preVote: false, checkQuorum: false } });
      const kitLeader = mkCore("a", ABC, { terms: leaderLog, term: 8 });
      net.cores.set("a", kitLeader);
      net.disks.set("a", { hardState: { currentTerm: 8, votedFor: null }, snapshot: null, entries: [] });
      for (const [id, log] of [["b", flog], ["c", leaderLog]] as const) {
        net.cores.set(id, mkCore(id, ABC, { terms: log, term: 8 }));
        net.disks.set(id, { hardState: { currentTerm: 8, votedFor: null }, snapshot: null, entries: [] });
      }
      for (const id of ABC) {
        net.applied.set(id, []);
        net.reads.set(id, []);
        net.dropped.set(id, []);
        net.readies.set(id, []);
      }
      // Only c votes (b may refuse), then the leader replicates and commits its noop.
      net.isolate("b");
      net.elect("a");
      net.heal();
      net.tick("a", 3);
      const want = net.core("a").entries().map((e) => [e.index, e.term]);
      expect(net.core("b").entries().map((e) => [e.index, e.term])).toEqual(want);
    }
  });
});

describe("§5.4 safety", () => {
  test("TestLeaderOnlyCommitsLogFromCurrentTerm: replica counting commits only current-term entries (Figure 8)", () => {
    // Leader of term 3 with entries from term 1 and 2; it appends its noop at index 3.
    const core = mkCore("a", ABC, { terms: [1, 2], term: 2 });
    makeLeader(core);
    expect(core.status().term).toBe(3);
    // A majority holds index 2 (an older-term entry): that alone must not commit it.
    core.step(appReply("b", "a", 3, 2));
    expect(core.status().commitIndex).toBe(0);
    // Once the term-3 noop is on a majority, it and everything before it commit.
    core.step(appReply("b", "a", 3, 3));
    expect(core.status().commitIndex).toBe(3);
  });

  test("Figure 8: an old-term entry on a majority can still be overwritten, so it was never committed", () => {
    // S1 leader of term 2 replicated (2,2) to S2 only; S5 won term 3 and wrote (2,3).
    // S1 then wins term 4 and gets (2,2) to S3: a majority, yet it must not commit it.
    const ids = ["s1", "s2", "s3", "s4", "s5"];
    const s1 = mkCore("s1", ids, { terms: [1, 2], term: 3 });
    makeLeader(s1);
    const term = s1.status().term;
    s1.step(appReply("s2", "s1", term, 2));
    s1.step(appReply("s3", "s1", term, 2));
    expect(s1.status().commitIndex).toBe(0);
    const msgs: Message[] = drainMsgs(s1);
    expect(ofType(msgs, "AppendEntries").every((m) => m.leaderCommit === 0)).toBe(true);
  });
});
