// Goal: a backup carries the whole replicated state (issue 16): each key's version and the
// once-only table travel in a version-2 backup, and a state restored from it (restore.ts's
// loadPairs and loadSessions) is the very state backed up (same snapshot bytes), so ETags and
// Idempotency-Keys keep working after -restore; version-1 backups still restore (versions 0);
// a damaged sessions record, or entries after it, are refused.
// Method: a production KvStateMachine's capture written by backupPieces and read back by
// restore.ts's loadBackup into a fresh machine, as -restore does.

import { expect, test } from "bun:test";
import { backupPieces } from "../../../store/backup.ts";
import { encodeCommand, onceCommand } from "../../../store/commands.ts";
import type { SessionEntry } from "../../../store/sessions.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";
import { loadBackup } from "../../../restore.ts";
import { bytesOf, source } from "../../support/backup_bytes.ts";

/** The state -restore would write (restore.ts's own loading). */
function restoreInto(bytes: Uint8Array): KvStateMachine {
  return loadBackup(source(bytes)).sm;
}

function stateWithEverything(): KvStateMachine {
  const sm = new KvStateMachine();
  for (let i = 0; i < 9000; i++) sm.apply(encodeCommand({ type: "set", pairs: [[`k${i % 5000}`, `v${i}`]] }), 10 + i);
  for (let i = 0; i < 5000; i++) sm.apply(encodeCommand(onceCommand(1000 + i, `:id${i}`, { type: "delete", key: `k${i * 2}` })), 20000 + i);
  return sm;
}

test("a version-2 backup restores the very state: versions and the once-only table included", () => {
  const sm = stateWithEverything();
  const captured = sm.capture();
  const bytes = bytesOf(backupPieces({ index: 30000, term: 2, nodeId: "n1", ...captured }));
  captured.release();
  expect(new DataView(bytes.buffer).getUint32(8)).toBe(2);
  const restored = restoreInto(bytes);
  expect(Buffer.compare(restored.snapshot(), sm.snapshot())).toBe(0);
  expect(restored.versionOf("k4999")).toBe(sm.versionOf("k4999")!);
  expect(restored.size).toBe(2500);
  expect(restored.apply(encodeCommand(onceCommand(7000, ":id3", { type: "delete", key: "k6" })), 40000)).toMatchObject({ replayed: true });
});

test("a version-1 backup still restores, its keys at version 0", () => {
  const pairs: [string, string][] = [["a", "1"], ["b", "2"]];
  const bytes = bytesOf(backupPieces({ index: 5, term: 1, nodeId: "n1", size: 2, entries: () => pairs[Symbol.iterator]() }));
  expect(new DataView(bytes.buffer).getUint32(8)).toBe(1);
  const restored = restoreInto(bytes);
  expect([restored.get("b"), restored.versionOf("b"), restored.sessions.size]).toEqual(["2", 0, 0]);
});

test("a bad sessions record, or entries after the sessions, are refused", () => {
  const good: SessionEntry = { id: ":a", digest: "d", stamp: 5, outcome: { status: 200, body: "" } };
  const write = (sessions: readonly SessionEntry[], logClock: number): Uint8Array =>
    bytesOf(backupPieces({
      index: 5, term: 1, nodeId: "n1", size: 1,
      entries: () => [["a", "1"] as [string, string]][Symbol.iterator](),
      entriesVersioned: () => [["a", "1", 4] as [string, string, number]][Symbol.iterator](),
      sessions: { logClock, entries: sessions },
    }));
  expect(restoreInto(write([good], 9)).sessions.lookup(":a")).toBeDefined();
  expect(() => restoreInto(write([good], 4))).toThrow(/bad entry/); // stamp after the log clock
  expect(() => restoreInto(write([good, good], 9))).toThrow(/bad entry/); // an id twice
  expect(() => restoreInto(write([{ ...good, outcome: { status: 42, body: "" } }], 9))).toThrow(/bad entry/);
});
