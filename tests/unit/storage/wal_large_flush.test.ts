// Goal: zeros are written ahead of the WAL's records only after flushes below 256 KiB (issue
// 18's 64 KiB values). A large flush grows the file itself: its one journal commit is small
// beside its bytes, and a megabyte of zeros after each megabyte of records doubled what every
// member wrote and synced. Method: count the bytes the WAL hands the Disk seam, on each Disk.

import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Entry } from "../../../raft/core/types.ts";
import type { Disk, DiskFile } from "../../../raft/host.ts";
import { Wal } from "../../../raft/wal.ts";
import { walRecordOverheadBytes } from "../../../raft/wal_record.ts";
import { type DiskFixture, diskKinds, testEntry } from "../../support/storage_disks.ts";

/** A Disk that counts the bytes written to files through it (zeros included). */
function counting(disk: Disk): { disk: Disk; written: () => number; zeroBytes: () => number } {
  let written = 0;
  let zeroBytes = 0;
  const wrap = (f: DiskFile): DiskFile => ({
    size: () => f.size(),
    read: (position, length) => f.read(position, length),
    write(bytes, position) {
      written += bytes.length;
      if (bytes.length > 0 && bytes.every((b) => b === 0)) zeroBytes += bytes.length;
      f.write(bytes, position);
    },
    truncate: (size) => f.truncate(size),
    sync: () => f.sync(),
    ...(f.syncAsync === undefined ? {} : { syncAsync: (done: (error: Error | null) => void) => f.syncAsync!(done) }),
    close: () => f.close(),
  });
  const counted = new Proxy(disk, {
    get(target, name) {
      if (name === "open") return (path: string, mode: Parameters<Disk["open"]>[1]) => wrap(target.open(path, mode));
      const value = Reflect.get(target, name) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { disk: counted, written: () => written, zeroBytes: () => zeroBytes };
}

const kib = 1024;
const big = (from: number, count: number, bytes = 64 * kib): Entry[] =>
  Array.from({ length: count }, (_, i) => testEntry(from + i, 1, bytes));

for (const kind of diskKinds) {
  describe(`wal flushes on ${kind.name}`, () => {
    let fx: DiskFixture;
    const dir = () => join(fx.root, "raft", "wal");
    afterEach(() => fx.cleanup());

    test("a flush of sixteen 64 KiB entries writes its records and no zeros ahead", () => {
      fx = kind.make();
      const c = counting(fx.disk);
      const { wal } = Wal.open(c.disk, dir(), { preallocateBytes: 1024 * kib });
      const entries = big(1, 16);
      wal.append(entries);
      wal.sync();
      const payloads = fx.disk.readFile(join(dir(), "1.seg")).length;
      // The segment ends with the last record: no zeros were written after it.
      expect(payloads).toBeLessThan(16 * (64 * kib + walRecordOverheadBytes + 64));
      expect(c.zeroBytes()).toBe(0);
      expect(c.written()).toBe(payloads);
      wal.close();
      expect(Wal.open(fx.disk, dir(), {}).entries).toEqual(entries);
    });

    test("a flush of one 64 KiB entry still gets zeros ahead: its sync is what one connection waits on", () => {
      fx = kind.make();
      const c = counting(fx.disk);
      const { wal } = Wal.open(c.disk, dir(), { preallocateBytes: 1024 * kib });
      wal.append(big(1, 1));
      wal.sync();
      expect(c.zeroBytes()).toBe(1024 * kib);
      wal.append(big(2, 1)); // inside the zeros: the file does not grow
      wal.sync();
      expect(c.zeroBytes()).toBe(1024 * kib);
      wal.close();
      expect(Wal.open(fx.disk, dir(), {}).entries).toEqual(big(1, 2));
    });

    test("small flushes after a large one still get zeros ahead, and every entry reads back", () => {
      fx = kind.make();
      const c = counting(fx.disk);
      const opts = { preallocateBytes: 256 * kib };
      const { wal } = Wal.open(c.disk, dir(), opts);
      wal.append(big(1, 4)); // 256 KiB of records: at least the zeros' size, none ahead
      wal.sync();
      expect(c.zeroBytes()).toBe(0);
      const afterLarge = fx.disk.readFile(join(dir(), "1.seg")).length;
      wal.append([testEntry(5, 1, 100)]); // small: runs past the end, zeros follow it
      wal.sync();
      expect(c.zeroBytes()).toBe(256 * kib);
      const withZeros = fx.disk.readFile(join(dir(), "1.seg")).length;
      expect(withZeros).toBeGreaterThan(afterLarge + 256 * kib);
      wal.append([testEntry(6, 1, 100)]); // inside the zeros: the file does not grow
      wal.sync();
      expect(fx.disk.readFile(join(dir(), "1.seg")).length).toBe(withZeros);
      wal.append(big(7, 8)); // 512 KiB from inside the zeros to past them: none added
      wal.sync();
      expect(c.zeroBytes()).toBe(256 * kib);
      wal.close();
      const again = Wal.open(fx.disk, dir(), opts);
      expect(again.entries).toEqual([...big(1, 4), testEntry(5, 1, 100), testEntry(6, 1, 100), ...big(7, 8)]);
      again.wal.close();
    });
  });
}
