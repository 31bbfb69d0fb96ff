// Goal (issue 18): the real Disk never frees a large file's blocks in one call. Freeing them at
// once (an unlink, or the close of the last descriptor of an unlinked file) made the device
// stall every writer on it for 100-200 ms (a discard of ~500 MB), the other members' WAL appends
// included; see raft/gradual_removal.ts. Watched through the node:fs calls the disk makes: no
// call may free more than removalStepBytes.

import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFsDisk } from "../../../raft/disk.ts";
import { type RemovalFs, removalStepBytes } from "../../../raft/gradual_removal.ts";

const dir = fs.mkdtempSync(join(tmpdir(), "gradual-removal-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const fileBytes = 5 * removalStepBytes + 12345;

/** Regular files' sizes under `path` now (absent: none). */
function sizesUnder(path: string): number[] {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch {
    return [];
  }
  if (st.isFile()) return [st.size];
  if (!st.isDirectory()) return [];
  return fs.readdirSync(path).flatMap((name) => sizesUnder(join(path, name)));
}

/** node:fs, with what each freeing call frees recorded (the real calls still run). */
function watchedFs(): { fsx: RemovalFs; freed: { call: string; bytes: number }[] } {
  const freed: { call: string; bytes: number }[] = [];
  const sizeOf = (fd: number): number => {
    try {
      return fs.fstatSync(fd).size;
    } catch {
      return 0;
    }
  };
  const fsx: RemovalFs = {
    lstat: fs.lstat,
    readdir: fs.readdir,
    open: fs.open,
    fstat: fs.fstat,
    ftruncate: ((fd: number, len: number, cb: (e: Error | null) => void) => {
      freed.push({ call: "ftruncate", bytes: sizeOf(fd) - len });
      fs.ftruncate(fd, len, cb);
    }) as RemovalFs["ftruncate"],
    // A close frees what is left only of an unlinked file (the held descriptor of a mapped one).
    close: ((fd: number, cb: (e: Error | null) => void) => {
      const st = fs.fstatSync(fd);
      if (st.nlink === 0) freed.push({ call: "close", bytes: st.size });
      fs.close(fd, cb);
    }) as RemovalFs["close"],
    rm: ((path: string, opts: fs.RmOptions, cb: (e: Error | null) => void) => {
      freed.push({ call: "rm", bytes: Math.max(0, ...sizesUnder(path)) });
      fs.rm(path, opts, cb);
    }) as RemovalFs["rm"],
  };
  return { fsx, freed };
}

const removeAsync = (disk: ReturnType<typeof createFsDisk>, path: string) =>
  new Promise<void>((resolve, reject) => disk.removeAsync!(path, (e) => (e === null ? resolve() : reject(e))));

test("removeAsync frees a large file a step at a time, then removes the tree", async () => {
  const { fsx, freed } = watchedFs();
  const disk = createFsDisk({ removalFs: fsx });
  const snap = join(dir, "tree", "7-70.removed");
  fs.mkdirSync(snap, { recursive: true });
  fs.writeFileSync(join(snap, "state"), new Uint8Array(fileBytes).fill(3));
  fs.writeFileSync(join(snap, "meta"), "m");
  const segment = join(dir, "tree", "00000000000000000001.seg");
  fs.writeFileSync(segment, new Uint8Array(fileBytes).fill(4));

  await removeAsync(disk, snap);
  await removeAsync(disk, segment);

  expect(fs.existsSync(snap)).toBe(false);
  expect(fs.existsSync(segment)).toBe(false);
  // Both went through the watched calls: rm once each, the large files shrunk before it.
  expect(freed.filter((f) => f.call === "rm").length).toBe(2);
  expect(freed.filter((f) => f.call === "ftruncate").reduce((a, f) => a + f.bytes, 0)).toBe(2 * fileBytes);
  for (const f of freed) expect(f.bytes).toBeLessThanOrEqual(removalStepBytes);
});

test("removeAsync of an absent path is no error, and small files are not shrunk", async () => {
  const { fsx, freed } = watchedFs();
  const disk = createFsDisk({ removalFs: fsx });
  await removeAsync(disk, join(dir, "absent"));
  const small = join(dir, "small");
  fs.writeFileSync(small, "s");
  await removeAsync(disk, small);
  expect(fs.existsSync(small)).toBe(false);
  expect(freed.map((f) => f.call)).toEqual(["rm", "rm"]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A snapshot directory `snap` whose state file (fileBytes, its last byte `last`) is mapped by
 * `disk`; the view lives in the returned holder only, so dropping it leaves no reference here.
 */
function mappedSnapshot(disk: ReturnType<typeof createFsDisk>, snap: string, last: number): { view: Uint8Array | null } {
  fs.mkdirSync(snap, { recursive: true });
  const bytes = new Uint8Array(fileBytes).fill(1);
  bytes[fileBytes - 1] = last;
  fs.writeFileSync(join(snap, "state"), bytes);
  return { view: disk.mapFile!(join(snap, "state")) };
}

test.skipIf(process.platform !== "linux")("a removed mapped file keeps its bytes while mapped, then is freed a step at a time", async () => {
  const { fsx, freed } = watchedFs();
  const disk = createFsDisk({ removalFs: fsx });
  const snap = join(dir, "mapped", "9-90");
  const holder = mappedSnapshot(disk, snap, 6);

  await removeAsync(disk, snap);
  // Not shrunk under its mapping: its last page still reads (a shrunk one would fault).
  expect(holder.view![fileBytes - 1]).toBe(6);
  expect(freed.filter((f) => f.call === "ftruncate")).toEqual([]);

  holder.view = null;
  for (let i = 0; i < 100 && !freed.some((f) => f.call === "close"); i++) {
    Bun.gc(true);
    await sleep(100);
  }
  expect(freed.filter((f) => f.call === "ftruncate").reduce((a, f) => a + f.bytes, 0)).toBe(fileBytes);
  expect(freed.some((f) => f.call === "close")).toBe(true);
  // The rm freed nothing (the held descriptor kept the file); the steps and the close did.
  for (const f of freed) if (f.call !== "rm") expect(f.bytes).toBeLessThanOrEqual(removalStepBytes);
}, 20_000);

test.skipIf(process.platform === "win32")("where mappings cannot be seen, a removed file is never shrunk (its mapping still reads)", async () => {
  const { fsx, freed } = watchedFs();
  const disk = createFsDisk({ removalFs: fsx, seesMappings: false });
  const snap = join(dir, "unseen", "11-110");
  const holder = mappedSnapshot(disk, snap, 9);
  await removeAsync(disk, snap);
  expect(fs.existsSync(snap)).toBe(false);
  expect(holder.view![fileBytes - 1]).toBe(9);
  expect(freed.map((f) => f.call)).toEqual(["rm"]);
});
