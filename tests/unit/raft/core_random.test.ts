// Goal: a quick randomized safety check of the core before the full simulator: under
// seeded message loss, partitions and restarts, at most one leader per term and every
// node's applied entries are a prefix of one common history. Method: core_net.ts with a
// seeded drop filter; a few seeds by default, more with CORE_RANDOM_SEEDS=n.
import { expect, test } from "bun:test";
import { createRng, type Entry } from "../../../raft/core/mod.ts";
import { bytes, Net } from "./core_net.ts";

const SEEDS = Number(process.env.CORE_RANDOM_SEEDS ?? 6);

function runSeed(seed: number): void {
  const ids = ["a", "b", "c", "d", "e"];
  const net = Net.cluster(ids, { seed, config: { snapshotChunkBytes: 64 } });
  const rng = createRng(seed);
  net.filter = () => rng.int(10) !== 0; // 10% loss
  const leaders = new Map<number, string>();
  let proposed = 0;
  for (let step = 0; step < 400; step++) {
    const roll = rng.int(100);
    if (roll < 3) net.isolate(ids[rng.int(ids.length)] as string);
    else if (roll < 8) net.heal();
    else if (roll < 10) net.restart(ids[rng.int(ids.length)] as string);
    else if (roll < 12) {
      const id = ids[rng.int(ids.length)] as string;
      const s = net.core(id).status();
      if (s.lastApplied > 0) net.core(id).snapshotTaken(s.lastApplied, bytes(`snap-${id}-${s.lastApplied}`), rng.int(4));
    }
    const leader = net.leader();
    if (leader !== null && rng.int(2) === 0) {
      if (net.core(leader).propose(bytes(`p${proposed}`)).ok) proposed++;
    }
    net.tickAll(1);
    for (const [id, core] of net.cores) {
      const s = core.status();
      if (s.role !== "leader") continue;
      const seen = leaders.get(s.term);
      expect(seen === undefined || seen === id).toBe(true);
      leaders.set(s.term, id);
    }
  }
  // Applied histories agree on every index they share (restarts reset a node's applied list).
  const byIndex = new Map<number, Entry>();
  for (const entries of net.applied.values()) {
    for (const e of entries) {
      const other = byIndex.get(e.index);
      if (other !== undefined) expect([e.index, e.term, e.kind]).toEqual([other.index, other.term, other.kind]);
      else byIndex.set(e.index, e);
    }
  }
  expect(leaders.size).toBeGreaterThan(0);
  // Liveness once the network is healed: one leader, everyone at the same commit index.
  net.filter = null;
  net.heal();
  net.tickAll(60);
  const leader = net.leader();
  expect(leader).not.toBeNull();
  net.core(leader as string).propose(bytes("final"));
  net.tickAll(5);
  const commits = new Set([...net.cores.values()].map((c) => c.status().commitIndex));
  expect(commits.size).toBe(1);
  expect([...commits][0]).toBeGreaterThan(proposed / 2);
}

test(`randomized safety over ${SEEDS} seeds`, () => {
  for (let seed = 1; seed <= SEEDS; seed++) runSeed(seed);
});
