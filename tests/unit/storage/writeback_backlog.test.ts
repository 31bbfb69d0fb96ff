// Goal (issue 18): the figure that sends syncs off the loop while other writes fill the page
// cache (raft/loop_sync.ts) is read right from /proc/meminfo, and anything unexpected there
// reads as no backlog (the early warning is lost, no sync is). Method: the production reader
// on files the test writes in meminfo's format, then on the real file where there is one.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFsDisk } from "../../../raft/disk.ts";
import { backlogBytesOf, writebackBacklogReader } from "../../../raft/writeback_backlog.ts";

const dir = mkdtempSync(join(tmpdir(), "backlog-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A meminfo text with the given Dirty and Writeback (kB) among its other lines. */
function meminfo(dirtyKib: number | string, writebackKib: number | string): string {
  return `MemTotal:       24634528 kB\nMemFree:        20000000 kB\nCached:          1000000 kB\n` +
    `Dirty:          ${String(dirtyKib).padStart(8)} kB\nWriteback:      ${String(writebackKib).padStart(8)} kB\n` +
    `AnonPages:       500000 kB\nWritebackTmp:          7 kB\n`;
}

test("the backlog is Dirty plus Writeback, in bytes, read again at every call", () => {
  const path = join(dir, "meminfo");
  writeFileSync(path, meminfo(300_000, 12_345));
  const read = writebackBacklogReader("linux", path)!;
  expect(read()).toBe((300_000 + 12_345) * 1024);
  writeFileSync(path, meminfo(60, 0)); // same size class: read afresh from its start
  expect(read()).toBe(60 * 1024);
});

test("a text without both figures, or with a malformed one, reads as no backlog", () => {
  expect(backlogBytesOf(meminfo(1_000, 2_000))).toBe(3_000 * 1024);
  expect(backlogBytesOf("MemTotal: 1 kB\nDirty: 5 kB\n")).toBe(0);
  expect(backlogBytesOf(meminfo("x", 2_000))).toBe(0);
  expect(backlogBytesOf(meminfo(-5, 2_000))).toBe(0);
  expect(backlogBytesOf("")).toBe(0);
});

test("no reader off Linux; a file that cannot be read reads as no backlog", () => {
  expect(writebackBacklogReader("darwin")).toBeUndefined();
  expect(writebackBacklogReader("win32")).toBeUndefined();
  const missing = writebackBacklogReader("linux", join(dir, "absent"))!;
  expect(missing()).toBe(0);
  expect(missing()).toBe(0);
});

test.if(process.platform === "linux")("the real disk reads this machine's backlog", () => {
  const disk = createFsDisk();
  const bytes = disk.writebackBacklogBytes!();
  expect(Number.isSafeInteger(bytes)).toBe(true);
  expect(bytes).toBeGreaterThanOrEqual(0);
  expect(bytes % 1024).toBe(0);
});
