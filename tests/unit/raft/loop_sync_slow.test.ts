// Goal (issue 18, pauses while snapshotting at 10 M keys): a sync on the event loop that was
// slow sends the syncs after it off the loop for a while. A follower (and a leader's lone
// write) syncs on the loop because the disk is usually idle; but the other members on the same
// disk flush their snapshots too, and one follower's on-loop fdatasyncs then took 70 and 320 ms
// while the leader and the third member were writing theirs (perf trace, bench/stall_snapshot.ts
// 10000000), which its own isSnapshotting does not see. Acknowledged only once durable either way.
// Method: the production RaftNode and core (a follower of three voters); storage recording which
// way each append was made durable, whose on-loop persist advances a test clock (the node's
// syncClock seam) by what the test says the disk took; async syncs completed by the test.

import { expect, test } from "bun:test";
import type { Entry, HardState, Snapshot, SnapshotMeta } from "../../../raft/core/mod.ts";
import { loopSyncQuietMs, loopSyncSlowMs } from "../../../raft/loop_sync.ts";
import type { RaftStorage, StateMachine } from "../../../raft/node_options.ts";
import { app, mkCore, ofType } from "./core_kit.ts";
import { quietNode } from "./node_kit.ts";

const members = ["a", "b", "c"];
const membership = { members: members.map((id) => ({ id, addr: `${id}:1`, suffrage: "voter" as const })) };

function entries(from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term: 2, kind: "normal", data: new Uint8Array(16).fill(i & 0xff) });
  return out;
}

test("a slow sync on the loop sends a follower's next syncs off it for a while, each still acknowledged once durable", () => {
  const core = mkCore("b", members);
  const sent: ReturnType<typeof ofType<"AppendEntriesReply">> = [];
  const syncs: string[] = [];
  const pendingSyncs: ((error: Error | null) => void)[] = [];
  let now = 1_000;
  /** What the next on-loop sync takes, ms. */
  let nextSyncMs = 1;
  const queue: (() => void)[] = [];
  const storage: RaftStorage = {
    persist: (_h: HardState | null, _s: Snapshot | null, e: readonly Entry[]) => {
      if (e.length === 0) return;
      syncs.push(`on loop ${e[0]!.index}-${e[e.length - 1]!.index}`);
      now += nextSyncMs;
    },
    persistEntriesAsync: (e: readonly Entry[], done: (error: Error | null) => void) => {
      syncs.push(`off loop ${e[0]!.index}-${e[e.length - 1]!.index}`);
      pendingSyncs.push(done);
    },
    saveSnapshot: (_m: SnapshotMeta, _d: Uint8Array, _c: number) => Promise.resolve(),
  };
  const stateMachine: StateMachine = { apply: () => null, snapshot: () => Promise.resolve(new Uint8Array(0)), restore: () => {} };
  let fatal: unknown = null;
  const node = quietNode({
    core,
    storage,
    stateMachine,
    send: (m) => {
      if (m.type === "AppendEntriesReply") sent.push(m);
    },
    scheduler: { defer: (fn) => queue.push(fn) },
    start: { lastIncludedIndex: 0, lastIncludedTerm: 0, membership },
    syncClock: { now: () => now },
    onFatal: (e) => (fatal = e),
  });
  const run = (): void => {
    for (let i = 0; i < 1000 && queue.length > 0; i++) queue.shift()!();
  };
  const acked = (): number => Math.max(0, ...sent.filter((m) => m.success).map((m) => m.matchIndex));
  let last = 0;
  const append = (n: number): void => {
    node.receive(app("a", "b", 2, last, last === 0 ? 0 : 2, entries(last + 1, last + n), last));
    last += n;
    run();
  };

  // A fast sync, then one just at the bound: both on the loop, nothing changes.
  append(5);
  nextSyncMs = loopSyncSlowMs;
  append(5);
  expect(syncs).toEqual(["on loop 1-5", "on loop 6-10"]);
  expect(acked()).toBe(10);

  // A slow one (the disk busy with someone else's writeback): the next appends go off the loop,
  // acknowledged only once their sync completes.
  nextSyncMs = loopSyncSlowMs + 1;
  append(5);
  nextSyncMs = 1;
  append(5);
  expect(syncs.slice(2)).toEqual(["on loop 11-15", "off loop 16-20"]);
  expect(acked()).toBe(15);
  pendingSyncs.shift()!(null);
  run();
  expect(acked()).toBe(20);
  now += loopSyncQuietMs - 1;
  append(5);
  expect(syncs.at(-1)).toBe("off loop 21-25");
  pendingSyncs.shift()!(null);
  run();
  expect(acked()).toBe(25);

  // Quiet long enough since the slow one: on the loop again.
  now += 1;
  append(5);
  expect(syncs.at(-1)).toBe("on loop 26-30");
  expect(acked()).toBe(30);
  expect(node.loopSyncCounts()).toEqual({ slow: 1, sentOffLoop: 2 });
  expect(fatal).toBeNull();
});
