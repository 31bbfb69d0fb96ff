// Goal: the WAL behaves identically on the real file system, MemDisk and SimDisk.
// Method: one conformance suite (Hono/Kysely style) run against each Disk: append, sync,
// reopen, roll-over, conflict truncation, compaction, reset and torn-tail recovery.

import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Entry } from "../../../raft/core/types.ts";
import { Wal } from "../../../raft/wal.ts";
import { cutFile, type DiskFixture, diskKinds, testEntry } from "../../support/storage_disks.ts";

const range = (from: number, to: number, term: number) => Array.from({ length: to - from + 1 }, (_, i) => testEntry(from + i, term));
const small = { segmentBytesMax: 1024 };

for (const kind of diskKinds) {
  describe(`wal on ${kind.name}`, () => {
    let fx: DiskFixture;
    const dir = () => join(fx.root, "raft", "wal");
    const reopen = (opts = small) => Wal.open(fx.disk, dir(), opts);
    afterEach(() => fx.cleanup());

    test("an empty log opens empty", () => {
      fx = kind.make();
      const { wal, entries } = reopen();
      expect(entries).toEqual([]);
      expect([wal.firstIndex, wal.lastIndex]).toEqual([1, 0]);
      wal.close();
    });

    test("entries of every kind survive a reopen", () => {
      fx = kind.make();
      const { wal } = reopen();
      const log: Entry[] = [
        testEntry(1, 1),
        { index: 2, term: 1, kind: "noop", data: new Uint8Array() },
        { index: 3, term: 2, kind: "config", data: new Uint8Array(), membership: { members: [{ id: "n1", addr: "h:1", suffrage: "voter" }] } },
      ];
      wal.append(log);
      wal.sync();
      wal.close();
      const again = reopen();
      expect(again.entries).toEqual(log);
      expect(again.wal.lastIndex).toBe(3);
      again.wal.close();
    });

    test("segments roll over and are named by their first index", () => {
      fx = kind.make();
      const { wal } = reopen();
      for (let i = 1; i <= 200; i += 10) wal.append(range(i, i + 9, 1));
      wal.sync();
      wal.close();
      const names = fx.disk.list(dir());
      expect(names.length).toBeGreaterThan(3);
      expect(names.every((n) => /^\d+\.seg$/.test(n))).toBe(true);
      expect(names.map((n) => Number.parseInt(n)).sort((a, b) => a - b)[0]).toBe(1);
      const again = reopen();
      expect(again.entries).toEqual(range(1, 200, 1));
      again.wal.close();
    });

    test("a conflicting append truncates the suffix, across segments", () => {
      fx = kind.make();
      const { wal } = reopen();
      wal.append(range(1, 100, 1));
      wal.append([testEntry(40, 2)]);
      expect(wal.lastIndex).toBe(40);
      wal.append(range(41, 45, 2));
      wal.sync();
      wal.close();
      const again = reopen();
      expect(again.entries).toEqual([...range(1, 39, 1), ...range(40, 45, 2)]);
      again.wal.close();
    });

    test("appends must be contiguous", () => {
      fx = kind.make();
      const { wal } = reopen();
      wal.append(range(1, 3, 1));
      expect(() => wal.append([testEntry(5, 1)])).toThrow(/gap/);
      expect(() => wal.append([testEntry(4, 1), testEntry(6, 1)])).toThrow(/contiguous/);
      wal.close();
    });

    test("compact deletes only whole segments at or below the index", () => {
      fx = kind.make();
      const { wal } = reopen();
      wal.append(range(1, 200, 1));
      wal.sync();
      const before = fx.disk.list(dir()).length;
      wal.compact(100);
      expect(wal.firstIndex).toBeGreaterThan(1);
      expect(wal.firstIndex).toBeLessThanOrEqual(101);
      expect(fx.disk.list(dir()).length).toBeLessThan(before);
      wal.append([testEntry(201, 1)]);
      wal.sync();
      const first = wal.firstIndex;
      wal.close();
      const again = reopen();
      expect(again.entries[0]!.index).toBe(first);
      expect(again.entries.at(-1)!.index).toBe(201);
      again.wal.close();
    });

    test("reset drops everything and remembers where the log resumes", () => {
      fx = kind.make();
      const { wal } = reopen();
      wal.append(range(1, 50, 1));
      wal.reset(500);
      expect([wal.firstIndex, wal.lastIndex]).toEqual([501, 500]);
      wal.close();
      const again = reopen();
      expect(again.entries).toEqual([]);
      expect([again.wal.firstIndex, again.wal.lastIndex]).toEqual([501, 500]);
      again.wal.append(range(501, 502, 3));
      again.wal.sync();
      again.wal.close();
      expect(reopen().entries).toEqual(range(501, 502, 3));
    });

    test("a torn final record is cut off and appending resumes there", () => {
      fx = kind.make();
      const { wal } = reopen({ segmentBytesMax: 1 << 20 });
      wal.append(range(1, 10, 1));
      wal.sync();
      wal.close();
      const seg = join(dir(), "1.seg");
      const size = fx.disk.readFile(seg).length;
      cutFile(fx.disk, seg, size - 5);
      const lines: string[] = [];
      const logger = { info: (l: string) => void lines.push(l), warn: (l: string) => void lines.push(l) };
      const again = Wal.open(fx.disk, dir(), { segmentBytesMax: 1 << 20, logger });
      expect(again.entries).toEqual(range(1, 9, 1));
      expect(lines).toHaveLength(1); // what was cut, where, and why
      expect(lines[0]).toContain(`cut ${seg} at offset `);
      expect(lines[0]).toMatch(/\d+ bytes, a torn record \(.*runs past the end of the file/);
      expect(fx.disk.readFile(seg).length).toBeLessThan(size - 5);
      again.wal.append([testEntry(10, 2)]);
      again.wal.sync();
      again.wal.close();
      expect(reopen().entries).toEqual([...range(1, 9, 1), testEntry(10, 2)]);
    });

    test("with zeros written ahead, records overwrite them in place; sealed segments end with their last record", () => {
      fx = kind.make();
      const opts = { segmentBytesMax: 2048, preallocateBytes: 1000 };
      const { wal } = reopen(opts);
      wal.append(range(1, 3, 1));
      wal.sync();
      const seg = join(dir(), "1.seg");
      const length = fx.disk.readFile(seg).length;
      const bytes = fx.disk.readFile(seg);
      const recordsEnd = bytes.findLastIndex((b) => b !== 0) + 1;
      expect(length - recordsEnd).toBeGreaterThanOrEqual(900); // zeros after the records
      wal.append(range(4, 5, 1));
      wal.sync();
      expect(fx.disk.readFile(seg).length).toBe(length); // written over the zeros
      wal.close();
      // Reopened with or without writing ahead, the zeros are the end of the log.
      const again = reopen(small);
      expect(again.entries).toEqual(range(1, 5, 1));
      again.wal.close();
      const third = reopen(opts);
      third.wal.append(range(6, 200, 1)); // past 2048 bytes: rolls over
      third.wal.sync();
      third.wal.close();
      const segs = fx.disk.list(dir()).sort((a, b) => parseInt(a) - parseInt(b));
      expect(segs.length).toBeGreaterThan(1);
      for (const name of segs.slice(0, -1)) {
        const sealed = fx.disk.readFile(join(dir(), name));
        expect(sealed[sealed.length - 1], name).not.toBe(0); // last byte of a record's CRC-checked payload
      }
      expect(reopen(opts).entries).toEqual(range(1, 200, 1));
    });
  });
}
