// Goal (issue 18, pauses at ten million keys): the snapshot a newer one prunes is removed off
// the event loop where the disk offers it. Unlinking a 300 MB state file took 80-580 ms here
// (ext4 frees its extents in the call), all of it on the loop when removed in place, after
// every snapshot a node saved or installed once it held two. The crash-safe order stays:
// renamed aside, the directory synced, then deleted; the newest two are kept.
// Method: the production storage (openStorage, NodeStorage, SnapshotStore) on a MemDisk whose
// syncs and removals off the loop complete in a later turn (tests/unit/raft/turn_kit.ts), with
// its operation log.

import { expect, test } from "bun:test";
import type { SnapshotMeta } from "../../../raft/core/types.ts";
import { openStorage } from "../../../raft/storage.ts";
import { TurnDisk, Turns } from "../raft/turn_kit.ts";

const membership = { members: [{ id: "n1", addr: "h:1", suffrage: "voter" as const }] };
const snapshotsDir = "/data/snapshots";

test("a pruned snapshot is removed off the loop, after its name is gone durably; the newest two stay", async () => {
  const turns = new Turns();
  const disk = new TurnDisk(turns);
  const open = () => openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: "/data", scheduler: turns.scheduler });
  const { storage } = open();
  storage.saveNodeId("n1");
  for (const index of [10, 20, 30]) {
    const meta: SnapshotMeta = { lastIncludedIndex: index, lastIncludedTerm: 1, membership };
    let isSaved = false;
    await turns.turn(() => void storage.saveSnapshot(meta, new Uint8Array(3000).fill(index), 0).then(() => (isSaved = true)));
    await turns.run(() => isSaved);
    expect(isSaved).toBe(true);
  }
  expect(disk.list(snapshotsDir)).toEqual(["1-20", "1-30"]);
  const aside = `${snapshotsDir}/1-10.removed`;
  // Set aside, the directory synced, then removed: off the loop, never in place.
  const steps = disk.log.filter((l) => l.includes("1-10") || l === `syncDir ${snapshotsDir}`);
  const renamed = steps.indexOf(`rename ${snapshotsDir}/1-10 ${aside}`);
  expect(renamed).toBeGreaterThanOrEqual(0);
  expect(steps[renamed + 1]).toBe(`syncDir ${snapshotsDir}`);
  expect(steps).toContain(`removeAsync ${aside}`);
  // (setAside clears a leftover of the aside name before the rename: nothing there to remove.)
  expect(disk.log.slice(disk.log.indexOf(`rename ${snapshotsDir}/1-10 ${aside}`))).not.toContain(`remove ${aside}`);

  storage.close();
  expect(open().initial.snapshot?.meta.lastIncludedIndex).toBe(30);
});
