// Goal (issue 18, pauses while snapshotting at 10 M keys): while the operating system holds a
// large backlog of written data not yet on the device (another member's snapshot on the same
// disk), a follower's syncs go off the event loop before any of them is found slow. The slow-
// sync rule (loop_sync_slow.test.ts) learns of a busy disk only from a sync that already held
// the loop: traced at 5 M keys (bench/stall_snapshot.ts), such on-loop O_DSYNC appends to the
// WAL waited 11-48 ms on the device (pwrite in folio_wait_bit) while the other members wrote
// their snapshots. Acknowledged only once durable either way.
// Method: the production RaftNode and core (a follower of three voters) through its seams: the
// syncClock, and syncBacklog, the backlog the test says the OS holds; async syncs completed by
// the test.

import { expect, test } from "bun:test";
import { loopSyncBacklogBytesMax, loopSyncBacklogSampleMs } from "../../../raft/loop_sync.ts";
import { follower } from "./follower_kit.ts";

test("a large writeback backlog sends a follower's syncs off the loop without a slow one first; a drained one brings them back", () => {
  let now = 1_000;
  let backlog = 0;
  let backlogReads = 0;
  const { node, syncs, pendingSyncs, run, acked, append, fatal } = follower({
    onPersist: (_h, e) => {
      if (e.length > 0) now += 1; // every sync fast: the slow-sync rule never closes the gate
    },
    options: {
      syncClock: { now: () => now },
      syncBacklog: () => {
        backlogReads++;
        return backlog;
      },
    },
  });

  append(5);
  expect(syncs).toEqual(["on loop 1-5"]);
  expect(acked()).toBe(5);

  // Another process's snapshot fills the page cache: the next sync goes off the loop, once the
  // last reading is old enough to be read again.
  backlog = loopSyncBacklogBytesMax + 1;
  now += loopSyncBacklogSampleMs;
  append(5);
  expect(syncs.at(-1)).toBe("off loop 6-10");
  expect(acked()).toBe(5); // not before its sync completes
  pendingSyncs.shift()!(null);
  run();
  expect(acked()).toBe(10);

  // Drained, but read again only once the reading is old enough: one more off the loop.
  backlog = 0;
  append(5);
  expect(syncs.at(-1)).toBe("off loop 11-15");
  pendingSyncs.shift()!(null);
  run();
  expect(acked()).toBe(15);
  now += loopSyncBacklogSampleMs;
  append(5);
  expect(syncs.at(-1)).toBe("on loop 16-20");
  expect(acked()).toBe(20);

  // The OS is read at most once per sample period, however many syncs ask.
  const reads = backlogReads;
  append(5);
  append(5);
  expect(syncs.slice(-2)).toEqual(["on loop 21-25", "on loop 26-30"]);
  expect(backlogReads).toBe(reads);
  expect(node.loopSyncCounts()).toEqual({ slow: 0, sentOffLoop: 2, backlogged: 1 });
  expect(fatal()).toBeNull();
});

test("a backlog at the bound leaves syncs on the loop", () => {
  let now = 1_000;
  const { syncs, append, acked } = follower({
    onPersist: (_h, e) => {
      if (e.length > 0) now += 1;
    },
    options: { syncClock: { now: () => now }, syncBacklog: () => loopSyncBacklogBytesMax },
  });
  append(5);
  now += loopSyncBacklogSampleMs;
  append(5);
  expect(syncs).toEqual(["on loop 1-5", "on loop 6-10"]);
  expect(acked()).toBe(10);
});
