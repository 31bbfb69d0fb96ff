// Goal (issue 18, pauses while a follower installs a snapshot at ten million keys): the log
// reset that follows an installed snapshot unlinks the segments the snapshot covers off the
// event loop, one per turn, where the disk offers it (Disk.removeAsync); they were unlinked in
// the install's turn, ~9 ms per 64 MiB segment on a quiet disk and 18-81 ms under load, and a
// follower that fell behind holds several. Segments with entries past the snapshot (another
// history's) still go at once and durably, before the new segment: a crash that brought one
// back beside it would overlap it. A restart finds the snapshot and the entries after it.
// Method: the production storage (openStorage, NodeStorage, Wal) on a MemDisk with 1 KiB
// segments whose syncs complete in a later turn (tests/unit/raft/turn_kit.ts), removals
// counted at the disk seam.

import { expect, test } from "bun:test";
import type { Entry, SnapshotMeta } from "../../../raft/core/types.ts";
import { openStorage } from "../../../raft/storage.ts";
import { testEntry } from "../../support/storage_disks.ts";
import { TurnDisk, Turns } from "../raft/turn_kit.ts";

const membership = { members: [{ id: "n1", addr: "h:1", suffrage: "voter" as const }] };
const walDir = "/data/raft/wal";

for (const snapIndex of [250, 150]) {
  test(`an installed snapshot at ${snapIndex} over a log of 1..200 unlinks the covered segments off the loop, one per turn, the rest at once`, async () => {
    const turns = new Turns();
    const disk = new TurnDisk(turns);
    const open = () => openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: "/data", segmentBytesMax: 1024, scheduler: turns.scheduler });
    const { storage } = open();
    storage.saveNodeId("n1");
    const log: Entry[] = Array.from({ length: 200 }, (_, i) => testEntry(i + 1, 1, 100));
    storage.persist({ currentTerm: 1, votedFor: null }, null, log);
    const segments = disk.list(walDir);
    expect(segments.length).toBeGreaterThan(10);
    // Segments named by their first index; covered: every entry in it ≤ snapIndex.
    const firsts = segments.map((s) => Number(s.split(".")[0])).sort((a, b) => a - b);
    const covered = firsts.filter((f, i) => (firsts[i + 1] ?? 201) - 1 <= snapIndex).length;
    expect(covered).toBeGreaterThan(5);

    const meta: SnapshotMeta = { lastIncludedIndex: snapIndex, lastIncludedTerm: 2, membership };
    const after = [testEntry(snapIndex + 1, 2, 100), testEntry(snapIndex + 2, 2, 100)];
    let isDone = false;
    disk.log.length = 0;
    await turns.turn(
      () => void storage.persistSnapshotAsync({ currentTerm: 2, votedFor: null }, { meta, data: new Uint8Array(300).fill(7) }, after).then(() => (isDone = true)),
    );
    await turns.run(() => isDone);
    expect(isDone).toBe(true);

    const inPlace = disk.log.filter((l) => l.startsWith(`remove ${walDir}/`)).length;
    const offLoop = disk.log.filter((l) => l.startsWith(`removeAsync ${walDir}/`)).length;
    expect(offLoop).toBe(covered);
    expect(inPlace).toBe(segments.length - covered);
    expect(turns.worst.removed).toBeLessThanOrEqual(Math.max(1, segments.length - covered) + 1);
    expect(disk.list(walDir).length).toBe(1);

    storage.close();
    const again = open();
    expect(again.initial.snapshot?.meta).toEqual(meta);
    expect(again.initial.entries.map((e) => e.index)).toEqual([snapIndex + 1, snapIndex + 2]);
  });
}
