// Goal: a listing (issue 16 item 3) is a page of the state machine's live keys in key order,
// with each value and version, whatever kind of entry wrote or deleted them (plain, once-only,
// conditional, a backup's load), during a snapshot's capture, and after restores from every
// snapshot format (sync and async, the index rebuilt a slice per pause); pages chain by their
// cursor without a key missed or repeated, and are bounded by the limit and by size.
// Method: the production KvStateMachine fed encoded entries, its list() compared with a
// sorted copy of its entries().

import { describe, expect, test } from "bun:test";
import { Encoder } from "cbor-x/encode";
import { encodeCommand, onceCommand } from "../../../store/commands.ts";
import { listPageCharsMax, listPageJson } from "../../../store/listing.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";

const raw = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const set = (pairs: Record<string, string>): Uint8Array => encodeCommand({ type: "set", pairs: Object.entries(pairs) });
const del = (key: string): Uint8Array => encodeCommand({ type: "delete", key });

/** Every key with `prefix`, in order, walked page by page with `limit`. */
function walk(sm: KvStateMachine, prefix: string, limit: number): { keys: string[]; pages: number } {
  const keys: string[] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const page = sm.list({ prefix, after, limit });
    pages++;
    expect(page.items.length).toBeLessThanOrEqual(limit);
    for (const item of page.items) {
      expect(item.value).toBe(sm.get(item.key)!);
      expect(item.version).toBe(sm.versionOf(item.key)!);
      keys.push(item.key);
    }
    if (page.next === null) return { keys, pages };
    expect(page.next).toBe(page.items[page.items.length - 1]!.key);
    after = page.next;
  }
}

function expected(sm: KvStateMachine, prefix = ""): string[] {
  return [...sm.entries()].map(([k]) => k).filter((k) => k.startsWith(prefix)).sort();
}

describe("listing the state machine", () => {
  test("every kind of write and delete is listed: plain, once-only, conditional, loadPairs", () => {
    const sm = new KvStateMachine();
    sm.apply(set({ b: "1", a: "1", c: "1" }), 1);
    sm.apply(set({ a: "2" }), 2);
    sm.apply(del("c"), 3);
    sm.apply(encodeCommand(onceCommand(5, ":id", { type: "set", pairs: [["d", "1"]] })), 4);
    sm.apply(encodeCommand(onceCommand(5, ":id2", { type: "delete", key: "b" })), 5);
    sm.apply(encodeCommand({ type: "set", pairs: [["e", "1"]], condition: { type: "absent" } }), 6);
    sm.apply(encodeCommand({ type: "delete", key: "e", condition: { type: "exists" } }), 7);
    sm.apply(encodeCommand({ type: "set", pairs: [["f", "1"]], condition: { type: "match", versions: [99] } }), 8); // fails: nothing
    sm.loadPairs([["aa", "x"]], [3]);
    const page = sm.list({ prefix: "", after: null, limit: 10 });
    expect(page).toEqual({
      items: [{ key: "a", value: "2", version: 2 }, { key: "aa", value: "x", version: 3 }, { key: "d", value: "1", version: 4 }],
      next: null,
    });
    expect(listPageJson(page)).toBe(
      '{"items":[{"key":"a","value":"2","version":2},{"key":"aa","value":"x","version":3},{"key":"d","value":"1","version":4}],"next":null}',
    );
  });

  test("prefix, after and limit: pages chain by their cursor, no key missed or repeated", () => {
    const sm = new KvStateMachine();
    for (let i = 0; i < 3000; i++) sm.apply(set({ [`user/${i}`]: `v${i}`, [`item/${i % 7}`]: `w${i}` }), i + 1);
    for (let i = 0; i < 3000; i += 3) sm.apply(del(`user/${i}`), 5000 + i);
    for (const [prefix, limit] of [["user/", 1], ["user/", 7], ["user/1", 100], ["", 1000], ["item/", 2], ["nope", 5]] as const) {
      const { keys, pages } = walk(sm, prefix, limit);
      const want = expected(sm, prefix);
      expect(keys).toEqual(want);
      expect(pages).toBe(Math.max(1, Math.ceil(want.length / limit)));
    }
    const mid = sm.list({ prefix: "user/", after: "user/2", limit: 2 });
    expect(mid.items.map((i) => i.key)).toEqual(["user/20", "user/200"]);
    // A cursor that is no longer a key (deleted since) still continues after it.
    expect(sm.list({ prefix: "user/", after: "user/3", limit: 1 }).items.map((i) => i.key)).toEqual(["user/301"]);
  });

  test("a page of large values ends early, after at least one item", () => {
    const sm = new KvStateMachine();
    const big = "x".repeat(listPageCharsMax / 3);
    sm.apply(set({ a: big, b: big, c: big, d: big }), 1);
    const first = sm.list({ prefix: "", after: null, limit: 1000 });
    expect(first.items.map((i) => i.key)).toEqual(["a", "b"]);
    expect(first.next).toBe("b");
    const huge = new KvStateMachine();
    huge.apply(set({ h: "y".repeat(listPageCharsMax + 1), i: "z" }), 1);
    expect(huge.list({ prefix: "", after: null, limit: 10 }).items.map((i) => i.key)).toEqual(["h"]);
  });

  test("during a snapshot's capture the listing is the live view, and the same after the fold", async () => {
    const sm = new KvStateMachine();
    for (let i = 0; i < 3000; i++) sm.apply(set({ [`k${i}`]: "x" }), i + 1);
    let seen: string[] | null = null;
    const done = sm.snapshotAsync(async () => {
      if (seen !== null) return;
      sm.apply(set({ k5: "new", fresh: "f" }), 5000);
      sm.apply(del("k6"), 5001);
      sm.apply(set({ k6: "back" }), 5002);
      sm.apply(del("k7"), 5003);
      seen = walk(sm, "", 333).keys;
    });
    await done;
    expect(seen!).toEqual(expected(sm));
    expect(seen!).toContain("fresh");
    expect(seen!).not.toContain("k7");
    expect(walk(sm, "", 1000).keys).toEqual(expected(sm));
  });

  test("restores drop the ordered keys and the next listing builds the new state's: formats 1, 2 and 3, sync and async", async () => {
    const source = new KvStateMachine();
    for (let i = 0; i < 3 * 1024; i++) source.apply(set({ [`k${i}`]: `v${i}` }), i + 1);
    const formats: Uint8Array[] = [
      raw.encode([1, 2, raw.encode(["b", "1", "a", "2"])]),
      raw.encode([2, 2, [10], raw.encode(["b", "1", "a", "2"])]),
      source.snapshot(),
    ];
    for (const bytes of formats) {
      for (const isAsync of [false, true]) {
        const sm = new KvStateMachine();
        sm.apply(set({ stale: "gone after the restore" }), 1);
        expect(walk(sm, "", 1000).keys).toEqual(["stale"]);
        expect(sm.hasKeyOrder).toBe(true);
        let pauses = 0;
        if (isAsync) await sm.restoreAsync(bytes, () => (pauses++, Promise.resolve()));
        else sm.restore(bytes);
        expect(sm.hasKeyOrder).toBe(false);
        // One pause per chunk decoded, none for an index nobody asked for.
        if (isAsync) expect(pauses).toBe(Math.ceil(sm.size / 1024));
        expect(walk(sm, "", 1000).keys).toEqual(expected(sm));
        expect(sm.list({ prefix: "st", after: null, limit: 5 }).items).toEqual([]);
      }
    }
  });

  test("no ordered keys are kept until the first listing; from then on every creation and delete keeps them", () => {
    const sm = new KvStateMachine();
    for (let i = 0; i < 2_000; i++) sm.apply(set({ [`k${i}`]: `v${i}` }), i + 1);
    sm.apply(del("k5"), 2_001);
    expect(sm.hasKeyOrder).toBe(false);
    expect(walk(sm, "", 1000).keys).toEqual(expected(sm));
    expect(sm.hasKeyOrder).toBe(true);
    sm.apply(set({ a: "first", k1: "overwritten" }), 2_002);
    sm.apply(del("k7"), 2_003);
    const keys = walk(sm, "", 1000).keys;
    expect(keys).toEqual(expected(sm));
    expect(keys[0]).toBe("a");
    expect(keys).not.toContain("k7");
  });
});
