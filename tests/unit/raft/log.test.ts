// Goal: RaftLog's append/truncate and search rules. Method: seeded random operations on
// RaftLog mirrored on a plain array (the oracle), comparing terms and searches after each.
import { expect, test } from "bun:test";
import { createRng, type Entry } from "../../../raft/core/mod.ts";
import { RaftLog } from "../../../raft/core/log.ts";

function e(index: number, term: number): Entry {
  return { index, term, kind: "normal", data: new Uint8Array(0) };
}

test("appendFromLeader matches the §5.3 receiver rule against an array oracle", () => {
  const rng = createRng(3);
  for (let c = 0; c < 300; c++) {
    // Leader histories: each new term branches off a prefix of an existing history, so
    // every (index, term) pair identifies one prefix, as Log Matching guarantees.
    const histories: number[][] = [[]];
    let term = 0;
    const log = new RaftLog(0, 0);
    const oracle: number[] = []; // oracle[i] = term of index i+1
    for (let op = 0; op < 40; op++) {
      if (rng.int(3) === 0 || term === 0) {
        const base = histories[rng.int(histories.length)] as number[];
        term++;
        const h = base.slice(0, rng.int(base.length + 1));
        for (let i = 0; i <= rng.int(4); i++) h.push(term);
        histories.push(h);
        continue;
      }
      const h = histories[rng.int(histories.length)] as number[];
      const prev = rng.int(h.length + 1);
      // Only a message that passes the consistency check reaches appendFromLeader.
      if (prev > 0 && oracle[prev - 1] !== h[prev - 1]) continue;
      const ents = h.slice(prev, prev + rng.int(6)).map((t, i) => e(prev + 1 + i, t));
      log.appendFromLeader(ents);
      let conflict = false;
      for (const x of ents) {
        if (!conflict && oracle[x.index - 1] === x.term) continue;
        if (!conflict) {
          oracle.length = x.index - 1;
          conflict = true;
        }
        oracle.push(x.term);
      }
      expect(log.all().map((x) => x.term)).toEqual(oracle);
    }
  }
});

test("a stale or duplicate append never truncates", () => {
  const log = new RaftLog(0, 0);
  log.append([e(1, 1), e(2, 1), e(3, 2)]);
  expect(log.appendFromLeader([e(1, 1)])).toBe(0);
  expect(log.appendFromLeader([e(2, 1), e(3, 2)])).toBe(0);
  expect(log.lastIndex()).toBe(3);
});

test("term searches agree with a linear scan", () => {
  const rng = createRng(11);
  for (let c = 0; c < 300; c++) {
    const first = 1 + rng.int(5);
    const log = new RaftLog(first - 1, 1);
    const terms: number[] = [];
    let t = 1;
    for (let i = 0; i < 1 + rng.int(30); i++) {
      t += rng.int(3) === 0 ? 1 : 0;
      terms.push(t);
    }
    log.append(terms.map((tt, i) => e(first + i, tt)));
    const q = 1 + rng.int(t + 1);
    const upTo = first + rng.int(terms.length);
    let firstAt = upTo + 1;
    for (let i = first; i <= upTo; i++) if ((terms[i - first] as number) >= q) { firstAt = i; break; }
    expect(log.firstIndexAtOrAfterTerm(q, upTo)).toBe(firstAt);
    let lastAt = first - 1;
    for (let i = first; i <= upTo; i++) if ((terms[i - first] as number) <= q) lastAt = i;
    expect(log.lastIndexAtOrBeforeTerm(q, upTo)).toBe(lastAt);
  }
});

test("compaction keeps terms reachable at the boundary and reclaims memory", () => {
  const log = new RaftLog(0, 0);
  for (let i = 1; i <= 5000; i++) log.append([e(i, 1 + (i >> 10))]);
  log.compactBefore(3000);
  expect(log.firstIndex).toBe(3000);
  expect(log.term(2999)).toBe(1 + (2999 >> 10));
  expect(log.term(2998)).toBeUndefined();
  expect(log.slice(2990, 3002, 1 << 20).map((x) => x.index)).toEqual([3000, 3001, 3002]);
  expect(log.all()).toHaveLength(2001);
});
