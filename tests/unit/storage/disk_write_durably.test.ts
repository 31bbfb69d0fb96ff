// Goal: the real Disk's durable write (DiskFile.writeDurably, the WAL's one-syscall append on
// the event loop) is a pwrite on a descriptor opened O_DSYNC on Linux, never an fdatasync, lands
// where asked in the same file, and is offered nowhere else (macOS keeps write + F_FULLFSYNC).
// Method: strace a child writing through createFsDisk and read the system calls it made; then
// the bytes read back through another descriptor.

import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFsDisk } from "../../../raft/disk.ts";
import { repoRoot } from "../../support/binary.ts";

const root = mkdtempSync(join(tmpdir(), "hraftd-dsync-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const haveStrace = process.platform === "linux" && spawnSync("strace", ["-V"]).status === 0;

test.skipIf(!haveStrace)("on Linux a durable write is one pwrite on an O_DSYNC descriptor, with no fdatasync", () => {
  const file = join(root, "seg");
  const script = join(root, "dsync_child.ts");
  writeFileSync(
    script,
    `import { createFsDisk } from ${JSON.stringify(join(repoRoot, "raft", "disk.ts"))};
const f = createFsDisk().open(${JSON.stringify(file)}, "create");
f.write(new Uint8Array(8192), 0);
f.sync();
console.error("MARK");
for (let i = 0; i < 3; i++) f.writeDurably(new Uint8Array([7 + i, 8 + i, 9 + i]), 100 * i);
f.close();
console.log("done");
`,
  );
  const trace = join(root, "trace.txt");
  const r = spawnSync("strace", ["-f", "-qq", "-e", "trace=openat,pwrite64,fdatasync,fsync,write", "-o", trace, process.execPath, script], {
    encoding: "utf8",
    timeout: 30_000,
  });
  expect(r.stdout).toBe("done\n");
  const lines = readFileSync(trace, "utf8").split("\n");
  const after = lines.slice(lines.findIndex((l) => l.includes("MARK")) + 1);
  const open = after.find((l) => l.includes(`openat(`) && l.includes(file));
  expect(open).toContain("O_DSYNC");
  const fd = /= (\d+)$/.exec(open!.trim())![1];
  expect(after.filter((l) => l.includes(`pwrite64(${fd},`)).length).toBe(3);
  expect(after.filter((l) => /\b(fdatasync|fsync)\(/.test(l))).toEqual([]);
  const bytes = readFileSync(file);
  expect([...bytes.subarray(0, 3)]).toEqual([7, 8, 9]);
  expect([...bytes.subarray(200, 203)]).toEqual([9, 10, 11]);
  expect(bytes.length).toBe(8192);
}, 60_000);

test("a durable write refuses a path that now names another file", () => {
  const disk = createFsDisk();
  const f = disk.open(join(root, "a"), "create");
  f.write(new Uint8Array(16), 0);
  writeFileSync(join(root, "b"), "other");
  renameSync(join(root, "b"), join(root, "a"));
  if (f.writeDurably === undefined) return; // not Linux
  expect(() => f.writeDurably!(new Uint8Array([1]), 0)).toThrow(/replaced/);
  f.close();
});

test("elsewhere than Linux there is no durable write: the WAL keeps write + sync", () => {
  const disk = createFsDisk({ platform: "darwin", libc: null });
  const f = disk.open(join(root, "mac"), "create");
  expect(f.writeDurably).toBeUndefined();
  f.close();
  const r = createFsDisk().open(join(root, "mac"), "read");
  expect(r.writeDurably).toBeUndefined();
  r.close();
});
