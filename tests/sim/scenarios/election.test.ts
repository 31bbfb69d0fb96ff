// Goal: leader election behaves as the MIT 6.5840 lab 3A tests demand. Method: scripted
// stories on production nodes (openNode on simulated disk, wire and clock; tests/sim/harness)
// with every safety checker running after each event.

import { expect, test } from "bun:test";
import { checkNoLeader, checkOneLeader, checkTerms, electionMs, makeCluster } from "../harness/mit_kit.ts";

// MIT TestInitialElection3A
test("InitialElection: 3 servers elect one leader and keep the term when nothing fails", async () => {
  const c = await makeCluster({ voters: 3, seed: 11 });
  await checkOneLeader(c);
  await c.run(50);
  const term1 = checkTerms(c);
  expect(term1).toBeGreaterThanOrEqual(1);
  await c.run(2 * electionMs);
  expect(checkTerms(c)).toBe(term1);
  await checkOneLeader(c);
});

// MIT TestReElection3A
test("ReElection: a new leader after the old one disconnects; no leader without quorum", async () => {
  const c = await makeCluster({ voters: 3, seed: 12 });
  const leader1 = await checkOneLeader(c);
  c.disconnect(leader1);
  const leader2 = await checkOneLeader(c);
  expect(leader2).not.toBe(leader1);
  // The old leader rejoins: it must not disturb the new one.
  c.connect(leader1);
  const leader3 = await checkOneLeader(c);
  // No quorum, no leader.
  c.disconnect(leader3);
  const other = c.ids.find((id) => id !== leader3 && c.isConnected(id))!;
  c.disconnect(other);
  await c.run(2 * electionMs);
  checkNoLeader(c);
  // A quorum arises: a leader is elected.
  c.connect(other);
  await checkOneLeader(c);
  c.connect(leader3);
  await checkOneLeader(c);
});

// MIT TestManyElections3A
test("ManyElections: 7 servers, 3 random ones disconnected each round, a leader keeps existing", async () => {
  const c = await makeCluster({ voters: 7, seed: 13 });
  await checkOneLeader(c);
  for (let iter = 0; iter < 10; iter++) {
    const [i1, i2, i3] = [c.rng.pick(c.ids), c.rng.pick(c.ids), c.rng.pick(c.ids)];
    c.disconnect(i1);
    c.disconnect(i2);
    c.disconnect(i3);
    // Either the current leader is still alive, or the 4+ remaining elect a new one.
    await checkOneLeader(c);
    c.connect(i1);
    c.connect(i2);
    c.connect(i3);
  }
  await checkOneLeader(c);
});
