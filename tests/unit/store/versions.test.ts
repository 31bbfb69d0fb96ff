// Goal: every key carries the log index at which it was last written (issue 16 item 2): set
// with the entry's index, kept by overwrites, compaction and copy-on-write captures, carried by
// snapshots (format 3, the same bytes sync and async), and 0 for keys from snapshots of the
// formats before it, which still load; a state with no versions still writes its old format.
// Method: the production PackedMap, Capture and KvStateMachine, fed entries with indexes.

import { describe, expect, test } from "bun:test";
import { Encoder } from "cbor-x/encode";
import { encodeCommand, onceCommand } from "../../../store/commands.ts";
import { PackedMap } from "../../../store/packed_map.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";

const raw = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const set = (pairs: Record<string, string>): Uint8Array => encodeCommand({ type: "set", pairs: Object.entries(pairs) });
const del = (key: string): Uint8Array => encodeCommand({ type: "delete", key });

describe("versions in the map", () => {
  test("PackedMap keeps each key's version through overwrites, deletes, growth and compaction", () => {
    const m = new PackedMap();
    for (let i = 0; i < 5000; i++) m.set(`k${i % 700}`, "v".repeat(i % 50), 2 ** 40 + i);
    for (let i = 0; i < 700; i += 2) m.delete(`k${i}`);
    expect(m.versionOf("k0")).toBeUndefined();
    expect(m.versionOf("k1")).toBe(2 ** 40 + 4901);
    expect(m.versionOf("k699")).toBe(2 ** 40 + 4899);
    expect([...m.entriesVersioned()].find(([k]) => k === "k3")).toEqual(["k3", "v".repeat(4903 % 50), 2 ** 40 + 4903]);
    m.set("plain", "p");
    expect(m.versionOf("plain")).toBe(0);
  });

  test("apply writes the entry's index as the version of every key it sets", () => {
    const sm = new KvStateMachine();
    sm.apply(set({ a: "1", b: "1" }), 7);
    sm.apply(set({ b: "2" }), 9);
    sm.apply(encodeCommand(onceCommand(1, ":k", { type: "set", pairs: [["c", "1"]] })), 12);
    expect([sm.versionOf("a"), sm.versionOf("b"), sm.versionOf("c")]).toEqual([7, 9, 12]);
    sm.apply(del("a"), 13);
    expect(sm.versionOf("a")).toBeUndefined();
  });

  test("writes during a snapshot's capture keep their versions, and the fold keeps them", async () => {
    const sm = new KvStateMachine();
    for (let i = 0; i < 3000; i++) sm.apply(set({ [`k${i}`]: "x" }), i + 1);
    let applied = false;
    const done = sm.snapshotAsync(async () => {
      if (applied) return;
      applied = true;
      sm.apply(set({ k5: "new", fresh: "f" }), 5000);
      sm.apply(del("k6"), 5001);
      sm.apply(set({ k6: "back" }), 5002);
    });
    expect(sm.versionOf("k5")).toBe(5000); // the live view, while the capture runs
    const bytes = await done;
    expect([sm.versionOf("k5"), sm.versionOf("fresh"), sm.versionOf("k6"), sm.versionOf("k7")]).toEqual([5000, 5000, 5002, 8]);
    const restored = new KvStateMachine();
    restored.restore(bytes);
    expect([restored.versionOf("k5"), restored.get("k5"), restored.versionOf("fresh")]).toEqual([6, "x", undefined]);
  });
});

describe("versions in snapshots", () => {
  test("format 3: versions and the once-only table; the same bytes sync and async; restore keeps both", async () => {
    const sm = new KvStateMachine();
    for (let i = 0; i < 2500; i++) sm.apply(set({ [`k${i % 1200}`]: `v${i}` }), 100 + i);
    sm.apply(encodeCommand(onceCommand(55, ":once", { type: "set", pairs: [["o", "1"]] })), 3000);
    const sync = sm.snapshot();
    expect(Buffer.compare(await sm.snapshotAsync(() => Promise.resolve()), sync)).toBe(0);
    expect((raw.decode(sync) as unknown[])[0]).toBe(3);
    for (const isAsync of [false, true]) {
      const r = new KvStateMachine();
      if (isAsync) await r.restoreAsync(sync, () => Promise.resolve());
      else r.restore(sync);
      expect([r.versionOf("k0"), r.versionOf("k1199"), r.versionOf("o")]).toEqual([100 + 2400, 100 + 1199 + 1200, 3000]);
      expect(r.sessions.lookup(":once")).toBeDefined();
      expect(Buffer.compare(r.snapshot(), sync)).toBe(0);
    }
  });

  test("formats 1 and 2 still load, their keys at version 0; without versions the old format is written", () => {
    const one = new KvStateMachine();
    one.restore(raw.encode([1, 1, raw.encode(["a", "1"])]));
    expect(one.versionOf("a")).toBe(0);
    expect(Buffer.compare(one.snapshot(), raw.encode([1, 1, raw.encode(["a", "1"])]))).toBe(0);
    const two = new KvStateMachine();
    two.restore(raw.encode([2, 1, [10], raw.encode(["b", "2"])]));
    expect([two.versionOf("b"), two.sessions.logClock]).toEqual([0, 10]);
    two.apply(set({ c: "3" }), 4);
    expect((raw.decode(two.snapshot()) as unknown[])[0]).toBe(3);
  });

  test("a format-3 chunk without versions, or with a bad one, is refused", () => {
    const sm = new KvStateMachine();
    for (const chunk of [["a", "1"], ["a", "1", -1], ["a", "1", "7"], ["a", "1", 1.5]]) {
      expect(() => sm.restore(raw.encode([3, 1, [0], raw.encode(chunk)]))).toThrow();
    }
  });
});
