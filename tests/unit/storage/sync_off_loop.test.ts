// Goal: where the disk offers syncs off the event loop, a locally taken snapshot is saved with
// no blocking fsync at all, yet in the order that makes it crash-safe (state synced, then meta
// written and synced, then the temp directory synced, then renamed, then the parent synced,
// and only then reported saved); a failed sync fails the save and leaves nothing installed.
// The WAL's async sync waits for a directory sync it started alongside the file's.
// Method: a MemDisk whose async syncs are queued and completed one at a time by the test,
// recording every operation; the blocking sync calls are recorded as violations.

import { expect, test } from "bun:test";
import { join } from "node:path";
import type { Entry, SnapshotMeta } from "../../../raft/core/types.ts";
import type { Disk, DiskFile, OpenMode } from "../../../raft/host.ts";
import { MemDisk } from "../../../raft/mem_disk.ts";
import { openStorage } from "../../../raft/storage.ts";
import { Wal } from "../../../raft/wal.ts";

type Done = (error: Error | null) => void;

/** MemDisk with queued async syncs and a log of operations. */
class QueuedSyncDisk implements Disk {
  readonly inner = new MemDisk();
  readonly log: string[] = [];
  readonly queue: Array<{ what: string; done: Done }> = [];
  /** Set to make the next completed async sync whose name includes this fail. */
  failOn: string | null = null;

  open(path: string, mode: OpenMode): DiskFile {
    const f = this.inner.open(path, mode);
    const disk = this;
    return {
      size: () => f.size(),
      read: (p, n) => f.read(p, n),
      write(bytes, position) {
        disk.log.push(`write ${path}`);
        f.write(bytes, position);
      },
      truncate: (n) => f.truncate(n),
      sync() {
        disk.log.push(`BLOCKING sync ${path}`);
      },
      syncAsync(done) {
        disk.log.push(`sync start ${path}`);
        disk.queue.push({ what: `sync ${path}`, done });
      },
      close: () => f.close(),
    };
  }
  readFile = (p: string) => this.inner.readFile(p);
  exists = (p: string) => this.inner.exists(p);
  isDir = (p: string) => this.inner.isDir(p);
  list = (d: string) => this.inner.list(d);
  mkdirp = (d: string) => this.inner.mkdirp(d);
  rename(from: string, to: string): void {
    this.log.push(`rename ${from} ${to}`);
    this.inner.rename(from, to);
  }
  remove(p: string): void {
    this.log.push(`remove ${p}`);
    this.inner.remove(p);
  }
  syncDir(d: string): void {
    this.log.push(`BLOCKING syncDir ${d}`);
  }
  syncDirAsync(d: string, done: Done): void {
    this.log.push(`syncDir start ${d}`);
    this.queue.push({ what: `syncDir ${d}`, done });
  }

  /** Completes the oldest queued sync. */
  completeOne(): boolean {
    const next = this.queue.shift();
    if (next === undefined) return false;
    const fail = this.failOn !== null && next.what.includes(this.failOn);
    this.log.push(`${next.what} ${fail ? "FAILED" : "done"}`);
    if (fail) this.failOn = null;
    next.done(fail ? new Error(`injected: ${next.what}`) : null);
    return true;
  }
}

const meta: SnapshotMeta = { lastIncludedIndex: 40, lastIncludedTerm: 2, membership: { members: [{ id: "a", addr: "a:1", suffrage: "voter" }] } };
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs `work`, completing queued syncs one per turn until it settles. */
async function pump<T>(disk: QueuedSyncDisk, work: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  let settled: { value?: T; error?: unknown } | null = null;
  work.then((value) => (settled = { value }), (error: unknown) => (settled = { error }));
  for (let i = 0; i < 10_000 && settled === null; i++) {
    await turn();
    if (settled === null) disk.completeOne();
  }
  if (settled === null) throw new Error("work never settled");
  return settled;
}

function at(log: readonly string[], line: string): number {
  const i = log.indexOf(line);
  if (i < 0) throw new Error(`not in the log: ${line}\n${log.join("\n")}`);
  return i;
}

function setup(): { disk: QueuedSyncDisk; storage: ReturnType<typeof openStorage>["storage"]; snapDir: string } {
  const disk = new QueuedSyncDisk();
  const { storage } = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: "/data" });
  disk.log.length = 0;
  return { disk, storage, snapDir: "/data/snapshots" };
}

test("a local snapshot is saved with no blocking sync, in the crash-safe order", async () => {
  const { disk, storage, snapDir } = setup();
  const data = new Uint8Array(2.5 * 1024 * 1024).map((_, i) => i & 0xff); // three slices
  const result = await pump(disk, storage.saveSnapshot(meta, data, 10));
  expect(result.error).toBeUndefined();
  const log = disk.log;
  expect(log.filter((l) => l.startsWith("BLOCKING"))).toEqual([]);
  const tmp = join(snapDir, "2-40.tmp");
  const final = join(snapDir, "2-40");
  const state = join(tmp, "state");
  const metaFile = join(tmp, "meta");
  // Every slice is synced before the next is written; the state is synced before the meta exists.
  const stateSyncs = log.flatMap((l, i) => (l === `sync ${state} done` ? [i] : []));
  expect(stateSyncs.length).toBeGreaterThanOrEqual(3);
  expect(stateSyncs[stateSyncs.length - 1]!).toBeLessThan(at(log, `write ${metaFile}`));
  expect(at(log, `sync ${metaFile} done`)).toBeLessThan(at(log, `syncDir start ${tmp}`));
  expect(at(log, `syncDir ${tmp} done`)).toBeLessThan(at(log, `rename ${tmp} ${final}`));
  expect(at(log, `rename ${tmp} ${final}`)).toBeLessThan(at(log, `syncDir start ${snapDir}`));
  expect(log[log.length - 1]).toBe(`syncDir ${snapDir} done`);
  // And it is the stored snapshot, with the bytes given.
  expect(storage.mapSnapshot(meta)).toBeNull(); // MemDisk cannot map; the file is read instead.
  const stored = disk.readFile(join(final, "state"));
  expect(Buffer.compare(stored, data)).toBe(0);
});

test("a failed sync fails the save and installs nothing", async () => {
  for (const failing of ["state", "meta", "2-40.tmp", "/data/snapshots"]) {
    const { disk, storage, snapDir } = setup();
    disk.failOn = failing === "/data/snapshots" ? `syncDir ${snapDir}` : failing;
    const result = await pump(disk, storage.saveSnapshot(meta, new Uint8Array(1000).fill(7), 10));
    expect(String(result.error)).toContain("injected");
    if (failing === "/data/snapshots") continue; // Renamed already: the parent's sync is what failed.
    expect(disk.exists(join(snapDir, "2-40"))).toBe(false);
    expect(disk.exists(join(snapDir, "2-40.tmp"))).toBe(false);
  }
});

test("the WAL's async sync waits for the directory sync it starts alongside, and reports its failure", async () => {
  const disk = new QueuedSyncDisk();
  const { wal } = Wal.open(disk, "/wal", { segmentBytesMax: 1024 });
  const entry = (index: number): Entry => ({ index, term: 1, kind: "normal", data: new Uint8Array(300).fill(index) });
  // A new segment makes the directory dirty: its sync runs with the file's.
  wal.append([entry(1)]);
  let outcome: Error | null | undefined;
  wal.syncAsync((e) => (outcome = e));
  expect(disk.queue.map((q) => q.what).sort()).toEqual(["sync /wal/1.seg", "syncDir /wal"]);
  disk.completeOne();
  expect(outcome).toBeUndefined();
  disk.completeOne();
  expect(outcome).toBeNull();
  // A failing directory sync is reported even though the file's succeeded.
  wal.append([entry(2), entry(3), entry(4), entry(5)]); // rolls over to a new segment
  disk.failOn = "syncDir";
  outcome = undefined;
  wal.syncAsync((e) => (outcome = e));
  while (disk.completeOne());
  expect(String(outcome)).toContain("injected: syncDir /wal");
  expect(disk.log.filter((l) => l.startsWith("BLOCKING syncDir"))).toEqual([]);
});
