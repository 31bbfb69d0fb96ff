// Goal: a stored snapshot's state can be held as a file-backed view (Disk.mapFile) with the
// same bytes, surviving the removal of older snapshots and of its own file (POSIX keeps the
// pages), and the stores without mapping say so with null.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SnapshotMeta } from "../../../raft/core/types.ts";
import { createFsDisk } from "../../../raft/disk.ts";
import { MemDisk } from "../../../raft/mem_disk.ts";
import { SnapshotStore } from "../../../raft/snapshots.ts";

const dir = mkdtempSync(join(tmpdir(), "snapmap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const meta = (index: number): SnapshotMeta => ({
  lastIncludedIndex: index,
  lastIncludedTerm: 1,
  membership: { members: [{ id: "a", addr: "a:1", suffrage: "voter" }] },
});

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test.skipIf(process.platform === "win32")("the mapped state equals what was saved, also after the files are pruned", () => {
  const store = SnapshotStore.open(createFsDisk(), join(dir, "fs"));
  const data = bytes(3 * 1024 * 1024 + 17, 5);
  store.save(meta(10), data);
  const view = store.mapped(meta(10));
  expect(view).not.toBeNull();
  expect(Buffer.compare(view!, data)).toBe(0);
  // Two newer snapshots prune the one mapped; the view keeps reading the same bytes.
  store.save(meta(20), bytes(100, 1));
  store.save(meta(30), bytes(100, 2));
  expect(store.list().map((m) => m.lastIncludedIndex)).toEqual([20, 30]);
  expect(Buffer.compare(view!, data)).toBe(0);
  expect(store.mapped(meta(10))).toBeNull();
});

test("an empty state and a disk without mapping give null", () => {
  const fsStore = SnapshotStore.open(createFsDisk(), join(dir, "empty"));
  fsStore.save(meta(1), new Uint8Array(0));
  expect(fsStore.mapped(meta(1))).toBeNull();
  const memStore = SnapshotStore.open(new MemDisk(), "/mem/snapshots");
  memStore.save(meta(1), bytes(10, 3));
  expect(memStore.mapped(meta(1))).toBeNull();
});
