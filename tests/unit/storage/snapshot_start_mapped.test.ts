// Goal (issue 18, memory at ten million keys): a start checks and restores the newest snapshot
// through a mapping of its state file where the disk offers one, not by reading it into memory.
// It is read twice (checked when the store opens, then handed to the restore): read, each pass
// was a buffer the size of the state (289-336 MB at ten million keys) freed at once later on.
// Damage is still found and named, and a file that cannot be mapped is read as before.
// Method: the production storage (openStorage, SnapshotStore) on a MemDisk with a "mapping"
// (tests/unit/raft/turn_kit.ts's TurnDisk), counting reads and mappings of state files.

import { expect, test } from "bun:test";
import type { SnapshotMeta } from "../../../raft/core/types.ts";
import { openStorage } from "../../../raft/storage.ts";
import { StorageDamageError } from "../../../raft/wal_record.ts";
import { TurnDisk, Turns } from "../raft/turn_kit.ts";

const membership = { members: [{ id: "n1", addr: "h:1", suffrage: "voter" as const }] };
const meta: SnapshotMeta = { lastIncludedIndex: 10, lastIncludedTerm: 1, membership };
const statePath = "/data/snapshots/1-10/state";
const state = Uint8Array.from({ length: 5000 }, (_, i) => i % 251);

/** A TurnDisk holding one saved snapshot, counting whole reads and mappings of state files. */
async function withSnapshot(): Promise<{ disk: TurnDisk; reads: string[]; maps: string[] }> {
  const turns = new Turns();
  const disk = new TurnDisk(turns);
  const { storage } = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: "/data", scheduler: turns.scheduler });
  storage.saveNodeId("n1");
  let isSaved = false;
  await turns.turn(() => void storage.saveSnapshot(meta, state, 0).then(() => (isSaved = true)));
  await turns.run(() => isSaved);
  storage.close();
  const reads: string[] = [];
  const maps: string[] = [];
  const readFile = disk.readFile;
  const mapFile = disk.mapFile.bind(disk);
  disk.readFile = (p) => {
    if (p.includes("/snapshots/") && p.endsWith("/state")) reads.push(p);
    return readFile(p);
  };
  disk.mapFile = (p) => {
    maps.push(p);
    return mapFile(p);
  };
  return { disk, reads, maps };
}

const open = (disk: TurnDisk) => openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: "/data" });

test("a start maps the newest snapshot's state, reading none of it into memory", async () => {
  const { disk, reads, maps } = await withSnapshot();
  const { initial } = open(disk);
  expect(initial.snapshot?.meta).toEqual(meta);
  expect([...initial.snapshot!.data]).toEqual([...state]);
  expect(reads).toEqual([]);
  expect(maps).toEqual([statePath, statePath]);
});

test("a mapped state with a flipped byte is damage, named", async () => {
  const { disk } = await withSnapshot();
  const f = disk.inner.open(statePath, "write");
  f.write(Uint8Array.of(state[100]! ^ 1), 100);
  f.close();
  expect(() => open(disk)).toThrow(StorageDamageError);
  expect(() => open(disk)).toThrow(/checksum/);
});

test("a state file that cannot be mapped is read whole, with the same checks", async () => {
  const { disk, reads } = await withSnapshot();
  disk.mapFile = () => {
    throw new Error("EINVAL: invalid argument, mmap");
  };
  expect([...open(disk).initial.snapshot!.data]).toEqual([...state]);
  expect(reads).toEqual([statePath, statePath]);
  const f = disk.inner.open(statePath, "write");
  f.truncate(10);
  f.close();
  expect(() => open(disk)).toThrow(/snapshot state is 10 bytes, meta says 5000/);
});
