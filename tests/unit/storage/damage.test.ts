// Goal: damaged storage refuses to open with a StorageDamageError naming the file, on every
// Disk. Method: write good data, damage it through the Disk seam (flipped byte mid-segment,
// missing segment, truncated snapshot, garbage state file), reopen and inspect the error.

import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SnapshotStore } from "../../../raft/snapshots.ts";
import { StableStore } from "../../../raft/stable.ts";
import { StorageDamageError, Wal } from "../../../raft/wal.ts";
import { cutFile, type DiskFixture, diskKinds, flipByte, testEntry } from "../../support/storage_disks.ts";

function damageOf(f: () => unknown): StorageDamageError {
  try {
    f();
  } catch (err) {
    if (err instanceof StorageDamageError) return err;
    throw err;
  }
  throw new Error("opened damaged storage without complaint");
}

for (const kind of diskKinds) {
  describe(`damage on ${kind.name}`, () => {
    let fx: DiskFixture;
    const walDir = () => join(fx.root, "raft", "wal");
    afterEach(() => fx.cleanup());

    function writeLog(count: number, segmentBytesMax: number): void {
      const { wal } = Wal.open(fx.disk, walDir(), { segmentBytesMax });
      for (let i = 1; i <= count; i++) wal.append([testEntry(i, 1, 40)]);
      wal.sync();
      wal.close();
    }

    test("a flipped byte anywhere in the last segment, its last record included", () => {
      fx = kind.make();
      writeLog(50, 1 << 20);
      const seg = join(walDir(), "1.seg");
      const size = fx.disk.readFile(seg).length;
      // The last record was synced (acknowledged): damage there is no torn tail either.
      for (const at of [3, Math.floor(size / 2), Math.floor(size / 2) + 20, size - 20, size - 2, size - 1]) {
        flipByte(fx.disk, seg, at);
        const err = damageOf(() => Wal.open(fx.disk, walDir()));
        expect(err.message).toContain(seg);
        expect(err.path).toBe(seg);
        expect(err.offset).toBeLessThanOrEqual(at);
        flipByte(fx.disk, seg, at); // undo
      }
      expect(Wal.open(fx.disk, walDir()).entries.length).toBe(50);
    });

    test("a flipped byte at the end of an older segment", () => {
      fx = kind.make();
      writeLog(100, 1024);
      const names = fx.disk.list(walDir());
      const first = join(walDir(), names.sort((a, b) => Number.parseInt(a) - Number.parseInt(b))[0]!);
      flipByte(fx.disk, first, fx.disk.readFile(first).length - 1);
      expect(damageOf(() => Wal.open(fx.disk, walDir(), { segmentBytesMax: 1024 })).path).toBe(first);
    });

    test("a missing middle segment is a gap", () => {
      fx = kind.make();
      writeLog(100, 1024);
      const names = fx.disk.list(walDir()).sort((a, b) => Number.parseInt(a) - Number.parseInt(b));
      fx.disk.remove(join(walDir(), names[1]!));
      expect(damageOf(() => Wal.open(fx.disk, walDir())).message).toMatch(/gap/);
    });

    test("a truncated snapshot state", () => {
      fx = kind.make();
      const dir = join(fx.root, "snapshots");
      const membership = { members: [] };
      SnapshotStore.open(fx.disk, dir).save({ lastIncludedIndex: 7, lastIncludedTerm: 2, membership }, new Uint8Array(500).fill(3));
      const state = join(dir, "2-7", "state");
      cutFile(fx.disk, state, 250);
      const err = damageOf(() => SnapshotStore.open(fx.disk, dir));
      expect(err.path).toBe(state);
      expect(err.message).toContain(state);
    });

    test("a truncated snapshot meta", () => {
      fx = kind.make();
      const dir = join(fx.root, "snapshots");
      SnapshotStore.open(fx.disk, dir).save({ lastIncludedIndex: 7, lastIncludedTerm: 2, membership: { members: [] } }, new Uint8Array(5));
      const meta = join(dir, "2-7", "meta");
      cutFile(fx.disk, meta, 6);
      expect(damageOf(() => SnapshotStore.open(fx.disk, dir)).path).toBe(meta);
    });

    test("garbage in the state file", () => {
      fx = kind.make();
      const path = join(fx.root, "raft", "state");
      StableStore.open(fx.disk, path).save({ hardState: { currentTerm: 9, votedFor: "x" }, nodeId: "x" });
      const f = fx.disk.open(path, "create");
      f.write(new TextEncoder().encode("this is not a state file"), 0);
      f.close();
      const err = damageOf(() => StableStore.open(fx.disk, path));
      expect(err.path).toBe(path);
      expect(err.message).toContain(path);
    });
  });
}
