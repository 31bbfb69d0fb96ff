// Goal: log agreement behaves as the MIT 6.5840 lab 3B tests demand. Method: scripted stories
// on production nodes (openNode on simulated disk, wire and clock; tests/sim/harness), writes
// through store.set, every safety checker after each event, using MIT's one()/Start().

import { expect, test } from "bun:test";
import { checkOneLeader, checkTerms, electionMs, makeCluster, maxApplied, nCommitted, one, start, valueOf } from "../harness/mit_kit.ts";

// MIT TestBasicAgree3B
test("BasicAgree: nothing commits before Start(); then 1..3 at their index on all servers", async () => {
  const c = await makeCluster({ voters: 3, seed: 21 });
  await checkOneLeader(c);
  await c.run(electionMs);
  // Before any Start() only the leader's no-op (and the bootstrap entry) is in the log.
  const base = maxApplied(c);
  expect(base).toBeLessThanOrEqual(2);
  for (let i = 1; i <= 3; i++) {
    expect(nCommitted(c, base + i).count).toBe(0);
    const index = await one(c, `v${i}`, 3, false);
    expect(index).toBe(base + i);
  }
});

// MIT TestFailAgree3B
test("FailAgree: a disconnected follower catches up after reconnecting", async () => {
  const c = await makeCluster({ voters: 3, seed: 22 });
  await one(c, "101", 3, false);
  const leader = await checkOneLeader(c);
  const follower = c.ids.find((id) => id !== leader)!;
  c.disconnect(follower);
  await one(c, "102", 2, false);
  await one(c, "103", 2, false);
  await c.run(electionMs);
  await one(c, "104", 2, false);
  await one(c, "105", 2, false);
  c.connect(follower);
  await one(c, "106", 3, true);
  await c.run(electionMs);
  await one(c, "107", 3, true);
});

// MIT TestFailNoAgree3B
test("FailNoAgree: with 3 of 5 down nothing commits; after repair the next index is 2 or 3", async () => {
  const c = await makeCluster({ voters: 5, seed: 23 });
  const first = await one(c, "10", 5, false);
  const leader = await checkOneLeader(c);
  const others = c.ids.filter((id) => id !== leader);
  for (const id of others.slice(0, 3)) c.disconnect(id);
  const r = await start(c, leader, "20");
  expect(r).not.toBeNull();
  expect(r!.index).toBe(first + 1);
  await c.run(2 * electionMs);
  expect(nCommitted(c, r!.index).count).toBe(0);
  for (const id of others.slice(0, 3)) c.connect(id);
  const leader2 = await checkOneLeader(c);
  const r2 = await start(c, leader2, "30");
  expect(r2).not.toBeNull();
  // The new leader appends after its own no-op (and perhaps after the old leader's "20").
  expect(r2!.index).toBeGreaterThanOrEqual(first + 2);
  expect(r2!.index).toBeLessThanOrEqual(first + 3);
  await one(c, "1000", 5, true);
});

// MIT TestConcurrentStarts3B
test("ConcurrentStarts: 5 Start()s in one term all commit", async () => {
  const c = await makeCluster({ voters: 3, seed: 24 });
  const leader = await checkOneLeader(c);
  const starts: ({ index: number; term: number } | null)[] = [];
  for (const i of [1, 2, 3, 4, 5]) starts.push(await start(c, leader, `c${i}`));
  expect(starts.every((s) => s !== null && s.term === starts[0]!.term)).toBe(true);
  const last = Math.max(...starts.map((s) => s!.index));
  expect(await c.runUntil(() => nCommitted(c, last).count === 3, electionMs)).toBe(true);
  const terms = new Set(starts.map((s) => c.appliedLog.get(s!.index)?.term));
  expect(terms).toEqual(new Set([starts[0]!.term]));
});

// MIT TestRejoin3B
test("Rejoin: a partitioned leader's uncommitted entries are overwritten when it rejoins", async () => {
  const c = await makeCluster({ voters: 3, seed: 25 });
  await one(c, "101", 3, true);
  const leader1 = await checkOneLeader(c);
  c.disconnect(leader1);
  for (const v of ["102", "103", "104"]) await start(c, leader1, v);
  await one(c, "103", 2, true);
  const leader2 = await checkOneLeader(c);
  c.disconnect(leader2);
  c.connect(leader1);
  await one(c, "104", 2, true);
  c.connect(leader2);
  await one(c, "105", 3, true);
});

// MIT TestBackup3B
test("Backup: the leader backs up quickly over 50+ divergent entries", async () => {
  const c = await makeCluster({ voters: 5, seed: 26 });
  await one(c, "start", 5, true);
  const leader1 = await checkOneLeader(c);
  const others = c.ids.filter((id) => id !== leader1);
  // Leader and one follower in a minority: their 50 entries never commit.
  for (const id of others.slice(1)) c.disconnect(id);
  for (let i = 0; i < 50; i++) await start(c, leader1, `lost${i}`);
  await c.run(electionMs / 2);
  c.disconnect(leader1);
  c.disconnect(others[0]!);
  for (const id of others.slice(1)) c.connect(id);
  for (let i = 0; i < 50; i++) await one(c, `maj${i}`, 3, true);
  // Now another minority of the majority takes 50 more that never commit.
  const leader2 = await checkOneLeader(c);
  const other = others.slice(1).find((id) => id !== leader2)!;
  c.disconnect(other);
  for (let i = 0; i < 50; i++) await start(c, leader2, `lost2-${i}`);
  await c.run(electionMs / 2);
  for (const id of c.ids) c.disconnect(id);
  c.connect(leader1);
  c.connect(others[0]!);
  c.connect(other);
  for (let i = 0; i < 50; i++) await one(c, `new${i}`, 3, true);
  for (const id of c.ids) c.connect(id);
  await one(c, "end", 5, true);
  // Nothing of the two minorities' entries was applied anywhere.
  const applied = [...c.appliedLog.values()].map(valueOf);
  expect(applied.filter((v) => v?.startsWith("lost"))).toEqual([]);
  expect(applied.filter((v) => v?.startsWith("new")).length).toBe(50);
});

// MIT TestCount3B
test("Count: elections, agreement and idleness use a bounded number of messages", async () => {
  const c = await makeCluster({ voters: 3, seed: 27 });
  await checkOneLeader(c);
  const count = (): number => c.raftMessagesSent;
  const afterElection = count();
  expect(afterElection).toBeLessThan(200); // MIT allows 30 RPCs (60 messages) in 1 s; we count ~1.5 s of heartbeats too
  const before = count();
  const leader = await checkOneLeader(c);
  const term = checkTerms(c);
  const s0 = await start(c, leader, "x0");
  expect(s0).not.toBeNull();
  let last = s0!.index;
  for (let i = 1; i <= 10; i++) {
    const s = await start(c, leader, `x${i}`);
    expect(s?.term).toBe(term);
    last = s!.index;
  }
  expect(await c.runUntil(() => nCommitted(c, last).count === 3, electionMs)).toBe(true);
  // Appends are batched: far fewer messages than one round per entry per follower.
  const forAgreement = count() - before;
  expect(forAgreement).toBeLessThan((10 + 4) * 3 * 2 + 200);
  const idleStart = count();
  await c.run(electionMs);
  const idle = count() - idleStart;
  // Heartbeats every heartbeatTicks ticks to 2 followers, plus replies.
  const heartbeatsPerSecond = (1000 / (c.settings.tickMs * c.settings.heartbeatTicks)) * 2 * 2;
  expect(idle).toBeLessThanOrEqual(heartbeatsPerSecond + 20);
});
