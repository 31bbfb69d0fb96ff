// Goal: the linearizability checker accepts linearizable KV histories and rejects
// non-linearizable ones. Method: small hand-made histories with known answers.

import { describe, expect, test } from "bun:test";
import { type CasOp, type CheckedOp, checkLinearizable, type HistoryOp, type KvOp, type Outcome } from "./checkers/linearizability.ts";

let nextId = 0;
function op(client: number, o: KvOp, invokeTime: number, completeTime: number, outcome: Outcome = "ok"): HistoryOp {
  return { id: nextId++, client, op: o, invokeTime, completeTime: outcome === "unknown" ? Infinity : completeTime, outcome };
}
function set(values: Record<string, string>): KvOp { return { type: "set", values }; }
function del(key: string): KvOp { return { type: "delete", key }; }
function read(key: string, value: string | null): KvOp { return { type: "read", key, value }; }

describe("accepts linearizable histories", () => {
  test("empty history and sequential ops", () => {
    expect(checkLinearizable([]).ok).toBe(true);
    const h = [op(0, read("a", null), 0, 1), op(0, set({ a: "1" }), 2, 3), op(1, read("a", "1"), 4, 5),
      op(0, del("a"), 6, 7), op(1, read("a", null), 8, 9)];
    expect(checkLinearizable(h).ok).toBe(true);
  });
  test("concurrent read may see old or new value", () => {
    const h = [op(0, set({ a: "1" }), 0, 1), op(0, set({ a: "2" }), 2, 10),
      op(1, read("a", "2"), 3, 4), op(2, read("a", "2"), 5, 6), op(1, read("a", "2"), 11, 12)];
    expect(checkLinearizable(h).ok).toBe(true);
    const h2 = [op(0, set({ a: "1" }), 0, 1), op(0, set({ a: "2" }), 2, 10),
      op(1, read("a", "1"), 3, 4), op(2, read("a", "2"), 5, 6)];
    expect(checkLinearizable(h2).ok).toBe(true);
  });
  test("unknown write that took effect", () => {
    const h = [op(0, set({ a: "1" }), 0, 0, "unknown"), op(1, read("a", "1"), 5, 6), op(1, read("a", "1"), 7, 8)];
    expect(checkLinearizable(h).ok).toBe(true);
  });
  test("unknown write that never took effect", () => {
    const h = [op(0, set({ a: "1" }), 0, 0, "unknown"), op(1, read("a", null), 5, 6), op(1, read("a", null), 50, 60)];
    expect(checkLinearizable(h).ok).toBe(true);
  });
  test("unknown write taking effect late, after later reads saw the old value", () => {
    const h = [op(0, set({ a: "0" }), 0, 1), op(0, set({ a: "1" }), 2, 2, "unknown"),
      op(1, read("a", "0"), 5, 6), op(1, read("a", "1"), 100, 101)];
    expect(checkLinearizable(h).ok).toBe(true);
  });
  test("failed write is ignored", () => {
    const h = [op(0, set({ a: "1" }), 0, 1, "fail"), op(1, read("a", null), 5, 6)];
    expect(checkLinearizable(h).ok).toBe(true);
  });
  test("multi-key set seen atomically, keys independent otherwise", () => {
    const h = [op(0, set({ a: "1", b: "1" }), 0, 10), op(1, read("a", "1"), 2, 3), op(2, read("b", "1"), 4, 5),
      op(3, set({ c: "x" }), 0, 1), op(3, read("c", "x"), 2, 3)];
    const v = checkLinearizable(h);
    expect(v.ok).toBe(true);
    if (v.ok) expect(v.keysChecked).toBe(3);
  });
  test("many concurrent clients (search must not blow up)", () => {
    const h: HistoryOp[] = [];
    for (let c = 0; c < 6; c++) {
      for (let i = 0; i < 20; i++) {
        const t = i * 10;
        h.push(op(c, set({ k: `${c}-${i}` }), t, t + 9));
        h.push(op(c, read("k", `${c}-${i}`), t + 9, t + 9));
      }
    }
    // Each read happens at the instant its write returns, so it is concurrent with the
    // other clients' writes of the same round only if they are placed after: valid.
    expect(checkLinearizable(h).ok).toBe(true);
  });
});

describe("rejects non-linearizable histories", () => {
  test("stale read after an acknowledged write", () => {
    const h = [op(0, set({ a: "1" }), 0, 1), op(0, set({ a: "2" }), 2, 3), op(1, read("a", "1"), 4, 5)];
    const v = checkLinearizable(h);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.key).toBe("a");
      expect(v.witness.length).toBeGreaterThanOrEqual(2);
      expect(v.description).toContain("read a");
    }
  });
  test("read of a value never written", () => {
    const v = checkLinearizable([op(0, set({ a: "1" }), 0, 1), op(1, read("a", "7"), 4, 5)]);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.witness.map((w) => w.op.type)).toContain("read");
  });
  test("read sees absence after acknowledged set", () => {
    expect(checkLinearizable([op(0, set({ a: "1" }), 0, 1), op(1, read("a", null), 2, 3)]).ok).toBe(false);
  });
  test("read sees a deleted value after the delete returned", () => {
    const h = [op(0, set({ a: "1" }), 0, 1), op(0, del("a"), 2, 3), op(1, read("a", "1"), 4, 5)];
    expect(checkLinearizable(h).ok).toBe(false);
  });
  test("two readers see concurrent writes in inconsistent order", () => {
    const h = [op(0, set({ a: "1" }), 0, 100), op(1, set({ a: "2" }), 0, 100),
      op(2, read("a", "1"), 10, 11), op(2, read("a", "2"), 12, 13),
      op(3, read("a", "2"), 14, 15), op(3, read("a", "1"), 16, 17)];
    expect(checkLinearizable(h).ok).toBe(false);
  });
  test("value flips back: new, then old, for one reader", () => {
    const h = [op(0, set({ a: "1" }), 0, 1), op(0, set({ a: "2" }), 2, 50),
      op(1, read("a", "2"), 3, 4), op(1, read("a", "1"), 5, 6)];
    expect(checkLinearizable(h).ok).toBe(false);
  });
  test("failed write observed", () => {
    expect(checkLinearizable([op(0, set({ a: "1" }), 0, 1, "fail"), op(1, read("a", "1"), 4, 5)]).ok).toBe(false);
  });
  test("unknown write seen, then unseen", () => {
    const h = [op(0, set({ a: "1" }), 0, 0, "unknown"), op(1, read("a", "1"), 5, 6), op(1, read("a", null), 7, 8)];
    expect(checkLinearizable(h).ok).toBe(false);
  });
  test("multi-key set visible on one key but not on the other (torn write)", () => {
    // Each key alone is linearizable; together the set cannot be one atomic step.
    const h = [op(0, set({ a: "1", b: "1" }), 0, 100), op(1, read("a", "1"), 10, 11), op(1, read("b", null), 12, 13)];
    const v = checkLinearizable(h);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.key).toBe("{a,b}");
  });
  test("unknown multi-key set applied on one key only", () => {
    const h = [op(0, set({ a: "1", b: "1" }), 0, 0, "unknown"), op(1, read("a", "1"), 10, 11), op(1, read("b", null), 12, 13)];
    expect(checkLinearizable(h).ok).toBe(false);
  });
  test("witness of a long history is small", () => {
    const h: HistoryOp[] = [];
    for (let i = 0; i < 40; i++) h.push(op(0, set({ a: `${i}` }), i * 10, i * 10 + 1), op(1, read("a", `${i}`), i * 10 + 2, i * 10 + 3));
    h.push(op(2, read("a", "5"), 1000, 1001));
    const v = checkLinearizable(h);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.witness.length).toBeLessThanOrEqual(4);
  });
});

describe("conditional writes (issue 16): a register with compare-and-set", () => {
  const cas = (key: string, expect: string | null, value: string, written: boolean | null): CasOp => ({ type: "cas", key, expect, value, written });
  function opc(client: number, o: CasOp, invokeTime: number, completeTime: number, outcome: Outcome = "ok"): HistoryOp<CheckedOp> {
    return { id: nextId++, client, op: o, invokeTime, completeTime: outcome === "unknown" ? Infinity : completeTime, outcome };
  }
  test("accepts: a write whose condition held; a 412 while the key held something else; an unknown one either way", () => {
    const h: HistoryOp<CheckedOp>[] = [op(0, set({ a: "1" }), 0, 1), opc(1, cas("a", "1", "2", true), 2, 3), opc(2, cas("a", "1", "3", false), 4, 5),
      op(0, read("a", "2"), 6, 7), opc(1, cas("a", "2", "4", null), 8, 8, "unknown"), op(0, read("a", "2"), 20, 21)];
    expect(checkLinearizable(h).ok).toBe(true);
    expect(checkLinearizable([opc(0, cas("b", null, "1", true), 0, 1), opc(1, cas("b", null, "2", false), 2, 3)]).ok).toBe(true);
  });
  test("rejects: two creates of an absent key that both succeed; a write whose condition could not hold; a wrong 412", () => {
    expect(checkLinearizable([opc(0, cas("b", null, "1", true), 0, 1), opc(1, cas("b", null, "2", true), 2, 3)]).ok).toBe(false);
    expect(checkLinearizable([op(0, set({ a: "1" }), 0, 1), opc(1, cas("a", "0", "2", true), 2, 3)]).ok).toBe(false);
    expect(checkLinearizable([op(0, set({ a: "1" }), 0, 1), opc(1, cas("a", "1", "2", false), 2, 3)]).ok).toBe(false);
  });
});
