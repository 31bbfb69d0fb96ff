// Goal: majority arithmetic is right for every cluster size. Method: seeded random cases
// checked against a brute-force oracle (is index i held by more than half the voters?).
import { expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { majorityIndex, quorumSize, voteResult } from "../../../raft/core/quorum.ts";

test("majorityIndex equals the largest index held by a majority (oracle, 2000 cases)", () => {
  const rng = createRng(42);
  for (let c = 0; c < 2000; c++) {
    const n = 1 + rng.int(9);
    const ids = Array.from({ length: n }, (_, i) => `n${i}`);
    const match = new Map(ids.map((id) => [id, rng.int(20)]));
    let oracle = 0;
    for (let i = 0; i <= 20; i++) {
      const holders = ids.filter((id) => (match.get(id) ?? 0) >= i).length;
      if (holders * 2 > n) oracle = i;
    }
    expect(majorityIndex(ids, (id) => match.get(id) ?? 0)).toBe(oracle);
  }
  expect(majorityIndex([], () => 5)).toBe(0);
});

test("voteResult: won with a majority granted, lost with a majority refused (oracle)", () => {
  const rng = createRng(7);
  for (let c = 0; c < 2000; c++) {
    const n = 1 + rng.int(7);
    const ids = Array.from({ length: n }, (_, i) => `n${i}`);
    const votes = new Map<string, boolean>();
    for (const id of ids) {
      const v = rng.int(3);
      if (v < 2) votes.set(id, v === 0);
    }
    votes.set("outsider", true); // non-voters never count
    const granted = ids.filter((id) => votes.get(id) === true).length;
    const refused = ids.filter((id) => votes.get(id) === false).length;
    const want = granted * 2 > n ? "won" : refused * 2 > n || refused >= quorumSize(n) ? "lost" : "pending";
    expect(voteResult(ids, votes)).toBe(want);
  }
});
