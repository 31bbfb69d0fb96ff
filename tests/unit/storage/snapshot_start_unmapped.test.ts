// Goal (issue 18, resident memory at ten million keys): the mappings a start reads the newest
// snapshot through are let go of once read, not left to the collector. A start maps the state
// twice (checked when the store opens, then restored) and reads every page of both; the pages
// of a private file mapping count in the process's resident memory for as long as it lasts,
// and a view that survives a young collection lasts until a full one: a restarted follower
// at three million keys held its whole state file (90 MiB) resident that way.
// Method: the real Disk (createFsDisk) in a temp directory, the production openStorage; the
// mappings of the state file counted in /proc/self/maps (Linux, Bun: where files are mapped).

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SnapshotMeta } from "../../../raft/core/types.ts";
import { createFsDisk } from "../../../raft/disk.ts";
import { openStorage } from "../../../raft/storage.ts";

const root = mkdtempSync(join(tmpdir(), "snapunmap-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const canMap = process.platform === "linux" && createFsDisk().mapFile !== undefined;

const meta: SnapshotMeta = { lastIncludedIndex: 40, lastIncludedTerm: 3, membership: { members: [{ id: "a", addr: "a:1", suffrage: "voter" }] } };
const state = Uint8Array.from({ length: 3 * 4096 + 17 }, (_, i) => (i * 7) % 251);

/** Mappings of the file at `path` the process holds now. */
function mappingsOf(path: string): number {
  const ino = String(statSync(path).ino);
  return readFileSync("/proc/self/maps", "latin1").split("\n").filter((l) => l.split(/\s+/)[4] === ino).length;
}

test.skipIf(!canMap)("a view let go of reads as empty and is no longer mapped; a view of another origin is left alone", () => {
  const disk = createFsDisk();
  const path = join(root, "file");
  writeFileSync(path, state);
  const view = disk.mapFile!(path);
  expect(view[100]).toBe(state[100]!);
  expect(mappingsOf(path)).toBe(1);
  disk.unmapFile!(view);
  expect(view.length).toBe(0);
  expect(mappingsOf(path)).toBe(0);
  const other = Uint8Array.from(state);
  disk.unmapFile!(other);
  disk.unmapFile!(view); // twice: nothing more happens
  expect([...other]).toEqual([...state]);
});

test.skipIf(!canMap)("a start keeps one mapping of the newest state, the one it hands out, and lets go of that on release", async () => {
  const dataDir = join(root, "node");
  const disk = createFsDisk();
  const first = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir });
  first.storage.saveNodeId("a");
  await first.storage.saveSnapshot(meta, state, 0);
  first.storage.close();
  const statePath = join(dataDir, "snapshots", "3-40", "state");

  const { storage, initial } = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir });
  expect([...initial.snapshot!.data]).toEqual([...state]);
  expect(mappingsOf(statePath)).toBe(1); // the check's mapping is gone
  const held = storage.mapSnapshot(meta)!;
  storage.releaseSnapshotView(initial.snapshot!.data);
  expect(mappingsOf(statePath)).toBe(1); // the fresh view the core keeps
  expect([...held]).toEqual([...state]);
  storage.close();
});
