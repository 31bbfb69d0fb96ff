// Goal: a follower told that its leader's connection closed (the leader's process most likely
// ended: a SIGKILL closes its sockets) campaigns as soon as the other voters' stickiness lets
// them vote, not after the rest of its randomized election timeout; and nothing else changes:
// stickiness (what the leader's lease counts on) still refuses votes for electionTicks, a
// word from the leader again cancels the haste, and a disconnect of anyone but the leader is
// ignored. Method: three cores on core_net.ts with PreVote and CheckQuorum on; the leader is
// cut off, then the ticks until a follower starts a (pre)election are counted, over seeds.

import { describe, expect, test } from "bun:test";
import { Net } from "./core_net.ts";

const ELECTION = 10;
/** Ticks after its last word from the leader by which a follower told of the close must campaign. */
const EAGER_MAX = ELECTION + 2;

function cluster(seed: number): Net {
  const net = Net.cluster(["a", "b", "c"], { seed, electionTicks: ELECTION, config: { preVote: true, checkQuorum: true, quietAfterRestart: false } });
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
  test("campaigns within electionTicks plus a little jitter of its last word from the leader", () => {
    const seen: number[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      const net = cluster(seed);
      net.isolate("a");
      net.core("b").leaderDisconnected("a");
      const t = ticksToCampaign(net);
      seen.push(t);
      expect(t).toBeGreaterThanOrEqual(ELECTION);
      expect(t).toBeLessThanOrEqual(EAGER_MAX);
    }
    // And it is elected: c's stickiness ran out at the same time (both heard a last at once).
    expect(seen.length).toBe(12);
  });

  test("is elected by the other follower, which saw the same close", () => {
    const net = cluster(3);
    net.isolate("a");
    net.core("b").leaderDisconnected("a");
    net.core("c").leaderDisconnected("a");
    // Their ticks fall at different moments (each process has its own ticker): b's first.
    for (let t = 0; t < EAGER_MAX + 2 && net.leader() === "a"; t++) {
      net.tick("b");
      net.tick("c");
    }
    const leader = net.leader();
    expect(leader === "b" || leader === "c").toBe(true);
    expect(net.core(leader!).status().term).toBeGreaterThan(net.core("a").status().term);
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
      expect({ seed, ticks: t, leader: net.leader() }).toEqual({ seed, ticks: EAGER_MAX - 1, leader: "b" });
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
