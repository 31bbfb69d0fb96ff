// Goal: expiring keys in the replicated state (issue 16 item 4): a set with a TTL and an expiry
// entry round-trip through the command codec (new tags; malformed ones refused); applying a
// set with a TTL gives each key the deadline log clock + TTL; an expiry deletes a key only if
// its deadline has passed by the log clock and it is still at the version named (a refresh in
// between wins); a plain write or a delete makes a key permanent again; a condition sees a key
// past its deadline as absent; the reminders find due keys in deadline order and stay bounded
// on a follower; snapshots carry deadlines and the log clock (format 4, same bytes sync and
// async), and formats 1 to 3 still load (no deadlines) and are still written without TTLs.
// Method: the production codec, ExpiryTable and KvStateMachine, fed encoded entries.

import { describe, expect, test } from "bun:test";
import { Encoder } from "cbor-x/encode";
import { type Command, decodeCommand, encodeCommand, onceCommand, ttlMsMax, type WriteCommand } from "../../../store/commands.ts";
import { CommandError } from "../../../store/errors.ts";
import { ExpiryTable } from "../../../store/expiry.ts";
import { type ForwardedOp, parseStoreMessage, type StoreMessage, storeMessageValue } from "../../../store/forward.ts";
import { KvStateMachine, snapshotFormatDeadlines, snapshotFormatVersions } from "../../../store/state_machine.ts";

const raw = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });

const setTtl = (stamp: number, ms: number, pairs: Record<string, string>, condition?: WriteCommand["condition"]): Uint8Array =>
  encodeCommand({ type: "set", pairs: Object.entries(pairs), ttl: { stamp, ms }, ...(condition === undefined ? {} : { condition }) });
const set = (pairs: Record<string, string>): Uint8Array => encodeCommand({ type: "set", pairs: Object.entries(pairs) });
const expire = (stamp: number, keys: Array<[string, number]>): Uint8Array => encodeCommand({ type: "expire", stamp, keys });

describe("codec", () => {
  const valid: Command[] = [
    { type: "set", pairs: [["a", "1"]], ttl: { stamp: 1_700_000_000_000, ms: 30_000 } },
    { type: "set", pairs: [["a", "1"], ["b", "2"]], ttl: { stamp: 0, ms: 1 }, condition: { type: "absent" } },
    { type: "set", pairs: [["a", "1"]], ttl: { stamp: 5, ms: ttlMsMax }, condition: { type: "match", versions: [3, 4] } },
    { type: "expire", stamp: 9, keys: [["a", 3], ["b", 0]] },
  ];
  for (const command of valid) {
    test(`round trip ${JSON.stringify(command)}`, () => {
      expect(decodeCommand(encodeCommand(command))).toEqual(command);
    });
  }

  test("a set with a TTL and an expiry have tags of their own; a plain set keeps its bytes", () => {
    expect(encodeCommand({ type: "set", pairs: [["a", "1"]] })).toEqual(new Uint8Array(raw.encode([1, "a", "1"])));
    expect(setTtl(7, 1000, { a: "1" })).toEqual(new Uint8Array(raw.encode([6, 7, 1000, null, "a", "1"])));
    expect(expire(7, [["a", 3]])).toEqual(new Uint8Array(raw.encode([7, 7, "a", 3])));
  });

  test("a once command carries a set with a TTL", () => {
    const write: WriteCommand = { type: "set", pairs: [["a", "1"]], ttl: { stamp: 10, ms: 500 } };
    const decoded = decodeCommand(encodeCommand(onceCommand(10, ":k", write)));
    expect(decoded.type === "once" && decoded.write).toEqual(write);
  });

  test("encode refuses a TTL out of range, a bad stamp, an expiry without keys", () => {
    for (const ms of [0, -1, 1.5, ttlMsMax + 1]) {
      expect(() => encodeCommand({ type: "set", pairs: [["a", "1"]], ttl: { stamp: 1, ms } })).toThrow(CommandError);
    }
    expect(() => encodeCommand({ type: "set", pairs: [["a", "1"]], ttl: { stamp: -1, ms: 1 } })).toThrow(CommandError);
    expect(() => encodeCommand({ type: "expire", stamp: 1, keys: [] })).toThrow(CommandError);
    expect(() => encodeCommand({ type: "expire", stamp: 1, keys: [["", 1]] })).toThrow(CommandError);
  });

  const bad: Array<[string, unknown[]]> = [
    ["ttl set without pairs", [6, 1, 1000, null]],
    ["ttl set with odd operands", [6, 1, 1000, null, "a"]],
    ["ttl of 0", [6, 1, 0, null, "a", "1"]],
    ["ttl over the maximum", [6, 1, ttlMsMax + 1, null, "a", "1"]],
    ["ttl not a number", [6, 1, "30s", null, "a", "1"]],
    ["ttl set with a bad condition", [6, 1, 1000, [9], "a", "1"]],
    ["expire without keys", [7, 1]],
    ["expire with a key but no version", [7, 1, "a"]],
    ["expire with a negative version", [7, 1, "a", -1]],
    ["expire with a string stamp", [7, "1", "a", 1]],
    ["expire inside a once command", [3, 1, "id", raw.encode([7, 1, "a", 1])]],
  ];
  for (const [name, value] of bad) {
    test(`decode rejects ${name}`, () => {
      expect(() => decodeCommand(new Uint8Array(raw.encode(value)))).toThrow(CommandError);
    });
  }
});

describe("apply", () => {
  test("a set with a TTL: deadline = log clock + TTL, the stamp moving the clock first", () => {
    const sm = new KvStateMachine();
    expect(sm.apply(setTtl(1000, 500, { a: "1", b: "2" }), 1)).toEqual({ type: "set", count: 2, index: 1 });
    expect([sm.logClock, sm.deadlineOf("a"), sm.deadlineOf("b")]).toEqual([1000, 1500, 1500]);
    // A leader whose clock is behind: the log clock stays, the deadline counts from it.
    sm.apply(setTtl(900, 500, { c: "3" }), 2);
    expect([sm.logClock, sm.deadlineOf("c")]).toEqual([1000, 1500]);
    expect(sm.apply(set({ d: "4" }), 3)).toEqual({ type: "set", count: 1, index: 3 });
    expect(sm.deadlineOf("d")).toBeUndefined();
  });

  test("an expiry deletes a key only once its deadline has passed and only at the version named", () => {
    const sm = new KvStateMachine();
    sm.apply(setTtl(1000, 500, { a: "1", b: "1", c: "1" }), 5);
    // Too early: the log clock (1499) has not reached the deadline (1500).
    expect(sm.apply(expire(1499, [["a", 5]]), 6)).toEqual({ type: "expire", count: 0 });
    expect(sm.get("a")).toBe("1");
    // A refresh (a later write with a TTL: a new version, a new deadline) wins over an expiry of the old version.
    sm.apply(setTtl(1400, 500, { b: "2" }), 7);
    expect(sm.deadlineOf("b")).toBe(1999);
    expect(sm.apply(expire(1500, [["a", 5], ["b", 5], ["c", 4]]), 8)).toEqual({ type: "expire", count: 1 });
    expect([sm.get("a"), sm.get("b"), sm.get("c")]).toEqual([undefined, "2", "1"]);
    expect([sm.deadlineOf("a"), sm.deadlineOf("b"), sm.deadlineOf("c")]).toEqual([undefined, 1999, 1500]);
    // An expiry stamped by a leader whose clock is behind still counts the log clock (1500).
    expect(sm.apply(expire(1200, [["c", 5]]), 9)).toEqual({ type: "expire", count: 1 });
    expect(sm.get("c")).toBeUndefined();
  });

  test("a plain write or a delete makes a key permanent; an expiry then leaves it", () => {
    const sm = new KvStateMachine();
    sm.apply(setTtl(1000, 10, { a: "1", b: "1" }), 1);
    sm.apply(set({ a: "2" }), 2);
    sm.apply(encodeCommand({ type: "delete", key: "b" }), 3);
    sm.apply(set({ b: "3" }), 4);
    expect([sm.deadlineOf("a"), sm.deadlineOf("b"), sm.expiry.size]).toEqual([undefined, undefined, 0]);
    expect(sm.apply(expire(5000, [["a", 2], ["b", 4]]), 5)).toEqual({ type: "expire", count: 0 });
    expect([sm.get("a"), sm.get("b")]).toEqual(["2", "3"]);
  });

  test("a once command with a TTL: applied once, its deadline from the stamp", () => {
    const sm = new KvStateMachine();
    const write: WriteCommand = { type: "set", pairs: [["a", "1"]], ttl: { stamp: 2000, ms: 100 } };
    expect(sm.apply(encodeCommand(onceCommand(2000, ":k", write)), 1)).toMatchObject({ type: "once", status: 200, replayed: false });
    expect(sm.deadlineOf("a")).toBe(2100);
    sm.apply(expire(2100, [["a", 1]]), 2);
    // The retry is a replay: the key stays expired.
    expect(sm.apply(encodeCommand(onceCommand(2200, ":k", write)), 3)).toMatchObject({ type: "once", status: 200, replayed: true });
    expect(sm.get("a")).toBeUndefined();
  });

  test("a condition sees a key past its deadline by the log clock as absent, before its expiry applies", () => {
    const sm = new KvStateMachine();
    sm.apply(setTtl(1000, 100, { lock: "a" }), 1);
    // Log clock 1000: the key is there.
    expect(sm.apply(encodeCommand({ type: "set", pairs: [["lock", "b"]], condition: { type: "absent" } }), 2)).toMatchObject({ type: "precondition" });
    // A stamped entry moves the log clock past the deadline (1100): now it counts as absent.
    sm.apply(setTtl(1100, 100, { other: "x" }), 3);
    const failed = sm.apply(encodeCommand({ type: "set", pairs: [["lock", "b"]], condition: { type: "match", versions: [1] } }), 4);
    expect(failed).toMatchObject({ type: "precondition" });
    expect(JSON.parse((failed as { body: string }).body).versions).toEqual({ lock: null });
    expect(sm.apply(encodeCommand({ type: "set", pairs: [["lock", "b"]], condition: { type: "absent" } }), 5)).toEqual({ type: "set", count: 1, index: 5 });
    expect([sm.get("lock"), sm.deadlineOf("lock")]).toEqual(["b", undefined]);
    // A set with a TTL moves the clock by its own stamp before its condition is checked.
    sm.apply(setTtl(1100, 50, { t: "1" }), 6);
    expect(sm.apply(setTtl(1150, 50, { t: "2" }, { type: "absent" }), 7)).toEqual({ type: "set", count: 1, index: 7 });
    expect([sm.get("t"), sm.deadlineOf("t")]).toEqual(["2", 1200]);
  });

  test("every replica computes the same state from the same entries", () => {
    const log = [setTtl(1000, 300, { a: "1", b: "1" }), set({ b: "2" }), setTtl(1100, 50, { c: "1" }), expire(1200, [["a", 1], ["c", 3]]), setTtl(1250, 10, { a: "x" })];
    const states = [new KvStateMachine(), new KvStateMachine()].map((sm) => {
      log.forEach((e, i) => sm.apply(e, i + 1));
      return { pairs: [...sm.entries()], deadlines: [...sm.expiry.entries()], clock: sm.logClock, snap: sm.snapshot() };
    });
    expect(states[0]).toEqual(states[1]!);
    expect(states[0]!.pairs).toEqual([["a", "x"], ["b", "2"]]);
    expect(states[0]!.deadlines).toEqual([["a", 1260]]);
  });
});

describe("reminders", () => {
  test("due keys come out in deadline order with their versions; not-yet-due and stale ones stay or go", () => {
    const t = new ExpiryTable();
    t.set("late", 300);
    t.set("early", 100);
    t.set("mid", 200);
    t.set("gone", 150);
    t.clear("gone");
    const versions: Record<string, number> = { late: 3, early: 1, mid: 2 };
    expect(t.collectDue(250, 10, 1 << 20, (k) => versions[k])).toEqual([["early", 1], ["mid", 2]]);
    // Collected keys stay due until their expiry applies (an entry that never commits is found again).
    expect(t.collectDue(250, 10, 1 << 20, (k) => versions[k])).toEqual([["early", 1], ["mid", 2]]);
    expect(t.collectDue(250, 1, 1 << 20, (k) => versions[k])).toEqual([["early", 1]]);
    t.clear("early");
    t.clear("mid");
    expect(t.collectDue(250, 10, 1 << 20, (k) => versions[k])).toEqual([]);
    expect(t.nextReminder()).toBe(300);
  });

  test("a refresh that extends a deadline pushes no reminder; the old one moves when popped", () => {
    const t = new ExpiryTable();
    t.set("k", 100);
    for (let i = 1; i <= 50; i++) t.set("k", 100 + i);
    expect(t.reminders).toBe(1);
    expect(t.collectDue(120, 10, 1 << 20, () => 1)).toEqual([]);
    expect(t.nextReminder()).toBe(150);
    // A shorter deadline needs a reminder of its own.
    t.set("k", 130);
    expect(t.reminders).toBe(2);
    expect(t.collectDue(135, 10, 1 << 20, () => 7)).toEqual([["k", 7]]);
  });

  test("a follower, which never collects, keeps no reminder for keys that expired", () => {
    const sm = new KvStateMachine();
    let index = 0;
    for (let round = 0; round < 200; round++) {
      const stamp = 1000 + round * 100;
      const keys = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`r${round}-${i}`, "v"]));
      sm.apply(setTtl(stamp, 50, keys), ++index);
      const at = index;
      sm.apply(expire(stamp + 50, Object.keys(keys).map((k) => [k, at])), ++index);
    }
    expect([sm.size, sm.expiry.size]).toEqual([0, 0]);
    expect(sm.expiry.reminders).toBeLessThanOrEqual(10);
  });

  test("many keys: due ones come out by deadline, the arena is compacted, every key comes back intact", () => {
    const t = new ExpiryTable();
    const n = 20_000;
    const keys = Array.from({ length: n }, (_, i) => `key-${i}-${"x".repeat(i % 13)}`);
    keys.forEach((key, i) => t.set(key, (i * 7919) % n));
    const out: string[] = [];
    for (let now = 0; now <= n; now += 500) {
      for (const [key] of t.collectDue(now, n, 1 << 30, () => 0)) {
        expect(t.deadlineOf(key)!).toBeLessThanOrEqual(now);
        out.push(key);
        t.clear(key);
      }
    }
    expect(out.sort()).toEqual([...keys].sort());
    // The reminders of the cleared keys are dropped when next met.
    expect(t.collectDue(n + 1, n, 1 << 30, () => 0)).toEqual([]);
    expect(t.reminders).toBe(0);
  });
});

describe("snapshots", () => {
  function withDeadlines(): KvStateMachine {
    const sm = new KvStateMachine();
    for (let i = 0; i < 3000; i++) sm.apply(i % 3 === 0 ? setTtl(1000 + i, 10_000, { [`k${i}`]: `v${i}` }) : set({ [`k${i}`]: `v${i}` }), i + 1);
    return sm;
  }

  test("format 4 carries deadlines and the log clock; the same bytes sync and async; restore keeps them", async () => {
    const sm = withDeadlines();
    const sync = sm.snapshot();
    expect(sync[1]).toBe(snapshotFormatDeadlines);
    expect(await sm.snapshotAsync(() => Promise.resolve())).toEqual(sync);
    for (const isAsync of [false, true]) {
      const r = new KvStateMachine();
      if (isAsync) await r.restoreAsync(sync, () => Promise.resolve());
      else r.restore(sync);
      expect([...r.expiry.entries()]).toEqual([...sm.expiry.entries()]);
      expect([r.logClock, r.deadlineOf("k3"), r.deadlineOf("k4"), r.versionOf("k3")]).toEqual([3997, 11_003, undefined, 4]);
      expect(r.snapshot()).toEqual(sync);
      // The restored replica expires what the original does.
      const e = expire(20_000, [["k3", 4], ["k6", 7]]);
      expect(r.apply(e, 3001)).toEqual({ type: "expire", count: 2 });
    }
  });

  test("writes while a snapshot is encoded do not reach its deadlines", async () => {
    const sm = withDeadlines();
    const before = sm.snapshot();
    let applied = false;
    const bytes = await sm.snapshotAsync(async () => {
      if (applied) return;
      applied = true;
      sm.apply(setTtl(5000, 1, { k0: "new", fresh: "f" }), 3001);
      sm.apply(set({ k3: "plain" }), 3002);
    });
    expect(bytes).toEqual(before);
    expect([sm.deadlineOf("k0"), sm.deadlineOf("fresh"), sm.deadlineOf("k3")]).toEqual([5001, 5001, undefined]);
  });

  test("the deadlines are encoded a chunk per turn, frozen as of the start while writes go on", async () => {
    const sm = new KvStateMachine();
    for (let i = 0; i < 5000; i++) sm.apply(setTtl(1000, 10_000 + i, { [`k${i}`]: "v" }), i + 1);
    const before = sm.snapshot();
    let pauses = 0;
    const bytes = await sm.snapshotAsync(async () => {
      pauses++;
      // Every turn: a refresh, a plain write, a new key with a TTL, an expiry.
      sm.apply(setTtl(2000, 1, { [`k${pauses}`]: "r", [`new${pauses}`]: "n" }), 10_000 + 3 * pauses);
      sm.apply(set({ [`k${4999 - pauses}`]: "plain" }), 10_001 + 3 * pauses);
      sm.apply(expire(2001, [[`new${pauses - 1}`, 10_000 + 3 * (pauses - 1)]]), 10_002 + 3 * pauses);
    });
    expect(bytes).toEqual(before);
    // 5 chunks of pairs, 5 of deadlines: a pause before each.
    expect(pauses).toBeGreaterThanOrEqual(10);
    expect([sm.deadlineOf("k1"), sm.deadlineOf("k4998"), sm.deadlineOf(`new${pauses}`), sm.deadlineOf("new1")]).toEqual([2001, undefined, 2002, undefined]);
    const r = new KvStateMachine();
    r.restore(sm.snapshot());
    expect([...r.expiry.entries()]).toEqual([...sm.expiry.entries()]);
  });

  test("once no key has a deadline, format 3 is written again; formats 1 to 3 load without deadlines", () => {
    const sm = new KvStateMachine();
    sm.apply(setTtl(1000, 10, { a: "1" }), 1);
    expect(sm.snapshot()[1]).toBe(snapshotFormatDeadlines);
    sm.apply(expire(1010, [["a", 1]]), 2);
    sm.apply(set({ b: "2" }), 3);
    const bytes = sm.snapshot();
    expect(bytes[1]).toBe(snapshotFormatVersions);
    const r = new KvStateMachine();
    r.restore(bytes);
    expect([r.get("b"), r.logClock, r.expiry.size]).toEqual(["2", 1010, 0]);
    for (const old of [raw.encode([1, 1, raw.encode(["a", "1"])]), raw.encode([2, 1, [10], raw.encode(["a", "1"])]), raw.encode([3, 1, [10], raw.encode(["a", "1", 4])])]) {
      const o = new KvStateMachine();
      o.apply(setTtl(1, 10, { stale: "x" }), 1);
      o.restore(old);
      expect([o.get("a"), o.get("stale"), o.expiry.size, o.deadlineOf("a")]).toEqual(["1", undefined, 0, undefined]);
    }
  });

  test("a format-4 snapshot with a deadline for a key it does not hold, twice, or malformed is refused", () => {
    const chunk = raw.encode(["a", "1", 4]);
    const bad = [
      raw.encode([4, 1, [10], [raw.encode(["b", 100])], chunk]),
      raw.encode([4, 1, [10], [raw.encode(["a", 100, "a", 200])], chunk]),
      raw.encode([4, 1, [10], [raw.encode(["a", -1])], chunk]),
      raw.encode([4, 1, [10], "not an array", chunk]),
      raw.encode([4, 1, [10]]),
      raw.encode([5, 1, [10], [], chunk]),
    ];
    for (const bytes of bad) {
      const sm = new KvStateMachine();
      sm.apply(set({ keep: "me" }), 1);
      expect(() => sm.restore(bytes)).toThrow();
      expect(sm.get("keep")).toBe("me");
    }
    const good = new KvStateMachine();
    good.restore(raw.encode([4, 1, [10], [raw.encode(["a", 100])], chunk]));
    expect([good.get("a"), good.deadlineOf("a"), good.logClock]).toEqual(["1", 100, 10]);
  });
});

describe("forwarding", () => {
  const forward = (op: ForwardedOp): StoreMessage => ({ type: "forward", reqId: "inc.1", op, user: null });
  test("a set with a TTL keeps it (and its key and condition) on the way to the leader; readExpiring too", () => {
    const ops: ForwardedOp[] = [
      { type: "set", pairs: [["a", "1"], ["b", "2"]], ttlMs: 30_000 },
      { type: "set", pairs: [["a", "1"]], ttlMs: 1, idempotencyKey: "k-1", condition: { type: "absent" } },
      { type: "readExpiring", key: "a" },
    ];
    for (const op of ops) expect(parseStoreMessage(storeMessageValue(forward(op)))).toEqual(forward(op));
    expect(storeMessageValue(forward(ops[0]!))).toEqual([0, "inc.1", [9, ["a", "1", "b", "2"], null, null, 30_000]]);
  });

  test("a malformed TTL or shape is dropped, never served without it", () => {
    for (const op of [
      [9, ["a", "1"], null, null, 0],
      [9, ["a", "1"], null, null, ttlMsMax + 1],
      [9, ["a", "1"], null, null, "30s"],
      [9, ["a", "1"], null, null],
      [9, ["a", "1"], "", null, 5],
      [9, ["a", "1"], null, [7], 5],
      [10, "a", "b"],
    ]) {
      expect(parseStoreMessage([0, "inc.1", op])).toBeNull();
    }
  });
});

describe("once commands with a TTL", () => {
  test("a retry (another stamp) is the same request; another TTL is a different one", () => {
    const write = (stamp: number, ms: number): WriteCommand => ({ type: "set", pairs: [["a", "1"]], ttl: { stamp, ms } });
    const sm = new KvStateMachine();
    expect(sm.apply(encodeCommand(onceCommand(1000, ":k", write(1000, 500))), 1)).toMatchObject({ status: 200, replayed: false });
    expect(sm.apply(encodeCommand(onceCommand(3000, ":k", write(3000, 500))), 2)).toMatchObject({ status: 200, replayed: true });
    expect(sm.apply(encodeCommand(onceCommand(3000, ":k", write(3000, 600))), 3)).toMatchObject({ status: 422 });
    expect(sm.deadlineOf("a")).toBe(1500);
  });
});

describe("watches", () => {
  test("an expiry is a delete on the change feed, at the expiry entry's index", () => {
    const sm = new KvStateMachine();
    sm.changes.arm(0);
    sm.apply(setTtl(1000, 10, { a: "1", b: "1" }), 1);
    sm.apply(expire(1010, [["a", 1], ["b", 1]]), 2);
    expect(sm.changes.since(0, "")!.map((c) => [c.index, c.key, c.value])).toEqual([[1, "a", "1"], [1, "b", "1"], [2, "a", null], [2, "b", null]]);
  });
});
