// Goal: conditional writes (issue 16 item 2) are decided by the state machine at apply, from
// the versions it holds: If-Match versions, If-Match * and If-None-Match * on sets and deletes;
// a failed condition writes nothing (all keys of a multi-key set or none) and answers 412 with
// every named key's current version; the codec keeps plain commands' bytes, round-trips
// conditions and refuses malformed ones; a condition travels with a forwarded write and with
// an Idempotency-Key (whose replay answers the stored 412).
// Method: the production codec and KvStateMachine fed entries with indexes; three production
// nodes on the test kit's wire (cluster_kit.ts) for forwarding.

import { afterEach, describe, expect, test } from "bun:test";
import { Encoder } from "cbor-x/encode";
import type { NodeId } from "../../../raft/core/mod.ts";
import { type Condition, decodeCommand, encodeCommand, onceCommand, type WriteCommand } from "../../../store/commands.ts";
import { CommandError } from "../../../store/errors.ts";
import { parseStoreMessage, storeMessageValue } from "../../../store/forward.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";
import { Cluster, track } from "./cluster_kit.ts";

const raw = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const match = (...versions: number[]): Condition => ({ type: "match", versions });
const setIf = (pairs: Record<string, string>, condition?: Condition): WriteCommand =>
  condition === undefined ? { type: "set", pairs: Object.entries(pairs) } : { type: "set", pairs: Object.entries(pairs), condition };

describe("the conditional commands' codec", () => {
  test("round trips; plain commands keep their bytes; malformed conditions are refused", () => {
    const commands: WriteCommand[] = [
      setIf({ a: "1", b: "2" }, match(3, 9)),
      setIf({ a: "1" }, { type: "absent" }),
      { type: "delete", key: "a", condition: { type: "exists" } },
      { type: "delete", key: "a", condition: match(0) },
    ];
    for (const c of commands) expect(decodeCommand(encodeCommand(c))).toEqual(c);
    const once = onceCommand(5, ":k", commands[0]!);
    expect(decodeCommand(encodeCommand(once))).toEqual(once);
    expect([...encodeCommand(setIf({ a: "1" }))]).toEqual([...raw.encode([1, "a", "1"])]);
    for (const bad of [[4, [0], "a", "1"], [4, [3], "a", "1"], [4, [0, -1], "a", "1"], [4, [1, 2], "a", "1"], [5, [1], ""], [5, [0, 1.5], "a"], [4, [1]]]) {
      expect(() => decodeCommand(raw.encode(bad)), JSON.stringify(bad)).toThrow(CommandError);
    }
  });

  test("a forwarded write carries its condition, with or without a key; malformed options drop the frame", () => {
    const op = { type: "set", pairs: [["a", "1"]], condition: match(4) } as const;
    expect(parseStoreMessage(storeMessageValue({ type: "forward", reqId: "i.1", op, user: null }))).toEqual({ type: "forward", reqId: "i.1", op, user: null });
    const both = { type: "delete", key: "a", idempotencyKey: "k", condition: { type: "absent" } } as const;
    expect(parseStoreMessage(storeMessageValue({ type: "forward", reqId: "i.2", op: both, user: null }))).toEqual({ type: "forward", reqId: "i.2", op: both, user: null });
    expect(parseStoreMessage([0, "i.3", [6, ["a", "1"], null]])).toBeNull();
    expect(parseStoreMessage([0, "i.3", [7, "a", null, [9]]])).toBeNull();
  });
});

describe("conditions decided at apply", () => {
  test("If-Match: the write goes through only at a listed version; 412 names the current versions", () => {
    const sm = new KvStateMachine();
    sm.apply(encodeCommand(setIf({ a: "1" })), 5);
    expect(sm.apply(encodeCommand(setIf({ a: "2" }, match(4))), 6)).toMatchObject({ type: "precondition" });
    expect(sm.get("a")).toBe("1");
    const failed = sm.apply(encodeCommand(setIf({ a: "2", b: "2" }, match(5))), 7) as { type: string; body: string };
    expect(failed.type).toBe("precondition"); // b does not exist: all or nothing
    expect(JSON.parse(failed.body)).toEqual({ error: expect.stringContaining('"b"'), versions: { a: 5, b: null } });
    expect([sm.get("a"), sm.get("b")]).toEqual(["1", undefined]);
    expect(sm.apply(encodeCommand(setIf({ a: "2" }, match(3, 5))), 8)).toEqual({ type: "set", count: 1, index: 8 });
    expect([sm.get("a"), sm.versionOf("a")]).toEqual(["2", 8]);
    expect(sm.apply(encodeCommand({ type: "delete", key: "a", condition: match(5) }), 9)).toMatchObject({ type: "precondition" });
    expect(sm.apply(encodeCommand({ type: "delete", key: "a", condition: match(8) }), 10)).toEqual({ type: "delete", existed: true, index: 10 });
  });

  test("If-None-Match * creates only; If-Match * needs the key", () => {
    const sm = new KvStateMachine();
    expect(sm.apply(encodeCommand(setIf({ a: "1", b: "1" }, { type: "absent" })), 3)).toEqual({ type: "set", count: 2, index: 3 });
    expect(sm.apply(encodeCommand(setIf({ c: "1", a: "x" }, { type: "absent" })), 4)).toMatchObject({ type: "precondition" });
    expect([sm.get("a"), sm.get("c")]).toEqual(["1", undefined]);
    expect(sm.apply(encodeCommand(setIf({ d: "1" }, { type: "exists" })), 5)).toMatchObject({ type: "precondition" });
    expect(sm.apply(encodeCommand(setIf({ a: "2" }, { type: "exists" })), 6)).toEqual({ type: "set", count: 1, index: 6 });
  });

  test("with an Idempotency-Key, a failed condition is the stored outcome: its retry answers the same 412", () => {
    const sm = new KvStateMachine();
    sm.apply(encodeCommand(setIf({ a: "1" })), 2);
    const first = sm.apply(encodeCommand(onceCommand(10, ":k", setIf({ a: "2" }, match(1)))), 3) as { status: number; body: string };
    expect(first.status).toBe(412);
    sm.apply(encodeCommand(setIf({ a: "3" })), 4);
    const retry = sm.apply(encodeCommand(onceCommand(11, ":k", setIf({ a: "2" }, match(1)))), 5);
    expect(retry).toEqual({ type: "once", status: 412, body: first.body, replayed: true, index: 5 });
  });
});

let cluster: Cluster | null = null;
afterEach(() => {
  cluster?.close();
  cluster = null;
});

test("a conditional write sent to a follower is decided at the leader's apply and answered with its outcome; a forwarded read carries the version", async () => {
  const [a, b] = ["a", "b"] as NodeId[];
  const k = (cluster = new Cluster([a!, b!, "c" as NodeId]));
  k.elect(a!);
  k.tick([a!], 4);
  await k.settle();
  const create = track(k.proc(b!).store.writeWith({ type: "set", pairs: [["x", "1"]], condition: { type: "absent" } }, {}));
  await k.settle();
  const version = k.proc(a!).sm.versionOf("x")!;
  // Forwarded: the leader's reply carries the version the write wrote.
  expect(create.value).toEqual({ status: 200, body: "", replayed: false, version });
  const again = track(k.proc(b!).store.writeWith({ type: "set", pairs: [["x", "2"]], condition: { type: "absent" } }, {}));
  await k.settle();
  expect(again.value?.status).toBe(412);
  expect(JSON.parse(again.value!.body).versions).toEqual({ x: version });
  const cas = track(k.proc(b!).store.writeWith({ type: "set", pairs: [["x", "2"]], condition: match(version) }, {}));
  await k.settle();
  expect(cas.value).toEqual({ status: 200, body: "", replayed: false, version: k.proc(a!).sm.versionOf("x")! });
  expect(k.proc(a!).sm.get("x")).toBe("2");
  // A leader-level read on the follower is forwarded: the leader's value, version and applied index.
  const read = track(k.proc(b!).store.getVersioned("x", "leader"));
  await k.settle();
  expect(read.value).toEqual({ value: "2", version: k.proc(a!).sm.versionOf("x")!, applied: k.proc(a!).node.lastApplied });
  const absent = track(k.proc(b!).store.getVersioned("none", "leader"));
  await k.settle();
  expect(absent.value).toEqual({ value: null, version: null, applied: k.proc(a!).node.lastApplied });
});
