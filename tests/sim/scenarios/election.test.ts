// Goal: leader election behaves as the MIT 6.5840 lab 3A tests demand. Method: scripted
// stories on the seeded simulator with every safety checker running after each event.

import { expect, test } from "bun:test";
import { checkNoLeader, checkOneLeader, checkTerms, electionMs, makeCluster } from "../scenario_kit.ts";

// MIT TestInitialElection3A
test("InitialElection: 3 servers elect one leader and keep the term when nothing fails", () => {
  const c = makeCluster({ voters: 3, seed: 11 });
  checkOneLeader(c);
  c.run(50);
  const term1 = checkTerms(c);
  expect(term1).toBeGreaterThanOrEqual(1);
  c.run(2 * electionMs);
  expect(checkTerms(c)).toBe(term1);
  checkOneLeader(c);
});

// MIT TestReElection3A
test("ReElection: a new leader after the old one disconnects; no leader without quorum", () => {
  const c = makeCluster({ voters: 3, seed: 12 });
  const leader1 = checkOneLeader(c);
  c.disconnect(leader1);
  const leader2 = checkOneLeader(c);
  expect(leader2).not.toBe(leader1);
  // The old leader rejoins: it must not disturb the new one.
  c.connect(leader1);
  const leader3 = checkOneLeader(c);
  // No quorum, no leader.
  c.disconnect(leader3);
  const other = c.ids.find((id) => id !== leader3 && c.isConnected(id))!;
  c.disconnect(other);
  c.run(2 * electionMs);
  checkNoLeader(c);
  // A quorum arises: a leader is elected.
  c.connect(other);
  checkOneLeader(c);
  c.connect(leader3);
  checkOneLeader(c);
});

// MIT TestManyElections3A
test("ManyElections: 7 servers, 3 random ones disconnected each round, a leader keeps existing", () => {
  const c = makeCluster({ voters: 7, seed: 13 });
  checkOneLeader(c);
  for (let iter = 0; iter < 10; iter++) {
    const [i1, i2, i3] = [c.rng.pick(c.ids), c.rng.pick(c.ids), c.rng.pick(c.ids)];
    c.disconnect(i1);
    c.disconnect(i2);
    c.disconnect(i3);
    // Either the current leader is still alive, or the 4+ remaining elect a new one.
    checkOneLeader(c);
    c.connect(i1);
    c.connect(i2);
    c.connect(i3);
  }
  checkOneLeader(c);
});
