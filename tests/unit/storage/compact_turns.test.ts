// Goal (issue 18): the log compaction that follows a saved snapshot removes the segments the
// snapshot covers one per turn of the event loop, not all in one turn. Unlinking a 64 MiB
// segment took ~9 ms on this machine's disk, and a snapshot of ten million keys covers several
// (up to 48 ms seen in one turn). The segments it covers are all gone once saveSnapshot
// settles, and the entries above them are untouched.
// Method: the production storage (openStorage, NodeStorage, Wal) on a MemDisk with 1 KiB
// segments whose syncs complete in a later turn, every deferred piece of work run as one turn
// by the test (tests/unit/raft/turn_kit.ts), removals counted per turn at the disk seam; where
// the disk offers an off-loop removal (Disk.removeAsync, the real disk) every segment goes there.

import { expect, test } from "bun:test";
import type { Entry, SnapshotMeta } from "../../../raft/core/types.ts";
import { openStorage } from "../../../raft/storage.ts";
import { testEntry } from "../../support/storage_disks.ts";
import { TurnDisk, Turns } from "../raft/turn_kit.ts";

const membership = { members: [{ id: "n1", addr: "h:1", suffrage: "voter" as const }] };
const walDir = "/data/raft/wal";

for (const offLoop of [true, false]) {
  test(`a snapshot's compaction removes at most one log segment per turn, and all it covers (${offLoop ? "unlinked off the loop" : "a disk without removeAsync"})`, async () => {
    const turns = new Turns();
    const disk = new TurnDisk(turns);
    // A disk with an off-loop removal (the real one) unlinks segments there: none in a turn.
    if (!offLoop) Object.assign(disk, { removeAsync: undefined });
    const open = () => openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: "/data", segmentBytesMax: 1024, scheduler: turns.scheduler });
    const { storage } = open();
    storage.saveNodeId("n1");
    const log: Entry[] = Array.from({ length: 200 }, (_, i) => testEntry(i + 1, 1, 100));
    storage.persist({ currentTerm: 1, votedFor: null }, null, log);
    const segments = disk.list(walDir).length;
    expect(segments).toBeGreaterThan(10);

    const meta: SnapshotMeta = { lastIncludedIndex: 180, lastIncludedTerm: 1, membership };
    let isSaved = false;
    await turns.turn(() => void storage.saveSnapshot(meta, new Uint8Array(300).fill(7), 180).then(() => (isSaved = true)));
    await turns.run(() => isSaved);
    expect(isSaved).toBe(true);

    // The snapshot writer removes its temp directory once (first turn); each later turn one segment at most.
    expect(turns.worst.removed).toBe(1);
    const left = disk.list(walDir).length;
    expect(left).toBeLessThan(4);
    expect(disk.log.filter((l) => l.startsWith(`remove ${walDir}/`)).length).toBe(offLoop ? 0 : segments - left);
    expect(disk.log.filter((l) => l.startsWith(`removeAsync ${walDir}/`)).length).toBe(offLoop ? segments - left : 0);

    storage.close();
    const again = open();
    expect(again.initial.snapshot?.meta).toEqual(meta);
    expect(again.initial.entries.map((e) => e.index)).toEqual(Array.from({ length: 20 }, (_, i) => 181 + i));
  });
}
