// Goal: a write with an Idempotency-Key is applied at most once per key while the key is
// remembered: the once command's codec, the state machine's decision at apply (same request:
// the stored outcome, nothing written; different request: 422), expiry by the log clock only,
// the table's bounds (oldest first), and the table in snapshots (format 2), while a state that
// never used a key still writes format 1 and format-1 snapshots still load.
// Method: the production codec and KvStateMachine, fed encoded entries as the driver feeds them.

import { describe, expect, test } from "bun:test";
import { Encoder } from "cbor-x/encode";
import { type Command, decodeCommand, encodeCommand, encodeOnceCommand, onceCommand, type WriteCommand } from "../../../store/commands.ts";
import { CommandError, SnapshotError } from "../../../store/errors.ts";
import { sessionLimitsDefault } from "../../../store/sessions.ts";
import { type ApplyResult, KvStateMachine } from "../../../store/state_machine.ts";

const raw = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const hour = 60 * 60 * 1000;
const set = (k: string, v: string): WriteCommand => ({ type: "set", pairs: [[k, v]] });
const once = (stamp: number, id: string, write: WriteCommand): Uint8Array => encodeCommand(onceCommand(stamp, id, write));

describe("the once command's codec", () => {
  test("round trip; the digest depends on the write only, and tells writes apart", () => {
    const a = onceCommand(5, ":k1", set("a", "1"));
    expect(decodeCommand(encodeCommand(a))).toEqual(a);
    const del = onceCommand(5, "alice:k1", { type: "delete", key: "a" });
    expect(decodeCommand(encodeCommand(del))).toEqual(del);
    expect(onceCommand(9, ":other", set("a", "1")).digest).toBe(a.digest);
    expect(onceCommand(5, ":k1", set("a", "2")).digest).not.toBe(a.digest);
    expect(del.digest).not.toBe(a.digest);
  });

  test("malformed once commands are refused", () => {
    const inner = encodeCommand(set("a", "1"));
    const bad: Array<[string, unknown[]]> = [
      ["negative stamp", [3, -1, ":k", inner]],
      ["fractional stamp", [3, 1.5, ":k", inner]],
      ["empty id", [3, 1, "", inner]],
      ["id too long", [3, 1, "x".repeat(513), inner]],
      ["write not bytes", [3, 1, ":k", [1, "a", "1"]]],
      ["write not a command", [3, 1, ":k", new Uint8Array([0xff])]],
      ["nested once", [3, 1, ":k", once(1, ":j", set("a", "1"))]],
      ["extra operand", [3, 1, ":k", inner, 0]],
    ];
    for (const [what, value] of bad) expect(() => decodeCommand(raw.encode(value)), what).toThrow(CommandError);
    expect(() => onceCommand(-1, ":k", set("a", "1"))).toThrow(CommandError);
  });

  test("the leader's encoding is the same bytes as the command's", () => {
    const write: WriteCommand = { type: "delete", key: "x" };
    expect([...encodeOnceCommand(77, "u:k", write)]).toEqual([...encodeCommand(onceCommand(77, "u:k", write))]);
    expect(() => encodeOnceCommand(1, "", write)).toThrow(CommandError);
  });

  test("plain commands are encoded exactly as before", () => {
    const plain: Command = { type: "set", pairs: [["foo", "bar"]] };
    expect([...encodeCommand(plain)]).toEqual([...raw.encode([1, "foo", "bar"])]);
  });
});

describe("applying once commands", () => {
  test("the first application writes; a repeat answers the stored outcome and writes nothing", () => {
    const sm = new KvStateMachine();
    const first = once(1000, ":k1", set("a", "1"));
    expect(sm.apply(first)).toEqual({ type: "once", status: 200, body: "", replayed: false, index: 0 });
    expect(sm.get("a")).toBe("1");
    sm.apply(encodeCommand(set("a", "2")));
    // Same bytes again (a client's retry, proposed anew, stamped later).
    expect(sm.apply(once(2000, ":k1", set("a", "1")))).toEqual({ type: "once", status: 200, body: "", replayed: true, index: 0 });
    expect(sm.get("a")).toBe("2");
  });

  test("a different request under a remembered key is 422, writes nothing, and the key keeps its outcome", () => {
    const sm = new KvStateMachine();
    sm.apply(once(1000, ":k1", set("a", "1")));
    const other = sm.apply(once(1001, ":k1", set("a", "9"))) as Extract<ApplyResult, { type: "once" }>;
    expect(other.status).toBe(422);
    expect(JSON.parse(other.body).error).toContain('"k1"');
    expect(sm.get("a")).toBe("1");
    expect(sm.apply(once(1002, ":k1", { type: "delete", key: "a" }))).toMatchObject({ status: 422 });
    expect(sm.get("a")).toBe("1");
    expect(sm.apply(once(1003, ":k1", set("a", "1")))).toMatchObject({ status: 200, replayed: true });
  });

  test("keys are scoped: the same key of two users is two requests", () => {
    const sm = new KvStateMachine();
    expect(sm.apply(once(1, "alice:k", set("a", "1")))).toMatchObject({ replayed: false });
    expect(sm.apply(once(1, "bob:k", set("b", "1")))).toMatchObject({ status: 200, replayed: false });
    expect(sm.get("b")).toBe("1");
  });

  test("an entry expires by the log clock: the largest stamp applied, which never goes back", () => {
    const sm = new KvStateMachine();
    const t0 = 1_700_000_000_000;
    sm.apply(once(t0, ":k1", set("a", "1")));
    // A later leader with a clock 2 hours behind: the log clock stays at t0.
    sm.apply(once(t0 - 2 * hour, ":k2", set("b", "1")));
    expect(sm.sessions.logClock).toBe(t0);
    // Just inside the window the key is remembered...
    sm.apply(once(t0 + 24 * hour - 1, ":k3", set("c", "1")));
    sm.apply(encodeCommand(set("a", "2")));
    expect(sm.apply(once(t0 + 24 * hour - 1, ":k1", set("a", "1")))).toMatchObject({ replayed: true });
    expect(sm.get("a")).toBe("2");
    // ...and once the log clock passes it, the same request is a new one.
    expect(sm.apply(once(t0 + 24 * hour, ":k1", set("a", "1")))).toMatchObject({ status: 200, replayed: false });
    expect(sm.get("a")).toBe("1");
    // k2 was stamped with the log clock (t0), not its own stamp: it expired with k1.
    expect(sm.sessions.lookup(":k2")).toBeUndefined();
    expect(sm.sessions.lookup(":k3")).toBeDefined();
  });

  test("the table is bounded by count and by characters, oldest first", () => {
    const byCount = new KvStateMachine({ ...sessionLimitsDefault, countMax: 3 });
    for (let i = 0; i < 5; i++) byCount.apply(once(i, `:k${i}`, set("a", String(i))));
    expect(byCount.sessions.size).toBe(3);
    expect(byCount.sessions.lookup(":k1")).toBeUndefined();
    expect(byCount.sessions.lookup(":k2")).toBeDefined();
    expect(byCount.apply(once(9, ":k0", set("a", "0")))).toMatchObject({ replayed: false });

    const byChars = new KvStateMachine({ ...sessionLimitsDefault, charsMax: 300 });
    for (let i = 0; i < 10; i++) byChars.apply(once(i, `:${"x".repeat(60)}${i}`, set("a", String(i))));
    expect(byChars.sessions.chars).toBeLessThanOrEqual(300);
    expect(byChars.sessions.size).toBeGreaterThan(0);
    expect(byChars.sessions.lookup(`:${"x".repeat(60)}9`)).toBeDefined();
    expect(byChars.sessions.lookup(`:${"x".repeat(60)}0`)).toBeUndefined();
  });

  test("replicas agree: the same log gives the same results and the same snapshot bytes", () => {
    const log: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      const id = `:k${i % 37}`;
      log.push(once(1000 + (i * 7919) % 5000, id, set(`a${i % 11}`, String(i % 3))));
      if (i % 5 === 0) log.push(encodeCommand({ type: "delete", key: `a${i % 11}` }));
    }
    const replicas = [new KvStateMachine({ ...sessionLimitsDefault, countMax: 20 }), new KvStateMachine({ ...sessionLimitsDefault, countMax: 20 })];
    const results = replicas.map((sm) => log.map((e) => sm.apply(e)));
    expect(results[0]).toEqual(results[1]!);
    expect(Buffer.compare(replicas[0]!.snapshot(), replicas[1]!.snapshot())).toBe(0);
  });
});

describe("the table in snapshots", () => {
  test("format 2 carries the table and the log clock; restore and restoreAsync keep deciding the same", async () => {
    const sm = new KvStateMachine();
    sm.apply(encodeCommand(set("plain", "p")));
    for (let i = 0; i < 2500; i++) sm.apply(once(5000 + i, `:k${i}`, set(`a${i % 10}`, String(i))));
    sm.apply(once(9000, ":mismatch", set("m", "1")));
    const sync = sm.snapshot();
    const async = await sm.snapshotAsync(() => Promise.resolve());
    expect(Buffer.compare(async, sync)).toBe(0);
    expect(raw.decode(sync)[0]).toBe(2);
    for (const isAsync of [false, true]) {
      const restored = new KvStateMachine();
      if (isAsync) await restored.restoreAsync(sync, () => Promise.resolve());
      else restored.restore(sync);
      expect(restored.sessions.logClock).toBe(9000);
      expect(restored.sessions.size).toBe(2501);
      expect(restored.get("plain")).toBe("p");
      restored.apply(encodeCommand(set("a3", "changed")));
      expect(restored.apply(once(9001, ":k3", set("a3", "3")))).toMatchObject({ replayed: true });
      expect(restored.get("a3")).toBe("changed");
      expect(restored.apply(once(9001, ":mismatch", set("m", "2")))).toMatchObject({ status: 422 });
    }
    const again = new KvStateMachine();
    again.restore(sync);
    expect(Buffer.compare(again.snapshot(), sync)).toBe(0);
  });

  test("a state that never used a key writes format 1; format-1 snapshots load with an empty table", () => {
    const sm = new KvStateMachine();
    sm.apply(encodeCommand(set("a", "1")));
    const bytes = sm.snapshot();
    expect([...bytes]).toEqual([...raw.encode([1, 1, raw.encode(["a", "1"])])]);
    const old = raw.encode([1, 2, raw.encode(["a", "1", "b", "2"])]);
    const restored = new KvStateMachine();
    restored.restore(old);
    expect(restored.get("b")).toBe("2");
    expect(restored.sessions.size).toBe(0);
    expect(restored.apply(once(1, ":k", set("a", "x")))).toMatchObject({ replayed: false });
  });

  test("a malformed table refuses the snapshot and keeps the current state", () => {
    const chunk = raw.encode(["a", "1"]);
    const entry = (e: unknown[]): Uint8Array => raw.encode(e);
    const bad: Array<[string, unknown[]]> = [
      ["no table", [2, 1]],
      ["null table", [2, 1, null, chunk]],
      ["table not an array", [2, 1, "x", chunk]],
      ["bad log clock", [2, 1, [-5], chunk]],
      ["chunk not bytes", [2, 1, [10, ["x"]], chunk]],
      ["entry missing a field", [2, 1, [10, entry([":k", "d", 1, 200])], chunk]],
      ["stamp after the log clock", [2, 1, [10, entry([":k", "d", 11, 200, ""])], chunk]],
      ["bad status", [2, 1, [10, entry([":k", "d", 1, 99, ""])], chunk]],
      ["duplicate id", [2, 1, [10, entry([":k", "d", 1, 200, "", ":k", "d", 2, 200, ""])], chunk]],
      ["unknown format", [3, 1, [10], chunk]],
    ];
    const sm = new KvStateMachine();
    sm.apply(once(1, ":keep", set("z", "1")));
    for (const [what, value] of bad) expect(() => sm.restore(raw.encode(value)), what).toThrow(SnapshotError);
    expect(sm.get("z")).toBe("1");
    expect(sm.sessions.lookup(":keep")).toBeDefined();
  });
});
