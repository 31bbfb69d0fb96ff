// The once-only table's eviction order (store/sessions.ts keeps its own apply-order queue
// beside the Map): oldest first, an expired id remembered again counts as new, a loaded table
// evicts in the order it was loaded, and a long run of evictions keeps exactly the newest.
import { describe, expect, test } from "bun:test";
import { SessionTable } from "../../../store/sessions.ts";

const outcome = { status: 200, body: "" };
const ids = (t: SessionTable): string[] => t.entries().map((e) => e.id);

describe("once-only table order", () => {
  test("a long run of writes past the count bound keeps exactly the newest, oldest first", () => {
    const t = new SessionTable({ windowMs: 1e12, countMax: 100, charsMax: 1e9 });
    for (let i = 1; i <= 5_000; i++) {
      t.advance(i);
      t.remember(`k${i}`, "d", outcome);
    }
    expect(t.size).toBe(100);
    expect(ids(t)).toEqual(Array.from({ length: 100 }, (_, i) => `k${4_901 + i}`));
    expect(t.lookup("k4900")).toBeUndefined();
    expect(t.lookup("k4901")?.stamp).toBe(4_901);
  });

  test("an expired id remembered again is the newest entry, and its old place evicts nothing twice", () => {
    const t = new SessionTable({ windowMs: 10, countMax: 3, charsMax: 1e9 });
    t.advance(1);
    t.remember("a", "d", outcome);
    t.advance(2);
    t.remember("b", "d", outcome);
    t.advance(11); // "a" (stamp 1) is expired and evicted by advance
    expect(ids(t)).toEqual(["b"]);
    t.remember("a", "D", outcome);
    t.remember("c", "d", outcome);
    t.remember("e", "d", outcome);
    // Four remembered, bound 3: the oldest live one ("b") goes, not the new "a".
    expect(ids(t)).toEqual(["a", "c", "e"]);
    expect(t.lookup("a")?.digest).toBe("D");
    const chars = t.chars;
    t.remember("f", "d", outcome);
    expect(ids(t)).toEqual(["c", "e", "f"]);
    expect(t.chars).toBe(chars);
  });

  test("a loaded table evicts in the order it was loaded", () => {
    const t = new SessionTable({ windowMs: 1e12, countMax: 3, charsMax: 1e9 });
    for (let i = 1; i <= 50; i++) t.remember(`old${i}`, "d", outcome);
    t.load(7, [1, 2, 3].map((i) => ({ id: `s${i}`, digest: "d", stamp: i, outcome })));
    t.remember("n1", "d", outcome);
    expect(ids(t)).toEqual(["s2", "s3", "n1"]);
    expect(t.lookup("old50")).toBeUndefined();
  });
});
