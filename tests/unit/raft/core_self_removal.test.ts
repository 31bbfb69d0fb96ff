// Goal: a leader that appended its own removal and then lost its majority before the removal
// committed does not deadlock the cluster (found by the world simulator, seed 2276 of an
// earlier world: no leader ever). Its log holds the newest entry, so the others cannot win
// without its vote; it must stay able to campaign until the configuration that removes it is
// committed (thesis §4.2.2: a server manages the cluster until Cnew is committed), win under
// Cnew, commit it, then step down.
// Method: four voters on the core harness; d is down for good; a proposes its own removal while
// cut off, loses leadership (CheckQuorum), then a, b and c can talk again.
import { expect, test } from "bun:test";
import { bytes, Net } from "./core_net.ts";

/** Sets a's links to b and c: cut (true) or restored (false). */
function cutAFromBC(net: Net, cut: boolean): void {
  for (const other of ["b", "c"]) {
    for (const link of [`a>${other}`, `${other}>a`]) {
      if (cut) net.cut.add(link);
      else net.cut.delete(link);
    }
  }
}

/**
 * Four voters; d down for good; a, cut off from b and c, appends its own removal and waits
 * long enough to step down (CheckQuorum) while b and c try and fail; `meanwhile` runs then.
 */
function removalStranded(meanwhile: (net: Net) => void = () => {}): Net {
  const net = Net.cluster(["a", "b", "c", "d"], { config: { preVote: true, checkQuorum: true } });
  net.elect("a");
  net.tickAll(2);
  net.isolate("d");
  cutAFromBC(net, true);
  expect(net.core("a").proposeConfChange({ type: "remove", id: "a" }).ok).toBe(true);
  net.tickAll(60);
  meanwhile(net);
  expect(net.leader()).toBe(null);
  return net;
}

/** Reconnects a with b and c and returns the leader of the new configuration {b, c, d}. */
function electedAfterHeal(net: Net): string {
  cutAFromBC(net, false);
  for (let i = 0; i < 60 && !(net.leader() === "b" || net.leader() === "c"); i++) net.tickAll(5);
  const leader = net.leader();
  expect(leader === "b" || leader === "c").toBe(true);
  expect(net.core(leader!).status().members.map((m) => m.id)).toEqual(["b", "c", "d"]);
  return leader!;
}

test("a leader cut off right after appending its own removal still lets the cluster elect", () => {
  const net = removalStranded();
  const leader = electedAfterHeal(net);
  expect(net.core(leader).propose(bytes("after")).ok).toBe(true);
  net.tickAll(5);
  expect(net.appliedData(leader)).toContain("after");
});

test("the same after that leader restarts (its commit index is forgotten; found by world seed 302377)", () => {
  const net = removalStranded((n) => {
    n.restart("a");
    n.tickAll(20);
  });
  electedAfterHeal(net);
});
