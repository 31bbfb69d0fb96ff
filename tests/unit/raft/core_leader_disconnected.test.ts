// Goal: a follower told that its leader's connection closed (the leader's process most likely
// ended: a SIGKILL closes its sockets) refuses votes only for the lease window (leaseTicks)
// after its last word from the leader, and campaigns as soon as the other voters, who saw the
// same close, may vote: not after an election timeout, nor the rest of its randomized one.
// Nothing else changes: a voter that did not see the close still refuses for electionTicks
// (stickiness), so a leader that a majority hears is never deposed; a word from the leader
// cancels the haste; a disconnect of anyone but the leader is ignored. Method: three (or five)
// cores on core_net.ts with PreVote and CheckQuorum on; the leader is cut off, then the ticks
// until a follower starts a (pre)election, or grants a PreVote, are counted, over seeds.

import { describe, expect, test } from "bun:test";
import type { Message, NodeId } from "../../../raft/core/mod.ts";
import { Net } from "./core_net.ts";

const ELECTION = 10;
/** The lease window L: voters that saw their leader's connection close refuse votes this long. */
const LEASE = 4;
/** Ticks after its last word from the leader by which a follower told of the close must campaign. */
const EAGER_MAX = LEASE + 2;

function cluster(seed: number, ids: readonly NodeId[] = ["a", "b", "c"]): Net {
  const net = Net.cluster(ids, {
    seed, electionTicks: ELECTION, config: { preVote: true, checkQuorum: true, quietAfterRestart: false, leaseTicks: LEASE },
  });
  // a elects itself, and b and c hear its heartbeats.
  net.elect("a");
  net.tickAll(2);
  expect(net.leader()).toBe("a");
  return net;
}

/** Ticks b alone until it leaves the follower role; how many it took. */
function ticksToCampaign(net: Net, limit = 4 * ELECTION): number {
  for (let t = 1; t <= limit; t++) {
    net.tick("b");
    if (net.core("b").status().role !== "follower") return t;
  }
  return Infinity;
}

describe("a follower whose leader's connection closed", () => {
  test("campaigns within leaseTicks plus a little jitter of its last word from the leader", () => {
    const seen: number[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      const net = cluster(seed);
      net.isolate("a");
      net.core("b").leaderDisconnected("a");
      const t = ticksToCampaign(net);
      seen.push(t);
      expect(t).toBeGreaterThan(LEASE);
      expect(t).toBeLessThanOrEqual(EAGER_MAX);
    }
    expect(seen.length).toBe(12);
  });

  test("is elected by the other follower, which saw the same close, within leaseTicks and two slots", () => {
    for (let seed = 1; seed <= 12; seed++) {
      const net = cluster(seed);
      net.isolate("a");
      net.core("b").leaderDisconnected("a");
      net.core("c").leaderDisconnected("a");
      // Their ticks fall at different moments (each process has its own ticker): b's first.
      let t = 0;
      for (; t < 4 * ELECTION && (net.leader() ?? "a") === "a"; t++) {
        net.tick("b");
        net.tick("c");
      }
      const leader = net.leader();
      expect({ seed, leader: leader === "b" || leader === "c" }).toEqual({ seed, leader: true });
      expect(t).toBeLessThanOrEqual(EAGER_MAX + 1);
      expect(net.core(leader!).status().term).toBeGreaterThan(net.core("a").status().term);
    }
  });

  test("grants a PreVote only once leaseTicks have passed since its last word from the leader", () => {
    for (let seed = 1; seed <= 6; seed++) {
      const net = cluster(seed);
      net.isolate("a");
      net.core("c").leaderDisconnected("a");
      const b = net.core("b").status();
      for (let t = 1; t <= LEASE; t++) {
        const replies = preVoteReplies(net, "c", b.term + 1, b.lastLogIndex, b.lastLogTerm);
        // Inside the window the request is ignored: no reply at all, as stickiness does.
        expect({ seed, t, replies }).toEqual({ seed, t, replies: [] });
        net.tick("c");
      }
      expect(preVoteReplies(net, "c", b.term + 1, b.lastLogIndex, b.lastLogTerm)).toEqual([true]);
    }
  });

  test("two followers that heard the close on the same tick do not split the vote: they take turns by rank", () => {
    let judged = 0;
    for (let seed = 1; seed <= 24; seed++) {
      // Seeds whose own randomized timeouts fire by then race the regular path (and may split
      // there, as any two timeouts may): left out.
      const plain = cluster(seed);
      plain.isolate("a");
      let first = 0;
      while (plain.core("b").status().role === "follower" && plain.core("c").status().role === "follower") {
        plain.tickAll(1);
        first++;
      }
      if (first <= EAGER_MAX) continue;
      judged++;
      const net = cluster(seed);
      net.isolate("a");
      net.core("b").leaderDisconnected("a");
      net.core("c").leaderDisconnected("a");
      let t = 0;
      // (a itself steps down meanwhile: CheckQuorum; net.leader() is then null for a while.)
      while ((net.leader() ?? "a") === "a" && t < 4 * ELECTION) {
        net.tickAll(1);
        t++;
      }
      expect({ seed, ticks: t, leader: net.leader() }).toEqual({ seed, ticks: LEASE + 1, leader: "b" });
    }
    expect(judged).toBeGreaterThan(8);
  });

  test("without the notice it waits out its randomized timeout as before (some seeds past EAGER_MAX)", () => {
    const seen: number[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      const net = cluster(seed);
      net.isolate("a");
      seen.push(ticksToCampaign(net));
    }
    expect(Math.max(...seen)).toBeGreaterThan(EAGER_MAX);
  });

  test("a word from the leader again cancels the haste", () => {
    for (let seed = 1; seed <= 12; seed++) {
      const net = cluster(seed);
      net.core("b").leaderDisconnected("a");
      net.tickAll(1); // a heartbeat from a reaches b: the connection was only re-dialled
      net.isolate("a");
      const eager = ticksToCampaign(net);
      const fresh = cluster(seed);
      fresh.tickAll(1);
      fresh.isolate("a");
      expect(eager).toBe(ticksToCampaign(fresh));
    }
  });

  test("a close from anyone but the leader changes nothing", () => {
    for (let seed = 1; seed <= 12; seed++) {
      const net = cluster(seed);
      net.isolate("a");
      net.core("b").leaderDisconnected("c");
      const fresh = cluster(seed);
      fresh.isolate("a");
      expect(ticksToCampaign(net)).toBe(ticksToCampaign(fresh));
    }
  });

  test("a voter that did not see the close still refuses (pre)votes for electionTicks", () => {
    for (let seed = 1; seed <= 6; seed++) {
      const net = cluster(seed);
      net.isolate("a"); // a partition: nothing closes
      const b = net.core("b").status();
      for (let t = 1; t <= ELECTION; t++) {
        expect({ seed, t, replies: preVoteReplies(net, "c", b.term + 1, b.lastLogIndex, b.lastLogTerm) }).toEqual({ seed, t, replies: [] });
        net.tick("c");
        if (net.core("c").status().role !== "follower") break; // its own timeout fired: no longer sticky
      }
    }
  });

  test("five voters: two that saw the close cannot depose a leader the other three still hear", () => {
    const net = cluster(7, ["a", "b", "c", "d", "e"]);
    for (const peer of ["b", "c"]) {
      net.cut.add(`a>${peer}`);
      net.cut.add(`${peer}>a`);
      net.core(peer).leaderDisconnected("a");
    }
    const term = net.core("a").status().term;
    for (let t = 0; t < 4 * ELECTION; t++) net.tickAll(1);
    expect(net.leader()).toBe("a");
    for (const id of ["a", "d", "e"]) expect(net.core(id).status().term).toBe(term);
  });

  test("stickiness is untouched: c refuses b's PreVote while it still hears from a", () => {
    const net = cluster(5);
    net.cut.add("a>b");
    net.cut.add("b>a");
    net.core("b").leaderDisconnected("a");
    for (let t = 0; t < 4 * ELECTION; t++) net.tickAll(1);
    expect(net.leader()).toBe("a");
    expect(net.core("c").status().term).toBe(net.core("a").status().term);
  });
});

/** `to`'s answers (granted or not) to a PreVote from b for `term`, stepped in directly. */
function preVoteReplies(net: Net, to: NodeId, term: number, lastLogIndex: number, lastLogTerm: number): boolean[] {
  const core = net.core(to);
  core.step({ type: "RequestVote", from: "b", to, term, preVote: true, lastLogIndex, lastLogTerm, transfer: false });
  const out: Message[] = [];
  while (core.hasReady()) out.push(...net.readyOnce(to));
  return out.flatMap((m) => (m.type === "RequestVoteReply" && m.preVote ? [m.voteGranted] : []));
}
