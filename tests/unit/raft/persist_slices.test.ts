// Goal (issue 18: no pause above 20 ms while installing a ten-million-key snapshot): a Ready
// holding many MB of entries is written to the log a slice per turn of the event loop, never
// in one go. A follower that just installed a snapshot takes the entries after it while it
// applies the first ones a slice per turn (its Ready outstanding); they pile up in its log and
// came out as one Ready of ~14 MB, encoded, copied and written in one turn (65-104 ms traced at
// 10 M keys, bench/stall_snapshot.ts). Persist before speak still holds: the acknowledgement
// leaves only once every slice is durable, and the hard state is saved after the entries.
// Method: the production RaftNode and core (a follower of a three-voter cluster); storage that
// records each write and holds each async sync until the test completes it; a queue scheduler
// whose turns the test runs one at a time.

import { expect, test } from "bun:test";
import type { Entry } from "../../../raft/core/mod.ts";
import { persistTurnBytesMax } from "../../../raft/persist_slices.ts";
import { app } from "./core_kit.ts";
import { entries, follower as recordingFollower } from "./follower_kit.ts";

/** The rig's follower, its writes noted with their bytes and turn, and what it applied. */
function follower() {
  const writes: { first: number; last: number; bytes: number; turn: number; how: string }[] = [];
  const order: string[] = [];
  const applied: number[] = [];
  let turn = 0;
  const record = (e: readonly Entry[], how: string): void => {
    let bytes = 0;
    for (const x of e) bytes += x.data.length;
    writes.push({ first: e[0]!.index, last: e[e.length - 1]!.index, bytes, turn, how });
    order.push(`entries ${e[0]!.index}-${e[e.length - 1]!.index}`);
  };
  const f = recordingFollower({
    onPersist: (h, e) => {
      if (e.length > 0) record(e, "on loop");
      if (h !== null) order.push(`hard state term ${h.currentTerm}`);
    },
    onPersistAsync: (e) => record(e, "off loop"),
    stateMachine: {
      apply: (e) => {
        applied.push(e.index);
        return null;
      },
      snapshot: () => new Promise<Uint8Array>(() => {}),
      restore: () => {},
    },
  });
  /** One turn of the event loop: what was deferred before it. */
  const runTurn = (): void => {
    turn++;
    for (const fn of f.queue.splice(0)) fn();
  };
  return { ...f, writes, order, applied, runTurn };
}

test("a Ready of many MB of entries is written a slice per turn, acknowledged once every slice is durable", () => {
  const f = follower();
  // 12 MiB of entries in three appends before the follower's next turn: one Ready.
  const size = 64 * 1024;
  const perAppend = 64;
  let last = 0;
  for (let k = 0; k < 3; k++) {
    f.node.receive(app("a", "b", 2, last, last === 0 ? 0 : 2, entries(last + 1, last + perAppend, size), last + perAppend));
    last += perAppend;
  }
  let firstAck: { lastWritten: number; syncsPending: number } | null = null;
  for (let t = 0; t < 400 && (f.queue.length > 0 || f.pendingSyncs.length > 0); t++) {
    f.runTurn();
    if (f.acked() > 0 && firstAck === null) firstAck = { lastWritten: f.writes.at(-1)!.last, syncsPending: f.pendingSyncs.length };
    f.pendingSyncs.shift()?.(null);
  }
  expect(firstAck).toEqual({ lastWritten: last, syncsPending: 0 });
  expect(f.fatal()).toBeNull();
  // Every entry written once, in order, contiguous.
  expect(f.writes[0]!.first).toBe(1);
  expect(f.writes.at(-1)!.last).toBe(last);
  for (let i = 1; i < f.writes.length; i++) expect(f.writes[i]!.first).toBe(f.writes[i - 1]!.last + 1);
  // No write holds more than a turn's bytes, and no two writes share a turn.
  for (const w of f.writes) expect(w.bytes).toBeLessThanOrEqual(persistTurnBytesMax);
  expect(new Set(f.writes.map((w) => w.turn)).size).toBe(f.writes.length);
  expect(f.writes.length).toBeGreaterThanOrEqual((last * size) / persistTurnBytesMax);
  // The hard state (term 2, learned from these appends) after every entry.
  expect(f.order.at(-1)).toBe("hard state term 2");
  expect(f.order.filter((o) => o.startsWith("hard state")).length).toBe(1);
  // Acknowledged only after the last slice was durable; everything applied.
  expect(f.acked()).toBe(last);
  expect(f.applied.at(-1)).toBe(last);
});

test("the acknowledgement waits for the last slice's sync; a failed slice stops the node unacknowledged", () => {
  const f = follower();
  f.node.receive(app("a", "b", 2, 0, 0, entries(1, 80, 64 * 1024), 80));
  f.runTurn();
  // Complete every sync but the last write's.
  for (let t = 0; t < 400; t++) {
    if (f.pendingSyncs.length > 0 && f.writes.at(-1)!.last < 80) f.pendingSyncs.shift()!(null);
    else if (f.pendingSyncs.length > 0) break;
    f.runTurn();
  }
  expect(f.writes.at(-1)!.last).toBe(80);
  expect(f.acked()).toBe(0);
  f.pendingSyncs.shift()!(new Error("disk gone"));
  for (let t = 0; t < 5; t++) f.runTurn();
  expect(f.acked()).toBe(0);
  expect(f.fatal()).not.toBeNull();
});

test("a Ready of a few entries is written as before, in one call", () => {
  const f = follower();
  f.node.receive(app("a", "b", 2, 0, 0, entries(1, 10, 64 * 1024), 10));
  f.runTurn();
  expect(f.writes).toEqual([{ first: 1, last: 10, bytes: 10 * 64 * 1024, turn: 1, how: "on loop" }]);
  expect(f.acked()).toBe(10);
});
