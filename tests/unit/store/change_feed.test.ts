// Goal: the change feed (issue 16 item 5) sees every change the state machine applies, from
// every kind of entry (plain, multi-key, once-only, conditional, delete), with the entry's log
// index, only while armed (nothing is kept while nobody watches); its history is bounded,
// tells which resumes it can serve (since() null when it no longer reaches back), disarms once
// unwatched for a whole history, and is reset when a snapshot replaces the state.
// Method: the production KvStateMachine fed encoded entries, its feed read directly.

import { describe, expect, test } from "bun:test";
import { type Change, ChangeFeed, changeHistoryMax } from "../../../store/change_feed.ts";
import { encodeCommand, onceCommand } from "../../../store/commands.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";

const set = (pairs: Record<string, string>): Uint8Array => encodeCommand({ type: "set", pairs: Object.entries(pairs) });
const del = (key: string): Uint8Array => encodeCommand({ type: "delete", key });
const listener = (into: Change[], resets: string[] = []) => ({ onChange: (c: Change) => void into.push(c), onReset: () => void resets.push("reset") });

describe("the change feed of the state machine", () => {
  test("nothing is recorded until armed; then every change of every kind, with its entry's index", () => {
    const sm = new KvStateMachine();
    sm.apply(set({ a: "0" }), 1);
    expect([sm.changes.isRecording, sm.changes.size]).toEqual([false, 0]);
    sm.changes.arm(1);
    const seen: Change[] = [];
    sm.changes.subscribe(listener(seen));
    sm.apply(set({ a: "1", b: "1" }), 2);
    sm.apply(del("b"), 3);
    sm.apply(del("absent"), 4); // nothing changed: nothing recorded
    sm.apply(encodeCommand(onceCommand(5, ":id", { type: "set", pairs: [["c", "1"]] })), 5);
    sm.apply(encodeCommand(onceCommand(5, ":id", { type: "set", pairs: [["c", "1"]] })), 6); // a replay writes nothing
    sm.apply(encodeCommand(onceCommand(5, ":id2", { type: "delete", key: "c" })), 7);
    sm.apply(encodeCommand({ type: "set", pairs: [["d", "1"]], condition: { type: "absent" } }), 8);
    sm.apply(encodeCommand({ type: "set", pairs: [["d", "2"]], condition: { type: "absent" } }), 9); // 412: nothing
    sm.apply(encodeCommand({ type: "delete", key: "d", condition: { type: "match", versions: [8] } }), 10);
    const want: Change[] = [
      { index: 2, key: "a", value: "1" },
      { index: 2, key: "b", value: "1" },
      { index: 3, key: "b", value: null },
      { index: 5, key: "c", value: "1" },
      { index: 7, key: "c", value: null },
      { index: 8, key: "d", value: "1" },
      { index: 10, key: "d", value: null },
    ];
    expect(seen).toEqual(want);
    expect(sm.changes.since(1, "")).toEqual(want);
    expect(sm.changes.since(5, "")).toEqual(want.slice(4));
    expect(sm.changes.since(0, "")).toBeNull(); // the history starts after index 1
    expect(sm.changes.since(1, "d")).toEqual(want.slice(5));
  });

  test("an expiry (issue 16 item 4) is a delete change at the expiry entry's index; a refreshed key is not deleted", () => {
    const sm = new KvStateMachine();
    sm.changes.arm(0);
    const seen: Change[] = [];
    sm.changes.subscribe(listener(seen));
    sm.apply(encodeCommand({ type: "set", pairs: [["t", "1"], ["u", "1"]], ttl: { stamp: 1_000, ms: 100 } }), 1);
    sm.apply(encodeCommand({ type: "set", pairs: [["u", "2"]], ttl: { stamp: 1_050, ms: 100 } }), 2); // a refresh
    sm.apply(encodeCommand({ type: "expire", stamp: 1_120, keys: [["t", 1], ["u", 1]] }), 3);
    expect(seen).toEqual([
      { index: 1, key: "t", value: "1" },
      { index: 1, key: "u", value: "1" },
      { index: 2, key: "u", value: "2" },
      { index: 3, key: "t", value: null },
    ]);
  });

  test("a restore resets it: listeners are told, recording stops, and resumes from the new state only when armed again", () => {
    const sm = new KvStateMachine();
    sm.apply(set({ a: "1" }), 1);
    const bytes = sm.snapshot();
    sm.changes.arm(1);
    const resets: string[] = [];
    sm.changes.subscribe(listener([], resets));
    sm.apply(set({ b: "1" }), 2);
    sm.restore(bytes);
    expect(resets).toEqual(["reset"]);
    expect([sm.changes.isRecording, sm.changes.listeners, sm.changes.since(2, "")]).toEqual([false, 0, null]);
  });
});

describe("ChangeFeed bounds", () => {
  test("the history keeps the last changeHistoryMax changes; a resume from before them is refused", () => {
    const feed = new ChangeFeed();
    feed.arm(0);
    feed.subscribe(listener([]));
    for (let i = 1; i <= changeHistoryMax + 10; i++) feed.record(i, `k${i % 7}`, "v");
    expect(feed.size).toBe(changeHistoryMax);
    expect(feed.start).toBe(10);
    expect(feed.since(9, "")).toBeNull();
    expect(feed.since(10, "")!.length).toBe(changeHistoryMax);
    expect(feed.since(changeHistoryMax + 9, "")).toEqual([{ index: changeHistoryMax + 10, key: `k${(changeHistoryMax + 10) % 7}`, value: "v" }]);
  });

  test("an entry cut in two by the bound is never half resumed: the start moves to its index", () => {
    const feed = new ChangeFeed();
    feed.arm(0);
    feed.subscribe(listener([]));
    feed.record(1, "a", "1");
    feed.record(1, "b", "1");
    for (let i = 2; i <= changeHistoryMax; i++) feed.record(i, "c", "v");
    // Both changes of entry 1 plus changeHistoryMax - 1 others: the first change of entry 1 went.
    expect(feed.start).toBe(1);
    expect(feed.since(0, "")).toBeNull();
    expect(feed.since(1, "")!.every((c) => c.index > 1)).toBe(true);
  });

  test("unwatched for a whole history, it disarms and drops what it held; a listener keeps it armed", () => {
    const feed = new ChangeFeed();
    feed.arm(5);
    const l = listener([]);
    feed.subscribe(l);
    for (let i = 6; i < 6 + 2 * changeHistoryMax; i++) feed.record(i, "k", "v");
    expect(feed.isRecording).toBe(true);
    feed.unsubscribe(l);
    for (let i = 0; i <= changeHistoryMax && feed.isRecording; i++) feed.record(6 + 2 * changeHistoryMax + i, "k", "v");
    expect([feed.isRecording, feed.size, feed.start]).toEqual([false, 0, null]);
  });

  test("a listener that throws is dropped; the others and the history go on", () => {
    const feed = new ChangeFeed();
    feed.arm(0);
    const seen: Change[] = [];
    feed.subscribe({ onChange: () => { throw new Error("broken watcher"); }, onReset: () => {} });
    feed.subscribe(listener(seen));
    feed.record(1, "a", "1");
    feed.record(2, "a", "2");
    expect([feed.listeners, seen.length, feed.size]).toEqual([1, 2, 2]);
  });
});
