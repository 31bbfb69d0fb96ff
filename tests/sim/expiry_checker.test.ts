// Goal: the linearizability checker's expiries (issue 16 item 4, ExpireOp): a value written with
// a TTL may be read until its expiry's window closes (the set's completion + TTL) and never
// after; an expiry of a value a later write replaced (a refresh) deletes nothing; an unknown
// set's expiry has no deadline. Method: small hand-made histories with known answers.

import { describe, expect, test } from "bun:test";
import { type CheckedOp, checkLinearizable, type ExpireOp, type HistoryOp, type KvOp, type Outcome } from "./checkers/linearizability.ts";

let nextId = 0;
function op(client: number, o: CheckedOp, invokeTime: number, completeTime: number, outcome: Outcome = "ok"): HistoryOp<CheckedOp> {
  return { id: nextId++, client, op: o, invokeTime, completeTime: outcome === "unknown" ? Infinity : completeTime, outcome };
}
const set = (values: Record<string, string>): KvOp => ({ type: "set", values });
const read = (key: string, value: string | null): KvOp => ({ type: "read", key, value });
const expiry = (key: string, value: string): ExpireOp => ({ type: "expire", key, value });

/** A set of `key`=`value` with a TTL of `ttl` over [i, c], and its expiry over [i + ttl, c + ttl]. */
function ttlSet(key: string, value: string, i: number, c: number, ttl: number, outcome: Outcome = "ok"): HistoryOp<CheckedOp>[] {
  return [op(0, set({ [key]: value }), i, c, outcome), op(0, expiry(key, value), i + ttl, c + ttl, outcome)];
}

describe("expiries", () => {
  test("a value is readable before its window and absent after it", () => {
    const h = [...ttlSet("a", "1", 0, 10, 100), op(1, read("a", "1"), 20, 30), op(1, read("a", "1"), 100, 105), op(1, read("a", null), 111, 112)];
    expect(checkLinearizable(h).ok).toBe(true);
  });

  test("a read of the value after its window closed is caught", () => {
    const h = [...ttlSet("a", "1", 0, 10, 100), op(1, read("a", "1"), 120, 121)];
    const v = checkLinearizable(h);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.description).toContain("expiry of a");
  });

  test("a value gone before its window opened is caught", () => {
    const h = [...ttlSet("a", "1", 0, 10, 100), op(1, read("a", null), 50, 60)];
    expect(checkLinearizable(h).ok).toBe(false);
  });

  test("a refresh (a later write) outlives the first expiry; absent then present again is caught", () => {
    const h = [...ttlSet("a", "1", 0, 10, 100), ...ttlSet("a", "2", 50, 60, 100), op(1, read("a", "2"), 130, 131), op(1, read("a", null), 170, 171)];
    expect(checkLinearizable(h).ok).toBe(true);
    const flicker = [...ttlSet("a", "1", 0, 10, 100), op(1, read("a", null), 105, 106), op(1, read("a", "1"), 107, 108)];
    expect(checkLinearizable(flicker).ok).toBe(false);
  });

  test("an unknown set's expiry has no deadline: its value may be read late or never", () => {
    expect(checkLinearizable([...ttlSet("a", "1", 0, 10, 100, "unknown"), op(1, read("a", "1"), 500, 501)]).ok).toBe(true);
    expect(checkLinearizable([...ttlSet("a", "1", 0, 10, 100, "unknown"), op(1, read("a", null), 500, 501)]).ok).toBe(true);
  });

  test("a multi-key set expires key by key within the same window", () => {
    const h = [
      op(0, set({ a: "1", b: "1" }), 0, 10),
      op(0, expiry("a", "1"), 100, 110),
      op(0, expiry("b", "1"), 100, 110),
      op(1, read("a", null), 105, 106),
      op(1, read("b", "1"), 105, 106),
      op(1, read("b", null), 111, 112),
    ];
    expect(checkLinearizable(h).ok).toBe(true);
  });
});
