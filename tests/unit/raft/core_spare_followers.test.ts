// Goal: a leader of five sends each new entry at once to the followers a commit needs (two
// of four), and the other two, the spares, take what they lack every fourth tick, in one
// batch, or at once when commits stopped for a tick (issue 18, five nodes against three:
// every follower paid a receive, a WAL write, an fdatasync and an ack per batch; the spares'
// added nothing to a commit but CPU on a shared machine). A leader of three or four sends to
// every follower as before. A spare is chosen by its match index, so one that acknowledges
// while an eager follower falls silent takes its place.
// Method: core_kit's cores; proposals and acks stepped; AppendEntries counted per follower.
import { expect, test } from "bun:test";
import type { AppendEntries, Message, NodeId, RaftCore } from "../../../raft/core/mod.ts";
import { appReply, drain, makeLeader, mkCore, ofType } from "./core_kit.ts";

/** Entry-carrying AppendEntries per follower over `rounds` lone proposals, every follower in `acking` acking each. */
function run(core: RaftCore, rounds: number, acking: readonly NodeId[], tickEvery = 0): Map<NodeId, number> {
  const sent = new Map<NodeId, number>();
  const term = core.status().term;
  const count = (msgs: readonly Message[]): void => {
    for (const m of ofType(msgs, "AppendEntries")) {
      if (m.entries.length === 0) continue;
      sent.set(m.to, (sent.get(m.to) ?? 0) + 1);
      if (acking.includes(m.to)) core.step(appReply(m.to, "a", term, m.entries[m.entries.length - 1]!.index));
    }
  };
  for (let i = 1; i <= rounds; i++) {
    core.propose(new TextEncoder().encode(`w${i}`));
    for (let rd = drain(core); rd !== null; rd = drain(core)) count(rd.messages);
    if (tickEvery > 0 && i % tickEvery === 0) {
      core.tick();
      for (let rd = drain(core); rd !== null; rd = drain(core)) count(rd.messages);
    }
  }
  return sent;
}

function caughtUpLeader(ids: readonly NodeId[]): RaftCore {
  const core = mkCore("a", ids, { config: { heartbeatTicks: 5 } });
  makeLeader(core);
  // Everyone acknowledges the leader's first entry: equal match indexes, ranks by id.
  const last = core.status().lastLogIndex;
  for (const id of ids) if (id !== "a") core.step(appReply(id, "a", core.status().term, last));
  for (let rd = drain(core); rd !== null; rd = drain(core));
  return core;
}

test("five voters: two followers take each entry at once, the two spares one batch every fourth tick", () => {
  const core = caughtUpLeader(["a", "b", "c", "d", "e"]);
  const sent = run(core, 20, ["b", "c", "d", "e"], 1); // a tick after each write
  expect([sent.get("b"), sent.get("c")]).toEqual([20, 20]);
  expect([sent.get("d"), sent.get("e")]).toEqual([5, 5]); // four entries at each fourth tick
  expect(core.status().commitIndex).toBe(core.status().lastLogIndex);
});

test("three voters: both followers take each entry at once", () => {
  const core = caughtUpLeader(["a", "b", "c"]);
  const sent = run(core, 20, ["b", "c"], 10);
  expect([sent.get("b"), sent.get("c")]).toEqual([20, 20]);
});

test("four voters: all three followers take each entry at once (a commit needs two of them)", () => {
  const core = caughtUpLeader(["a", "b", "c", "d"]);
  const sent = run(core, 20, ["b", "c", "d"], 10);
  expect([sent.get("b"), sent.get("c"), sent.get("d")]).toEqual([20, 20, 20]);
});

test("an eager follower falls silent: a spare takes its place once it acknowledges a tick's batch", () => {
  const core = caughtUpLeader(["a", "b", "c", "d", "e"]);
  const term = core.status().term;
  const silentC = run(core, 5, ["b", "d", "e"], 0); // c is eager (equal match, lower id) and silent
  expect([silentC.get("c"), silentC.get("d"), silentC.get("e")]).toEqual([5, undefined, undefined]);
  expect(core.status().commitIndex).toBeLessThan(core.status().lastLogIndex); // a and b alone are no majority
  core.tick(); // the entries are uncommitted at this tick:
  for (let rd = drain(core); rd !== null; rd = drain(core)) expect(ofType(rd.messages, "AppendEntries").filter((m) => m.entries.length > 0)).toEqual([]);
  core.tick(); // and still at the next: the spares are sent their batch, and acknowledge it (their match passes c's)
  for (let rd = drain(core); rd !== null; rd = drain(core)) {
    for (const m of ofType(rd.messages, "AppendEntries")) {
      if (m.to !== "c" && m.entries.length > 0) core.step(appReply(m.to, "a", term, m.entries[m.entries.length - 1]!.index));
    }
  }
  expect(core.status().commitIndex).toBe(core.status().lastLogIndex);
  const sent = run(core, 10, ["b", "d", "e"], 0);
  expect([sent.get("c"), sent.get("d"), sent.get("e")]).toEqual([undefined, 10, undefined]);
  expect(core.status().commitIndex).toBe(core.status().lastLogIndex);
});

test("a commit that moves, however slowly, leaves the spares to their fourth tick", () => {
  // Under load every commit may take over a tick; only one that stopped needs a spare.
  const core = caughtUpLeader(["a", "b", "c", "d", "e"]);
  const term = core.status().term;
  const sent: AppendEntries[] = [];
  const collect = (): void => {
    for (let rd = drain(core); rd !== null; rd = drain(core)) sent.push(...ofType(rd.messages, "AppendEntries").filter((m) => m.entries.length > 0));
  };
  core.propose(new TextEncoder().encode("w1"));
  collect();
  core.propose(new TextEncoder().encode("w2"));
  collect();
  const first = core.status().lastLogIndex - 1;
  core.tick(); // both entries wait at this tick
  collect();
  core.step(appReply("b", "a", term, first));
  core.step(appReply("c", "a", term, first));
  collect();
  expect(core.status().commitIndex).toBe(first); // the first committed since, the second still waits
  core.tick();
  collect();
  expect(sent.filter((m) => m.to === "d" || m.to === "e")).toEqual([]);
  core.step(appReply("b", "a", term, first + 1));
  collect();
  core.tick(); // now nothing moved while the second waited: the spares are sent both
  collect();
  expect(core.status().commitIndex).toBe(first);
  expect(sent.filter((m) => m.to === "d" || m.to === "e").map((m) => [m.to, m.entries.length])).toEqual([["d", 2], ["e", 2]]);
});

test("a spare lacking 1,024 entries is sent them without waiting for a tick", () => {
  // A bound for bursts only: at bench rates four ticks bring fewer, and a spare's batch costs
  // it a receive, a WAL write and sync and an ack whatever its size (64 sent each spare a
  // batch every few milliseconds at 64 connections).
  const core = caughtUpLeader(["a", "b", "c", "d", "e"]);
  const sent = run(core, 3000, ["b", "c", "d", "e"], 0);
  expect([sent.get("d"), sent.get("e")]).toEqual([2, 2]); // every 1,024th lone write
});

test("at its own tick a spare takes the committed entries only, so no commit notice follows its batch", () => {
  // Sent the log's end, a spare acknowledged entries the commit passed a moment later, and the
  // next tick owed it a heartbeat carrying that commit: a second message per batch.
  const ids = ["a", "b", "c", "d", "e"];
  const core = mkCore("a", ids, { config: { heartbeatTicks: 9 } }); // no heartbeat in the 8 ticks below
  makeLeader(core);
  const term = core.status().term;
  const ack = (id: NodeId, index: number): void => core.step(appReply(id, "a", term, index));
  for (const id of ids.slice(1)) ack(id, core.status().lastLogIndex);
  for (let rd = drain(core); rd !== null; rd = drain(core));
  const toSpares = (): AppendEntries[] => {
    const out: AppendEntries[] = [];
    for (let rd = drain(core); rd !== null; rd = drain(core)) out.push(...ofType(rd.messages, "AppendEntries").filter((m) => m.to === "d" || m.to === "e"));
    return out;
  };
  core.tick(); // the first: every follower hears the commit of the leader's first entry
  expect(toSpares().map((m) => [m.to, m.entries.length])).toEqual([["d", 0], ["e", 0]]);
  for (let i = 1; i <= 3; i++) core.propose(new TextEncoder().encode(`w${i}`));
  expect(toSpares()).toEqual([]);
  const committed = core.status().lastLogIndex;
  ack("b", committed);
  ack("c", committed);
  expect(core.status().commitIndex).toBe(committed);
  for (let t = 0; t < 2; t++) {
    core.tick();
    expect(toSpares()).toEqual([]);
  }
  core.propose(new TextEncoder().encode("w4")); // sent to b and c, not yet acknowledged
  expect(toSpares()).toEqual([]);
  core.tick(); // the fourth: the spares' batch, of the committed entries
  const batch = toSpares();
  expect(batch.map((m) => [m.to, m.entries.map((e) => e.index), m.leaderCommit])).toEqual([
    ["d", [committed - 2, committed - 1, committed], committed],
    ["e", [committed - 2, committed - 1, committed], committed],
  ]);
  ack("d", committed);
  ack("e", committed);
  ack("b", committed + 1);
  ack("c", committed + 1);
  expect(core.status().commitIndex).toBe(committed + 1);
  expect(toSpares()).toEqual([]);
  core.tick(); // nothing owed to the spares: they hold no entry the commit passed
  expect(toSpares()).toEqual([]);
  for (let t = 0; t < 2; t++) {
    core.tick();
    expect(toSpares()).toEqual([]);
  }
  core.tick(); // their next tick: the entry held back
  expect(toSpares().map((m) => [m.to, m.entries.map((e) => e.index)])).toEqual([["d", [committed + 1]], ["e", [committed + 1]]]);
});

test("a spare that asks for a read index is sent what it lacks at once (it must apply up to it to answer)", () => {
  const core = caughtUpLeader(["a", "b", "c", "d", "e"]);
  run(core, 5, ["b", "c", "d", "e"], 0);
  core.step({ type: "ReadIndex", from: "e", to: "a", term: core.status().term, ctxs: ["r1"] });
  const sent = ofType(drain(core)!.messages, "AppendEntries").filter((m) => m.to === "e" && m.entries.length > 0);
  expect(sent.map((m) => m.entries.length)).toEqual([5]);
  expect(sent[0]!.leaderCommit).toBe(core.status().commitIndex);
});
