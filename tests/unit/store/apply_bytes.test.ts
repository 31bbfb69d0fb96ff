// Goal: a plain set (a once command of one, a conditional set whose condition holds) applied from its bytes (KvStateMachine.apply's path with no string made,
// store/plain_set.ts plainSetSpans) leaves the machine exactly as decoding the command and
// applying it does (KvStateMachine.applyDecoded: decodeCommand + applyCommand, the general path), with the same result, for
// every command, well-formed or not; and it is the path a plain set takes when only the map
// follows its keys. Method: seeded plain sets over a few keys (overwrites, empty values, heads
// of every size), seeded damage to them, and a few other commands, applied at growing
// indexes to two machines, one through apply and one through the general path; their
// results and their snapshots (pairs, order, versions) are compared after each.

import { describe, expect, test } from "bun:test";
import { encodeCommand, type KeyValue, type WriteCommand } from "../../../store/commands.ts";
import { conditionalSetsAppliedFromBytes, KvStateMachine, onceSetsAppliedFromBytes, plainSetsAppliedFromBytes } from "../../../store/state_machine.ts";
import { mutateBytes } from "../../support/mutate_bytes.ts";
import { storageRng, type StorageRng } from "../../support/storage_rng.ts";

const keyLengths = [1, 2, 23, 24, 255, 256];

function pairsOf(rng: StorageRng): KeyValue[] {
  return Array.from({ length: 1 + rng.int(4) }, () => {
    const key = String.fromCharCode(97 + rng.int(6)).repeat(keyLengths[rng.int(keyLengths.length)]!);
    const value = "v".repeat([0, 1, 16, 23, 24, 300][rng.int(6)]!) + String(rng.int(1000));
    return [key, value] as KeyValue;
  });
}

function commandOf(rng: StorageRng): Uint8Array {
  const roll = rng.int(9);
  if (roll === 0) return encodeCommand({ type: "delete", key: String.fromCharCode(97 + rng.int(6)) });
  if (roll === 1) return encodeCommand({ type: "set", pairs: [["ключ", "v"]] });
  if (roll === 2) return encodeCommand({ type: "set", pairs: pairsOf(rng), condition: { type: "absent" } });
  const bytes = encodeCommand({ type: "set", pairs: pairsOf(rng) });
  return roll < 6 ? bytes : mutateBytes(rng, bytes);
}

describe("a plain set applied from its bytes", () => {
  test("leaves the machine and gives the result the general path does, for any bytes", () => {
    const rng = storageRng(1804);
    const fast = new KvStateMachine();
    const general = new KvStateMachine();
    const before = plainSetsAppliedFromBytes.count;
    for (let index = 1; index <= 3_000; index++) {
      const data = commandOf(rng);
      const got = fast.apply(data, index);
      expect(got).toEqual(general.applyDecoded(data, index));
      if (index % 100 === 0) expect(fast.snapshot()).toEqual(general.snapshot());
    }
    expect(fast.snapshot()).toEqual(general.snapshot());
    expect([...fast.entries()]).toEqual([...general.entries()]);
    // Most of them went the byte path (a third of the commands are damaged or other kinds).
    expect(plainSetsAppliedFromBytes.count - before).toBeGreaterThan(1_000);
  });

  test("is not taken while something else follows the keys: a listing's key order, a watch", () => {
    for (const follow of [(sm: KvStateMachine) => sm.list({ prefix: "", after: null, limit: 10 }), (sm: KvStateMachine) => sm.changes.arm(1)]) {
      const sm = new KvStateMachine();
      sm.apply(encodeCommand({ type: "set", pairs: [["b", "1"]] }), 1);
      follow(sm);
      const before = plainSetsAppliedFromBytes.count;
      expect(sm.apply(encodeCommand({ type: "set", pairs: [["a", "2"]] }), 2)).toEqual({ type: "set", count: 1, index: 2 });
      expect(plainSetsAppliedFromBytes.count).toBe(before);
      expect(sm.get("a")).toBe("2");
    }
  });
});

/**
 * A once command (an Idempotency-Key's entry) over a few ids, so that ids repeat with the same
 * write (a replay) and with another (a 422); its write mostly a plain set, sometimes another
 * kind or a non-ASCII one; stamps growing by up to two minutes of a small window (so entries
 * expire), now and then past 32 bits; a quarter of them damaged.
 */
function onceOf(rng: StorageRng, clock: { ms: number }): Uint8Array {
  clock.ms += rng.int(120_000);
  const stamp = rng.int(20) === 0 ? 2 ** 33 + clock.ms : clock.ms;
  const id = `${["", "u"][rng.int(2)]}:${"k".repeat(1 + rng.int(3))}${rng.int(8)}`;
  const roll = rng.int(10);
  const write: WriteCommand = roll === 0
    ? { type: "delete", key: "a" }
    : roll === 1
    ? { type: "set", pairs: [["ключ", "v"]] }
    : roll === 2
    ? { type: "set", pairs: [["a", "1"]], condition: { type: "absent" } }
    : { type: "set", pairs: rng.int(2) === 0 ? [["a", "1"]] : pairsOf(rng) };
  const bytes = encodeCommand({ type: "once", stamp, id, write, digest: "" });
  return rng.int(4) === 0 ? mutateBytes(rng, bytes) : bytes;
}

describe("a once command of a plain set applied from its bytes", () => {
  test("leaves the machine, its once-only table included, and gives the result the general path does", () => {
    const rng = storageRng(2911);
    const limits = { windowMs: 600_000, countMax: 20, charsMax: 1_000_000 };
    const fast = new KvStateMachine(limits);
    const general = new KvStateMachine(limits);
    const clock = { ms: 1_000 };
    const before = onceSetsAppliedFromBytes.count;
    const outcomes = new Set<string>();
    for (let index = 1; index <= 3_000; index++) {
      const data = onceOf(rng, clock);
      const got = fast.apply(data, index);
      expect(got).toEqual(general.applyDecoded(data, index));
      outcomes.add(got.type === "once" ? `${got.status} ${got.replayed}` : got.type);
      if (index % 100 === 0) {
        expect(fast.snapshot()).toEqual(general.snapshot());
        expect(fast.sessions.entries()).toEqual(general.sessions.entries());
      }
    }
    expect(fast.snapshot()).toEqual(general.snapshot());
    expect(fast.sessions.entries()).toEqual(general.sessions.entries());
    // Fresh writes, replays (of a 412 too), 422s and malformed entries all occurred; most went the byte path.
    expect([...outcomes].sort()).toEqual(["200 false", "200 true", "412 false", "412 true", "422 false", "error"]);
    expect(onceSetsAppliedFromBytes.count - before).toBeGreaterThan(1_000);
  });
});

/**
 * A conditional set over a few keys: If-None-Match (absent), If-Match: * (exists) or If-Match
 * on versions, a third of them the key's current version (so conditions hold and fail), some
 * versions past 32 bits, some keys not ASCII; between them plain sets and deletes that move
 * the versions; a fifth of them damaged; a twentieth applied with no index (version 0).
 */
function conditionalOf(rng: StorageRng, sm: KvStateMachine): { data: Uint8Array; isByteCandidate: boolean | null } {
  const roll = rng.int(12);
  if (roll === 0) return { data: encodeCommand({ type: "delete", key: String.fromCharCode(97 + rng.int(6)) }), isByteCandidate: false };
  if (roll <= 2) return { data: encodeCommand({ type: "set", pairs: pairsOf(rng) }), isByteCandidate: false };
  const pairs: KeyValue[] = roll === 3 ? [["ключ", "v"]] : rng.int(3) === 0 ? pairsOf(rng) : [[String.fromCharCode(97 + rng.int(6)), String(rng.int(100))]];
  const kind = rng.int(3);
  const current = () => sm.versionOf(pairs[rng.int(pairs.length)]![0]) ?? rng.int(5_000);
  const versions = Array.from({ length: 1 + rng.int(3) }, () => (rng.int(3) === 0 ? current() : rng.int(10) === 0 ? 2 ** 33 + rng.int(9) : rng.int(5_000)));
  const condition = kind === 0 ? { type: "absent" as const } : kind === 1 ? { type: "exists" as const } : { type: "match" as const, versions };
  const bytes = encodeCommand({ type: "set", pairs, condition });
  const isDamaged = rng.int(5) === 0;
  // What the byte path reads: ASCII pairs, versions of at most 32 bits (damaged bytes: either).
  const isByteCandidate = isDamaged ? null : roll !== 3 && (kind !== 2 || versions.every((v) => v < 2 ** 32));
  return { data: isDamaged ? mutateBytes(rng, bytes) : bytes, isByteCandidate };
}

describe("a conditional set applied from its bytes", () => {
  test("leaves the machine and gives the result the general path does, whether its condition holds or not", () => {
    const rng = storageRng(3407);
    const fast = new KvStateMachine();
    const general = new KvStateMachine();
    const before = conditionalSetsAppliedFromBytes.count;
    const results = new Set<string>();
    for (let index = 1; index <= 4_000; index++) {
      const { data, isByteCandidate } = conditionalOf(rng, general);
      // Now and then no index: the keys it writes have version 0 ("unknown"), yet exist.
      const at = rng.int(20) === 0 ? 0 : index;
      const taken = conditionalSetsAppliedFromBytes.count;
      const got = fast.apply(data, at);
      expect(got).toEqual(general.applyDecoded(data, at));
      // Every such set whose condition held went the byte path; none whose condition failed.
      if (isByteCandidate !== null) expect(conditionalSetsAppliedFromBytes.count - taken).toBe(isByteCandidate && got.type === "set" ? 1 : 0);
      results.add(got.type);
      if (index % 100 === 0) expect(fast.snapshot()).toEqual(general.snapshot());
    }
    expect(fast.snapshot()).toEqual(general.snapshot());
    expect([...fast.entries()]).toEqual([...general.entries()]);
    expect([...results].sort()).toEqual(["delete", "error", "precondition", "set"]);
    // Conditions that held went the byte path, hundreds of them.
    expect(conditionalSetsAppliedFromBytes.count - before).toBeGreaterThan(300);
  });

  test("is not taken while a key has a deadline: an expired key counts as absent there", () => {
    const sm = new KvStateMachine();
    sm.apply(encodeCommand({ type: "set", pairs: [["a", "1"]], ttl: { stamp: 1_000, ms: 10 } }), 1);
    sm.apply(encodeCommand({ type: "set", pairs: [["b", "1"]], ttl: { stamp: 5_000, ms: 10 } }), 2);
    const before = conditionalSetsAppliedFromBytes.count;
    // "a" expired at 1,010 by the log clock (5,000): If-None-Match holds for it.
    expect(sm.apply(encodeCommand({ type: "set", pairs: [["a", "2"]], condition: { type: "absent" } }), 3)).toEqual({ type: "set", count: 1, index: 3 });
    expect(conditionalSetsAppliedFromBytes.count).toBe(before);
    expect(sm.get("a")).toBe("2");
  });
});
