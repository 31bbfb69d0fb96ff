// Goal: recovery applies the Raft paper's figure 13 rule to what it finds on disk. A follower
// saves an installed snapshot before it resets its log, so a crash between the two leaves a
// snapshot at index S term T beside log entries from a different history. Entries after S are
// kept only if the log's entry at S has term T (or, where the log holds no entry at S, if no
// kept entry has a term below T); otherwise the whole log is discarded. Found by the world
// simulator (seeds 933 and 206219: "terms decrease at 70" on a restarted node).
// Method: a snapshot and a WAL written with the production stores on a MemDisk, then
// openStorage; the recovered entries and the restarted WAL are checked.

import { expect, test } from "bun:test";
import { join } from "node:path";
import type { Entry, SnapshotMeta } from "../../../raft/core/mod.ts";
import { MemDisk } from "../../../raft/mem_disk.ts";
import { SnapshotStore } from "../../../raft/snapshots.ts";
import { openStorage, storagePaths } from "../../../raft/storage.ts";
import { Wal } from "../../../raft/wal.ts";

const membership = { members: [{ id: "a", addr: "a:1", suffrage: "voter" as const }] };
const meta = (index: number, term: number): SnapshotMeta => ({ lastIncludedIndex: index, lastIncludedTerm: term, membership });
const entry = (index: number, term: number): Entry => ({ index, term, kind: "normal", data: new Uint8Array([index & 0xff]) });

/** A data directory holding a snapshot at `snap` and a log with terms `terms` (entries 1..n). */
function dataDir(snap: SnapshotMeta, terms: readonly number[]): { disk: MemDisk; dir: string } {
  const disk = new MemDisk();
  const dir = "/data";
  const paths = storagePaths(dir);
  const { wal } = Wal.open(disk, paths.wal);
  wal.append(terms.map((t, i) => entry(i + 1, t)));
  wal.sync();
  wal.close();
  SnapshotStore.open(disk, paths.snapshots).save(snap, new Uint8Array(0));
  return { disk, dir };
}

function recover(d: { disk: MemDisk; dir: string }): readonly Entry[] {
  const r = openStorage({ logDisk: d.disk, snapshotDisk: d.disk, dataDir: d.dir });
  const entries = r.initial.entries;
  r.storage.close();
  return entries;
}

test("entries after the snapshot from another history are discarded (the log's entry at S has another term)", () => {
  // Snapshot 5/4 installed from the leader; the old log holds 1..7 all of term 2.
  const d = dataDir(meta(5, 4), [1, 1, 2, 2, 2, 2, 2]);
  expect(recover(d)).toEqual([]);
  // And the log on disk now starts afresh after the snapshot: a restart agrees.
  expect(recover(d)).toEqual([]);
});

test("entries after the snapshot are kept when the log's entry at S matches it", () => {
  const d = dataDir(meta(5, 2), [1, 1, 2, 2, 2, 3, 3]);
  expect(recover(d).map((e) => [e.index, e.term])).toEqual([[6, 3], [7, 3]]);
});

test("a log that no longer holds the snapshot's index keeps only entries no older than its term", () => {
  const d = dataDir(meta(5, 2), [1, 1, 2, 2, 2, 3, 3]);
  // Compaction dropped everything up to 5: the log starts at 6.
  const paths = storagePaths(d.dir);
  const { wal } = Wal.open(d.disk, paths.wal);
  wal.compact(5);
  wal.close();
  expect(recover(d).map((e) => e.index)).toEqual([6, 7]);
  const stale = dataDir(meta(5, 4), [1, 1, 2, 2, 2, 3, 3]);
  const { wal: w2 } = Wal.open(stale.disk, storagePaths(stale.dir).wal);
  w2.compact(5);
  w2.close();
  expect(recover(stale)).toEqual([]);
});
