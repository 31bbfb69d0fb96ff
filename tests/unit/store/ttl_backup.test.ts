// Goal: a backup carries the deadlines of expiring keys (issue 16 item 4): a state with some is
// written as version 3 ("deadlines" records with the log clock after the sessions), and a state
// restored from it is the very state backed up (same snapshot bytes), so keys still expire
// after -restore; a state without deadlines is still version 2; a bad "deadlines" record, a
// version 3 without one, or pairs after one are refused.
// Method: a production KvStateMachine's capture written by backupPieces and read back by
// restore.ts's loadBackup into a fresh machine, as -restore does.

import { expect, test } from "bun:test";
import { Encoder } from "cbor-x/encode";
import { createHash } from "node:crypto";
import { backupPieces, backupVersionDeadlines } from "../../../store/backup.ts";
import { encodeCommand } from "../../../store/commands.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";
import { loadBackup } from "../../../restore.ts";
import { bytesOf, source } from "../../support/backup_bytes.ts";

const raw = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });


/** The state -restore would write (restore.ts's own loading). */
function restoreInto(bytes: Uint8Array): KvStateMachine {
  return loadBackup(source(bytes)).sm;
}

function stateWithDeadlines(): KvStateMachine {
  const sm = new KvStateMachine();
  for (let i = 0; i < 9000; i++) {
    const pairs: [string, string][] = [[`k${i}`, `v${i}`]];
    sm.apply(encodeCommand(i % 2 === 0 ? { type: "set", pairs, ttl: { stamp: 1000 + i, ms: 60_000 } } : { type: "set", pairs }), 10 + i);
  }
  return sm;
}

function backupOf(sm: KvStateMachine): Uint8Array {
  const captured = sm.capture();
  const bytes = bytesOf(backupPieces({ index: 30000, term: 2, nodeId: "n1", ...captured }));
  captured.release();
  return bytes;
}

test("a version-3 backup restores the very state: deadlines and the log clock included; keys still expire", () => {
  const sm = stateWithDeadlines();
  const bytes = backupOf(sm);
  expect(new DataView(bytes.buffer).getUint32(8)).toBe(backupVersionDeadlines);
  const restored = restoreInto(bytes);
  expect(Buffer.compare(restored.snapshot(), sm.snapshot())).toBe(0);
  expect([restored.logClock, restored.deadlineOf("k8998"), restored.deadlineOf("k8997"), restored.expiry.size]).toEqual([9998, 69_998, undefined, 4500]);
  expect(restored.apply(encodeCommand({ type: "expire", stamp: 70_000, keys: [["k8998", 9008], ["k0", 10]] }), 30001)).toEqual({ type: "expire", count: 2 });
});

test("a state without deadlines is still a version-2 backup", () => {
  const sm = new KvStateMachine();
  sm.apply(encodeCommand({ type: "set", pairs: [["a", "1"]] }), 3);
  expect(new DataView(backupOf(sm).buffer).getUint32(8)).toBe(2);
});

/** A version-3 backup of one pair `a` built record by record, with `records` before the trailer. */
function handMade(records: unknown[][]): Uint8Array {
  const frame = (value: unknown): Uint8Array => {
    const payload = raw.encode(value);
    const out = new Uint8Array(4 + payload.length);
    new DataView(out.buffer).setUint32(0, payload.length);
    out.set(payload, 4);
    return out;
  };
  const prefix = new Uint8Array(12);
  prefix.set(new TextEncoder().encode("HRAFTDBK"), 0);
  new DataView(prefix.buffer).setUint32(8, 3);
  const body = bytesOf([prefix, frame(["header", 5, 1, 1, "n1"]), ...records.map(frame)]);
  const entriesRecords = records.filter((r) => r[0] === "entries").length;
  const digest = createHash("sha256").update(body).digest();
  return bytesOf([body, frame(["trailer", 1, entriesRecords, new Uint8Array(digest)])]);
}

test("a bad deadlines record, a version 3 without one, or entries after one are refused", () => {
  const entries = ["entries", ["a", "1", 4]];
  expect(restoreInto(handMade([entries, ["deadlines", 10, ["a", 100]]])).deadlineOf("a")).toBe(100);
  const bad = [
    [entries],
    [entries, ["deadlines", 10, ["a", -1]]],
    [entries, ["deadlines", 10, ["a", 100, "a", 200]]],
    [entries, ["deadlines", 10, []]],
    [entries, ["deadlines", "10", ["a", 100]]],
    [entries, ["deadlines", 10, ["a", 100]], ["entries", ["b", "2", 5]]],
    [entries, ["sessions", 9, []], ["deadlines", 10, ["a", 100]]],
  ];
  for (const records of bad) expect(() => restoreInto(handMade(records))).toThrow();
});
