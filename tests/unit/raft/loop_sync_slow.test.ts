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
import { loopSyncQuietMs, loopSyncSlowMs } from "../../../raft/loop_sync.ts";
import { follower } from "./follower_kit.ts";

test("a slow sync on the loop sends a follower's next syncs off it for a while, each still acknowledged once durable", () => {
  let now = 1_000;
  /** What the next on-loop sync takes, ms. */
  let nextSyncMs = 1;
  const { node, syncs, pendingSyncs, run, acked, append, fatal } = follower({
    onPersist: (_h, e) => {
      if (e.length > 0) now += nextSyncMs;
    },
    options: { syncClock: { now: () => now } },
  });

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
  expect(fatal()).toBeNull();
});

test("while the disk stays busy, syncs stay off the loop: a slow sync off it keeps the loop's syncs away as a slow one on it does", () => {
  // What one blocking probe per quiet window cost a follower at ten million keys (issue 18,
  // bench/stall_snapshot.ts 10000000 on a busy disk): its on-loop O_DSYNC writes waited
  // 20-494 ms, 17 and 16 over 20 ms on the two followers. The syncs sent off the loop are
  // timed too, so a disk still busy is seen without holding the loop to find out.
  let now = 1_000;
  let nextSyncMs = loopSyncSlowMs + 1;
  const { node, syncs, pendingSyncs, run, acked, append, fatal } = follower({
    onPersist: (_h, e) => {
      if (e.length > 0) now += nextSyncMs;
    },
    options: { syncClock: { now: () => now } },
  });
  append(5); // slow, on the loop: closes the gate
  nextSyncMs = 1;
  append(5);
  expect(syncs).toEqual(["on loop 1-5", "off loop 6-10"]);
  // The off-loop sync takes long too: the disk is still busy.
  now += loopSyncSlowMs + 1;
  pendingSyncs.shift()!(null);
  run();
  expect(acked()).toBe(10);
  // A quiet window after the first slow sync has passed, but not after the second: still off.
  now += loopSyncQuietMs - 1;
  append(5);
  expect(syncs.at(-1)).toBe("off loop 11-15");
  pendingSyncs.shift()!(null); // fast
  run();
  expect(acked()).toBe(15);
  // Quiet long enough since the last slow one: on the loop again.
  now += 2;
  append(5);
  expect(syncs.at(-1)).toBe("on loop 16-20");
  expect(acked()).toBe(20);
  expect(node.loopSyncCounts()).toEqual({ slow: 2, sentOffLoop: 2 });
  expect(fatal()).toBeNull();
});
