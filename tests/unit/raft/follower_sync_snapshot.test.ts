// Goal (issue 18): a follower writing a snapshot syncs its log off the event loop. A follower
// normally syncs each append on the loop (cheaper than the thread pool's round trip when the
// disk is idle), but while snapshots are being written the disk is busy with them: traced on a
// 3-node cluster at 2M keys, followers' on-loop fdatasyncs took 20-180 ms each (waiting behind
// the snapshot's dirty pages), the loop held all that time. Meanwhile the append is still
// acknowledged only once durable, and once the snapshot is saved the follower syncs on the
// loop again.
// Method: the production RaftNode and core (a follower of a three-voter cluster); storage that
// records which way each append was made durable and holds async syncs until the test
// completes them; a state machine whose snapshot the test finishes by hand; a queue scheduler.

import { expect, test } from "bun:test";
import { app } from "./core_kit.ts";
import { entries, follower } from "./follower_kit.ts";

test("a follower writing a snapshot syncs appends off the loop, acknowledging each once durable; then on the loop again", () => {
  let finishSnapshot: ((data: Uint8Array) => void) | null = null;
  const { node, syncs, pendingSyncs, run, acked, fatal } = follower({
    stateMachine: {
      apply: () => null,
      snapshot: () => new Promise<Uint8Array>((resolve) => (finishSnapshot = resolve)),
      restore: () => {},
    },
    options: { snapshotThresholdEntries: 10 },
  });

  // 20 entries, committed: applied, and a snapshot begins (threshold 10). Not snapshotting yet
  // when they arrived, so synced on the loop.
  node.receive(app("a", "b", 2, 0, 0, entries(1, 20), 20));
  run();
  expect(syncs).toEqual(["on loop 1-20"]);
  expect(finishSnapshot).not.toBeNull();

  // While the snapshot is written: off the loop, and acknowledged only once durable.
  node.receive(app("a", "b", 2, 20, 2, entries(21, 25), 20));
  run();
  expect(syncs).toEqual(["on loop 1-20", "off loop 21-25"]);
  expect(acked()).toBe(20);
  pendingSyncs.shift()!(null);
  run();
  expect(acked()).toBe(25);

  // The snapshot is saved: appends are synced on the loop again.
  finishSnapshot!(new Uint8Array(0));
  for (let i = 0; i < 5; i++) run();
  return Promise.resolve().then(async () => {
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      run();
    }
    node.receive(app("a", "b", 2, 25, 2, entries(26, 30), 25));
    run();
    expect(syncs).toEqual(["on loop 1-20", "off loop 21-25", "on loop 26-30"]);
    expect(acked()).toBe(30);
    expect(fatal()).toBeNull();
  });
});
