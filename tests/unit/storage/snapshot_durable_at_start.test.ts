// Goal: the snapshot and the term/vote a start trusts are durable before anything relies on it. World seed
// 1718321 of the long simulator run: a process exited (fail-stop, page cache kept) after
// renaming a new snapshot into place but before syncing the snapshots directory; the next
// process found the snapshot, its WAL removed the segments the snapshot covers (durably), and a
// power loss then undid the unsynced rename: entries 1..29 were in neither place, and the node
// could not start ("log: append at 30, expected 1").
// Method: SimDisk; a snapshot saved through a disk whose sync of the snapshots directory does
// nothing (the exit landed between the rename and that sync); a new SnapshotStore opened on
// the same disk (the next process); a power loss; the snapshot must still be there.

import { expect, test } from "bun:test";
import type { SnapshotMeta } from "../../../raft/core/types.ts";
import type { Disk } from "../../../raft/host.ts";
import { SnapshotStore } from "../../../raft/snapshots.ts";
import { StableStore } from "../../../raft/stable.ts";
import { SimDisk } from "../../sim/sim_disk.ts";
import { storageRng } from "../../support/storage_rng.ts";

const dir = "/data/snapshots";
const meta: SnapshotMeta = { lastIncludedIndex: 32, lastIncludedTerm: 2, membership: { members: [{ id: "a", addr: "h:1", suffrage: "voter" }] } };

/** `disk`, except that syncing `skipped` does nothing (and offers no off-loop sync). */
function withoutSyncOf(disk: Disk, skipped: string): Disk {
  return {
    open: (p, m) => disk.open(p, m),
    readFile: (p) => disk.readFile(p),
    exists: (p) => disk.exists(p),
    isDir: (p) => disk.isDir(p),
    list: (d) => disk.list(d),
    mkdirp: (d) => disk.mkdirp(d),
    rename: (a, b) => disk.rename(a, b),
    remove: (p) => disk.remove(p),
    syncDir: (d) => {
      if (d !== skipped) disk.syncDir(d);
    },
  };
}

for (const mode of ["drop", "tear"] as const) {
  test(`a snapshot found at start survives a later power loss (${mode})`, () => {
    for (let seed = 1; seed <= 20; seed++) {
      const disk = new SimDisk();
      disk.mkdirp(dir);
      SnapshotStore.open(withoutSyncOf(disk, dir), dir).save(meta, Uint8Array.of(1, 2, 3));
      // The next process trusts what it finds: its WAL may now drop what the snapshot covers.
      const found = SnapshotStore.open(disk, dir).latest();
      expect(found?.meta.lastIncludedIndex).toBe(32);
      disk.crash(mode, storageRng(seed));
      expect({ seed, index: SnapshotStore.open(disk, dir).latest()?.meta.lastIncludedIndex ?? null }).toEqual({ seed, index: 32 });
    }
  });
}

// The same for term and vote: a save whose directory sync failed (EIO, then fail-stop, page
// cache kept) leaves a new term and vote only the page cache holds; the next process must not
// act on them (vote again in that term) unless they are durable, or a power loss would let it
// vote twice in one term.
for (const mode of ["drop", "tear"] as const) {
  test(`term and vote found at start survive a later power loss (${mode})`, () => {
    const path = "/data/raft/state";
    for (let seed = 1; seed <= 20; seed++) {
      const disk = new SimDisk();
      const first = StableStore.open(disk, path);
      first.save({ hardState: { currentTerm: 1, votedFor: null }, nodeId: "a" });
      // The sync that follows the save's rename fails.
      let renamed = false;
      const failing: Disk = {
        ...withoutSyncOf(disk, ""),
        rename: (a, b) => {
          disk.rename(a, b);
          renamed = true;
        },
        syncDir: (d) => {
          if (renamed) throw new Error("EIO");
          disk.syncDir(d);
        },
      };
      expect(() => StableStore.open(failing, path).save({ hardState: { currentTerm: 7, votedFor: "b" }, nodeId: "a" })).toThrow("EIO");
      expect(StableStore.open(disk, path).state.hardState.currentTerm).toBe(7);
      disk.crash(mode, storageRng(seed));
      expect({ seed, term: StableStore.open(disk, path).state.hardState.currentTerm }).toEqual({ seed, term: 7 });
    }
  });
}
