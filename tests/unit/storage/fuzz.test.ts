// Goal: no input makes recovery fail in any way other than StorageDamageError, or hang.
// Method: 10,000+ seeded random and mutated segment files (flipped bytes, cuts, zeroed
// ranges, spliced records, pure garbage) opened with Wal.open on MemDisk; every success
// must be a valid contiguous log. STORAGE_FUZZ_CASES=n runs more.

import { describe, expect, test } from "bun:test";
import { encodeCbor } from "../../../raft/codec.ts";
import { MemDisk } from "../../../raft/mem_disk.ts";
import { StorageDamageError, Wal } from "../../../raft/wal.ts";
import { frameRecord, readRecord, readWalRecord } from "../../../raft/wal_record.ts";
import { testEntry } from "../../support/storage_disks.ts";
import { storageRng, type StorageRng } from "../../support/storage_rng.ts";

const cases = Number(process.env.STORAGE_FUZZ_CASES ?? 10_000);

function goodSegment(): Uint8Array {
  const disk = new MemDisk();
  const { wal } = Wal.open(disk, "/w");
  for (let i = 1; i <= 20; i++) wal.append([testEntry(i, 1 + (i >> 3), 1 + ((i * 7) % 30))]);
  wal.sync();
  return disk.readFile("/w/1.seg");
}

function mutate(src: Uint8Array, rng: StorageRng): Uint8Array {
  const b = new Uint8Array(src);
  switch (rng.int(7)) {
    case 0:
      for (let k = 1 + rng.int(4); k > 0; k--) (b[rng.int(b.length)] as number) ^= 1 << rng.int(8);
      return b;
    case 1:
      return b.subarray(0, rng.int(b.length));
    case 2: {
      const at = rng.int(b.length);
      b.fill(0, at, at + 1 + rng.int(64));
      return b;
    }
    case 3: // a record whose checksum is right but whose payload is not an entry
      return Uint8Array.from([...b, ...frameRecord(encodeCbor([rng.int(3) === 0 ? "x" : 21, 1, 9, new Uint8Array()]))]);
    case 4: {
      const at = rng.int(b.length);
      return Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1 + rng.int(40))]);
    }
    case 5:
      return Uint8Array.from({ length: rng.int(300) }, () => rng.int(256));
    default: {
      const cut = rng.int(b.length);
      return Uint8Array.from([...b, ...b.subarray(cut)]);
    }
  }
}

describe("recovery fuzzing", () => {
  test(`${cases} mutated segments open or raise StorageDamageError`, () => {
    const rng = storageRng(7);
    const good = goodSegment();
    let opened = 0;
    let damaged = 0;
    for (let i = 0; i < cases; i++) {
      const disk = new MemDisk();
      disk.mkdirp("/w");
      const twoSegments = rng.int(3) === 0;
      const write = (name: string, bytes: Uint8Array) => {
        const f = disk.open(`/w/${name}`, "create");
        f.write(bytes, 0);
        f.close();
      };
      if (twoSegments) {
        write("1.seg", rng.int(2) === 0 ? good : mutate(good, rng));
        write("21.seg", mutate(good, rng));
      } else {
        write("1.seg", mutate(good, rng));
      }
      try {
        const { wal, entries } = Wal.open(disk, "/w");
        entries.forEach((e, k) => expect(e.index, `case ${i}`).toBe(1 + k));
        expect(wal.lastIndex, `case ${i}`).toBe(entries.length);
        opened++;
      } catch (err) {
        if (!(err instanceof StorageDamageError)) throw new Error(`case ${i}: ${String(err)}`);
        expect(err.message).toContain("/w/");
        damaged++;
      }
    }
    expect(opened).toBeGreaterThan(cases / 20);
    expect(damaged).toBeGreaterThan(cases / 20);
  });

  test(`${cases} random buffers through the record reader`, () => {
    const rng = storageRng(11);
    const kinds = new Set<string>();
    const walKinds = new Set<string>();
    for (let i = 0; i < cases; i++) {
      const b = Uint8Array.from({ length: rng.int(40) }, () => rng.int(256));
      if (rng.int(2) === 0 && b.length >= 8) b.set([0, 0, 0, rng.int(40)], 0);
      kinds.add(readRecord(b, 0).type);
      if (rng.int(2) === 0 && b.length >= 12) b.set([0xa0, 0, 0, rng.int(40)], 0);
      const r = readWalRecord(b, 0);
      if (r.type === "bad") expect(r.extentEnd).toBeGreaterThan(0);
      walKinds.add(r.type);
    }
    expect([...kinds].sort()).toEqual(["bad", "short"]);
    expect([...walKinds].sort()).toEqual(["bad", "short"]);
  });
});
