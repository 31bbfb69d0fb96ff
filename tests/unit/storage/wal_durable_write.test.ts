// Goal: an entry persisted on the event loop (a follower's append, a leader's lone write) costs
// one durable write (DiskFile.writeDurably: O_DSYNC on Linux) instead of a write and an
// fdatasync, where its records land in zeros already written ahead and synced; and it is
// exactly as durable: a power loss right after persist() returns never loses it, one during
// the write loses at most that write (recovery cuts it as a torn tail). Method: SimDisk, which
// counts writes, durable writes and syncs, and keeps only durable bytes (some torn) in a crash.

import { describe, expect, test } from "bun:test";
import { openStorage } from "../../../raft/storage.ts";
import { testEntry } from "../../support/storage_disks.ts";
import { storageRng } from "../../support/storage_rng.ts";
import { SimCrashError, SimDisk } from "../../sim/sim_disk.ts";

const dataDir = "/data";
const open = (disk: SimDisk, walPreallocateBytes = 64 * 1024) =>
  openStorage({ logDisk: disk, snapshotDisk: disk, dataDir, walPreallocateBytes });

describe("a small append persisted on the loop is one durable write", () => {
  test("inside zeros written ahead and synced: one durable write, no fdatasync", () => {
    const disk = new SimDisk();
    const { storage } = open(disk);
    storage.persist(null, null, [testEntry(1, 1, 100)]); // writes the zeros ahead: write + sync
    const before = { ...disk.stats };
    for (let i = 2; i <= 11; i++) storage.persist(null, null, [testEntry(i, 1, 100)]);
    expect(disk.stats.durableWrites - before.durableWrites).toBe(10);
    expect(disk.stats.syncs - before.syncs).toBe(0);
    expect(disk.stats.writes - before.writes).toBe(10);
    storage.close();
    expect(open(disk).initial.entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  test("no zeros ahead, past them, or after an unsynced write: write + fdatasync as before", () => {
    const disk = new SimDisk();
    const { storage } = open(disk, 0);
    storage.persist(null, null, [testEntry(1, 1, 100)]);
    storage.persist(null, null, [testEntry(2, 1, 100)]);
    expect(disk.stats.durableWrites).toBe(0);
    storage.close();

    const small = new SimDisk();
    const s2 = open(small, 4096).storage;
    s2.persist(null, null, [testEntry(1, 1, 100)]);
    const before = { ...small.stats };
    s2.persist(null, null, [testEntry(2, 1, 5000)]); // runs past the zeros: new zeros, a journal commit
    expect(small.stats.durableWrites - before.durableWrites).toBe(0);
    expect(small.stats.syncs - before.syncs).toBe(1);
    s2.close();
  });
});

describe("a durable write is as durable as write + fdatasync", () => {
  test("a power loss right after persist() returns keeps every entry (tearing crashes, many seeds)", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const disk = new SimDisk();
      const { storage } = open(disk, 8192);
      const count = 1 + (seed % 40);
      for (let i = 1; i <= count; i++) storage.persist(null, null, [testEntry(i, 1, 20 + ((seed * i) % 300))]);
      disk.crash("tear", storageRng(seed));
      const got = open(disk, 8192).initial.entries;
      expect(got.length, `seed ${seed}`).toBe(count);
      got.forEach((e, i) => expect(e, `seed ${seed}`).toEqual(testEntry(i + 1, 1, 20 + ((seed * (i + 1)) % 300))));
    }
  });

  test("a power loss during the durable write loses at most that entry, and the log opens", () => {
    for (let seed = 1; seed <= 100; seed++) {
      const disk = new SimDisk();
      const { storage } = open(disk);
      for (let i = 1; i <= 5; i++) storage.persist(null, null, [testEntry(i, 1, 200)]);
      disk.armCrash(seed % 2, (syscall) => syscall === "write" || syscall === "fsync");
      expect(() => storage.persist(null, null, [testEntry(6, 1, 200)])).toThrow(SimCrashError);
      disk.crash("tear", storageRng(seed));
      const got = open(disk).initial.entries.map((e) => e.index);
      expect([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]], `seed ${seed}`).toContainEqual(got);
    }
  });
});
