// Goal: the WAL's tail rule (raft/wal.ts header) tells what a crash can tear from damage to
// synced bytes, both ways: a power loss never stops the node from starting, damage to synced
// bytes always does, and whatever recovery cuts it logs. Method: SimDisk, which persists
// unsynced 4 KiB pages in any order (some torn at 512-byte sectors) and flips bits in synced
// data; deterministic cases first, then seeded random runs. STORAGE_TAIL_SEEDS=n runs more.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Entry } from "../../../raft/core/types.ts";
import type { Logger } from "../../../raft/host.ts";
import { openStorage } from "../../../raft/storage.ts";
import { StorageDamageError, Wal } from "../../../raft/wal.ts";
import { checksum, headerCheck, readWalRecord, walRecordOverheadBytes, writeWalRecord } from "../../../raft/wal_record.ts";
import { testEntry } from "../../support/storage_disks.ts";
import { storageRng, type StorageRng } from "../../support/storage_rng.ts";
import { SimCrashError, SimDisk, simSectorBytes } from "../../sim/sim_disk.ts";

const seeds = Number(process.env.STORAGE_TAIL_SEEDS ?? 250);
const walDir = "/data/raft/wal";
const seg1 = join(walDir, "1.seg");

/** A Logger that keeps its lines. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (l) => void lines.push(l), warn: (l) => void lines.push(l), error: (l) => void lines.push(l) };
}

function damageOf(f: () => unknown): StorageDamageError {
  try {
    f();
  } catch (err) {
    if (err instanceof StorageDamageError) return err;
    throw err;
  }
  throw new Error("opened damaged storage without complaint");
}

/** Offset just past the last non-zero byte: the end of the records in a segment. */
function recordsEnd(bytes: Uint8Array): number {
  return bytes.findLastIndex((b) => b !== 0) + 1;
}

const entries = (from: number, count: number, bytes: number, term = 1) => Array.from({ length: count }, (_, i) => testEntry(from + i, term, bytes));

describe("a power loss tears only what was not synced", () => {
  test("a batch over several pages persisted out of order: the node's storage opens, cuts only the unsynced records and logs it", () => {
    for (const pages of [[2, 3], [0, 2], [1, 3], [3]]) {
      const disk = new SimDisk();
      const { wal } = Wal.open(disk, walDir, { preallocateBytes: 64 * 1024 });
      wal.append([testEntry(1, 1, 100)]);
      wal.sync(); // acknowledged
      const syncedEnd = recordsEnd(disk.synced(seg1)!);
      wal.append(entries(2, 12, 1000)); // about 12 KiB over pages 0..3, never synced
      disk.crashPersisting(new Map([[seg1, pages]]));
      const logger = recordingLogger();
      const { initial, storage } = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: "/data", walPreallocateBytes: 64 * 1024, logger });
      const got = initial.entries;
      expect(got[0], `pages ${pages}`).toEqual(testEntry(1, 1, 100));
      // What survives past the synced entry is an intact prefix of the batch (page 0 kept whole).
      got.slice(1).forEach((e, i) => expect(e).toEqual(testEntry(2 + i, 1, 1000)));
      if (!pages.includes(0)) expect(got.length, `pages ${pages}`).toBe(1);
      const cut = logger.lines.filter((l) => l.includes(seg1));
      expect(cut.length, `pages ${pages}: ${logger.lines.join(" | ")}`).toBe(1);
      expect(cut[0]).toMatch(/offset \d+/);
      expect(cut[0]).toMatch(/\d+ bytes/);
      expect(cut[0]).toMatch(/record/);
      const offset = Number(/offset (\d+)/.exec(cut[0]!)![1]);
      expect(offset).toBeGreaterThanOrEqual(syncedEnd);
      storage.close();
    }
  });

  test("entries a restart recovered survive a later power loss (recovery syncs what it accepts)", () => {
    const disk = new SimDisk();
    const first = Wal.open(disk, walDir, { preallocateBytes: 8192 });
    first.wal.append(entries(1, 5, 50));
    first.wal.sync();
    first.wal.append(entries(6, 5, 50)); // not synced, then the process dies (the page cache keeps it)
    const again = Wal.open(disk, walDir, { preallocateBytes: 8192 });
    expect(again.entries.length).toBe(10); // the restarted node now treats 6..10 as its log
    disk.crash("drop", storageRng(1)); // power loss before it appends anything
    expect(Wal.open(disk, walDir).entries).toEqual(entries(1, 10, 50));
  });
});

describe("damage to synced bytes refuses to start", () => {
  for (const preallocateBytes of [0, 4096]) {
    test(`a flipped bit in the last synced record (zeros ahead: ${preallocateBytes})`, () => {
      const disk = new SimDisk();
      const { wal } = Wal.open(disk, walDir, { preallocateBytes });
      wal.append(entries(1, 4, 60));
      wal.sync();
      wal.append([testEntry(5, 1, 60)]);
      wal.sync(); // acknowledged: on a one-node cluster, committed
      wal.close();
      const end = recordsEnd(disk.synced(seg1)!);
      for (const back of [2, 20, 40]) {
        const logger = recordingLogger();
        disk.corrupt(seg1, end - back, 0x10);
        const err = damageOf(() => Wal.open(disk, walDir, { preallocateBytes, logger }));
        expect(err.path).toBe(seg1);
        expect(err.offset).toBeLessThanOrEqual(end - back);
        expect(err.offset).toBeGreaterThan(end - 100);
        expect(err.message).toContain(`${seg1} at offset ${err.offset}`);
        disk.corrupt(seg1, end - back, 0x10); // undo
      }
      expect(Wal.open(disk, walDir, { preallocateBytes }).entries).toEqual(entries(1, 5, 60));
    });

    test(`a flipped bit in the length field of the last record (zeros ahead: ${preallocateBytes})`, () => {
      const disk = new SimDisk();
      const { wal } = Wal.open(disk, walDir, { preallocateBytes });
      wal.append(entries(1, 4, 60));
      wal.sync();
      const start = recordsEnd(disk.synced(seg1)!); // where the last record will start
      wal.append([testEntry(5, 1, 60)]);
      wal.sync();
      wal.close();
      for (let bit = 0; bit < 32; bit++) {
        disk.corrupt(seg1, start + (bit >> 3), 1 << (bit & 7));
        const err = damageOf(() => Wal.open(disk, walDir, { preallocateBytes }));
        expect(err.path, `bit ${bit}`).toBe(seg1);
        expect(err.offset, `bit ${bit}`).toBe(start);
        disk.corrupt(seg1, start + (bit >> 3), 1 << (bit & 7));
      }
      expect(Wal.open(disk, walDir, { preallocateBytes }).entries).toEqual(entries(1, 5, 60));
    });
  }

  test("a flipped bit in the zeros after the last record: refused in that record's sector, cut and logged beyond it, no entry lost", () => {
    const disk = new SimDisk();
    const { wal } = Wal.open(disk, walDir, { preallocateBytes: 8192 });
    wal.append(entries(1, 5, 60));
    wal.sync();
    wal.close();
    const end = recordsEnd(disk.synced(seg1)!);
    const sectorEnd = Math.ceil(end / simSectorBytes) * simSectorBytes;
    disk.corrupt(seg1, end + 1, 0x01);
    expect(damageOf(() => Wal.open(disk, walDir)).offset).toBe(end);
    disk.corrupt(seg1, end + 1, 0x01);
    disk.corrupt(seg1, sectorEnd + 100, 0x01);
    const logger = recordingLogger();
    expect(Wal.open(disk, walDir, { logger }).entries).toEqual(entries(1, 5, 60));
    expect(logger.lines.length).toBe(1);
    expect(logger.lines[0]).toContain(`${seg1}`);
    expect(logger.lines[0]).toContain(`offset ${end}`);
  });
});

describe("data written by the previous record format", () => {
  const fixture = join(import.meta.dir, "fixtures", "wal_v1");
  const load = (disk: SimDisk) => {
    disk.mkdirp(walDir);
    for (const name of readdirSync(fixture)) {
      const f = disk.open(join(walDir, name), "create");
      f.write(new Uint8Array(readFileSync(join(fixture, name))), 0);
      f.sync();
      f.close();
    }
    disk.syncDir(walDir);
  };
  const written = Array.from({ length: 30 }, (_, i) => testEntry(i + 1, i + 1 > 20 ? 2 : 1, 40));

  test("segments written by the previous version open, and appending continues in the new format", () => {
    const disk = new SimDisk();
    load(disk);
    const logger = recordingLogger();
    const { wal, entries: got } = Wal.open(disk, walDir, { segmentBytesMax: 1024, preallocateBytes: 600, logger });
    expect(got).toEqual(written);
    wal.append(entries(31, 3, 40, 2));
    wal.sync();
    wal.close();
    expect(Wal.open(disk, walDir, { segmentBytesMax: 1024 }).entries).toEqual([...written, ...entries(31, 3, 40, 2)]);
    // A conflicting append reaching back into an old segment works too.
    const third = Wal.open(disk, walDir, { segmentBytesMax: 1024, preallocateBytes: 600 });
    third.wal.append(entries(25, 2, 40, 3));
    third.wal.sync();
    third.wal.close();
    expect(Wal.open(disk, walDir).entries).toEqual([...written.slice(0, 24), ...entries(25, 2, 40, 3)]);
  });

  test("a flipped bit in an old segment is still damage", () => {
    const disk = new SimDisk();
    load(disk);
    disk.corrupt(join(walDir, "1.seg"), 300, 0x02);
    expect(damageOf(() => Wal.open(disk, walDir)).path).toBe(join(walDir, "1.seg"));
  });
});

// ---- seeded random runs ----

interface Model {
  /** Every entry the WAL reported durable (sync returned, or a reopen returned it). */
  acked: Map<number, Entry>;
  /** Entries at or above this index may have been replaced by a truncation since. */
  truncatedFrom: number;
  term: number;
}

function workload(wal: Wal, m: Model, rng: StorageRng, log: Map<number, Entry>): void {
  for (;;) {
    const op = rng.int(10);
    if (op < 6 || wal.lastIndex < wal.firstIndex) {
      let from = wal.lastIndex + 1;
      if (op === 0 && wal.lastIndex >= wal.firstIndex) {
        from = Math.max(wal.firstIndex, wal.lastIndex - rng.int(8));
        m.term++;
        m.truncatedFrom = Math.min(m.truncatedFrom, from);
        for (let i = from; i <= wal.lastIndex; i++) log.delete(i);
      }
      const size = [20, 200, 900][rng.int(3)]!;
      const batch = Array.from({ length: 1 + rng.int(16) }, (_, i) => testEntry(from + i, m.term, 1 + rng.int(size)));
      for (const e of batch) log.set(e.index, e);
      wal.append(batch);
    } else if (op < 9) {
      wal.sync();
      m.acked = new Map(log);
      m.truncatedFrom = Number.POSITIVE_INFINITY;
    } else {
      wal.compact(wal.firstIndex + rng.int(Math.max(1, wal.lastIndex - wal.firstIndex)));
      for (const i of [...log.keys()]) if (i < wal.firstIndex) log.delete(i);
    }
  }
}

function checkRecovered(got: Entry[], m: Model, where: string): void {
  for (let i = 1; i < got.length; i++) expect(got[i]!.index, where).toBe(got[i - 1]!.index + 1);
  for (const e of got) expect(e.data, where).toEqual(testEntry(e.index, e.term, e.data.length).data);
  const byIndex = new Map(got.map((e) => [e.index, e]));
  const first = got[0]?.index ?? Number.POSITIVE_INFINITY;
  for (const [i, e] of m.acked) {
    if (i < first || i >= m.truncatedFrom) continue; // compacted, or legitimately replaced
    expect(byIndex.get(i), `${where}: acknowledged entry ${i} lost`).toEqual(e);
  }
}

/** A synced byte to damage, chosen at random: any byte of a sealed segment, any record byte of the last. */
function pickSyncedByte(disk: SimDisk, rng: StorageRng): { path: string; offset: number } | null {
  const names = disk.list(walDir).filter((n) => n.endsWith(".seg")).sort((a, b) => Number.parseInt(a) - Number.parseInt(b));
  const choices: { path: string; end: number }[] = [];
  names.forEach((name, k) => {
    const path = join(walDir, name);
    const synced = disk.synced(path)!;
    const now = disk.readFile(path);
    // Sealed segments end with their last record; the last one is records, then zeros ahead.
    const end = k === names.length - 1 ? recordsEnd(synced) : synced.length;
    let same = 0;
    while (same < end && now[same] === synced[same]) same++;
    if (same > 0) choices.push({ path, end: same });
  });
  if (choices.length === 0) return null;
  const c = choices[rng.int(choices.length)]!;
  return { path: c.path, offset: rng.int(c.end) };
}

describe("seeded crashes and flips", () => {
  test(`${seeds} seeds: no pure crash is refused, every synced entry survives, every flip in synced records is refused`, () => {
    let flips = 0;
    let cuts = 0;
    let outOfOrder = 0; // cuts past which intact records had reached the disk (case 1 at random)
    for (let seed = 1; seed <= seeds; seed++) {
      const rng = storageRng(seed);
      const disk = new SimDisk();
      const segmentBytesMax = 8192 + rng.int(64 * 1024);
      const m: Model = { acked: new Map(), truncatedFrom: Number.POSITIVE_INFINITY, term: 1 };
      for (let round = 0; round < 5; round++) {
        const preallocateBytes = Math.min([0, 700, 4096, 16384][rng.int(4)]!, segmentBytesMax);
        const where = `seed ${seed} round ${round}`;
        if (round > 0 && rng.int(3) === 0) {
          const victim = pickSyncedByte(disk, rng);
          if (victim !== null) {
            const mask = 1 << rng.int(8);
            disk.corrupt(victim.path, victim.offset, mask);
            let err: StorageDamageError | null = null;
            try {
              Wal.open(disk, walDir, { segmentBytesMax, preallocateBytes });
            } catch (e) {
              if (!(e instanceof StorageDamageError)) throw e;
              err = e;
            }
            expect(err, `${where}: flip at ${victim.path}:${victim.offset} not refused`).not.toBeNull();
            expect(err!.path, where).toBe(victim.path);
            expect(err!.offset, where).toBeLessThanOrEqual(victim.offset);
            disk.corrupt(victim.path, victim.offset, mask);
            flips++;
          }
        }
        const sizes = new Map(disk.list(walDir).map((n) => [n, disk.readFile(join(walDir, n)).length]));
        const logger = recordingLogger();
        let opened: ReturnType<typeof Wal.open>;
        try {
          opened = Wal.open(disk, walDir, { segmentBytesMax, preallocateBytes, logger });
        } catch (e) {
          throw new Error(`${where}: a pure crash was refused: ${String(e)}`);
        }
        checkRecovered(opened.entries, m, where);
        // Whatever recovery cut, it said so.
        for (const [name, size] of sizes) {
          const path = join(walDir, name);
          if (disk.exists(path) && disk.readFile(path).length < size) {
            expect(logger.lines.some((l) => l.includes(path)), `${where}: ${path} cut without a word`).toBe(true);
            cuts++;
          }
        }
        for (const line of logger.lines) expect(line, where).toMatch(/offset \d+/);
        outOfOrder += logger.lines.filter((l) => /and [1-9]\d* intact/.test(l)).length;
        const log = new Map(opened.entries.map((e) => [e.index, e]));
        m.acked = new Map(log); // what a reopen returns is the node's log: it must be durable now
        m.truncatedFrom = Number.POSITIVE_INFINITY;
        m.term = Math.max(m.term, opened.entries.at(-1)?.term ?? 1);
        disk.armCrash(1 + rng.int(120));
        try {
          workload(opened.wal, m, rng, log);
        } catch (err) {
          if (!(err instanceof SimCrashError)) throw new Error(`${where}: ${String(err)}`);
        }
        disk.crash(rng.int(4) === 0 ? "drop" : "tear", rng);
      }
    }
    if (process.env.STORAGE_TAIL_SEEDS !== undefined) console.log({ flips, cuts, outOfOrder });
    expect(flips).toBeGreaterThan(seeds / 4);
    expect(cuts).toBeGreaterThan(seeds / 4);
    expect(outOfOrder).toBeGreaterThan(seeds / 20);
  }, 120_000);
});

describe("the record header checks its own length", () => {
  test("its 24-bit check is CRC32 of the first 8 bytes and catches every one- and two-bit error in them", () => {
    const rng = storageRng(5);
    const rec = new Uint8Array(walRecordOverheadBytes + 100);
    for (let n = 0; n < 20; n++) {
      const payload = Uint8Array.from({ length: 1 + rng.int(99) }, () => rng.int(256));
      writeWalRecord(rec, 0, payload);
      expect(headerCheck(rec, 0)).toBe(checksum(rec.subarray(0, 8)) & 0xffffff);
      expect(readWalRecord(rec, 0).type).toBe("ok");
    }
    const good = headerCheck(rec, 0);
    for (let a = 0; a < 64; a++) {
      for (let b = a; b < 64; b++) {
        const h = rec.slice(0, 8);
        h[a >> 3]! ^= 1 << (a & 7);
        if (b !== a) h[b >> 3]! ^= 1 << (b & 7);
        expect(headerCheck(h, 0), `bits ${a} ${b}`).not.toBe(good);
      }
    }
  });
});
