// Goal: every sync of the real Disk reaches the media on its OS (issue 12, item 8): fdatasync
// for files and fsync for directories on Linux; fcntl(F_FULLFSYNC) for both on macOS under
// Bun, since Bun's fdatasync/fsync there are libc's, which leave the data in the drive's cache.
// Method: on this Linux machine, strace a child that writes and syncs through createFsDisk and
// read which system calls it made; for macOS, the same Disk built with platform "darwin" and a
// C library whose fcntl records its calls (the selection and fallbacks, on real files).

import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFsDisk, fsSyncMethod, syncerFor } from "../../../raft/disk.ts";
import { F_FULLFSYNC } from "../../../raft/native.ts";
import { repoRoot } from "../../support/binary.ts";

const root = mkdtempSync(join(tmpdir(), "hraftd-disksync-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A C library whose fcntl records (fd, command) and answers with `result`/`errno`. */
function recordingLibc(result = 0, errno = 0) {
  const calls: [number, number][] = [];
  return {
    calls,
    libc: {
      fcntlNoArg: (fd: number, command: number) => {
        calls.push([fd, command]);
        return result;
      },
      errno: () => errno,
    },
  };
}

const haveStrace = process.platform === "linux" && spawnSync("strace", ["-V"]).status === 0;

test.skipIf(!haveStrace)("on Linux a file sync is fdatasync (both forms) and a directory sync is fsync", () => {
  const dir = join(root, "strace");
  const script = join(root, "sync_child.ts");
  writeFileSync(
    script,
    `import { createFsDisk } from ${JSON.stringify(join(repoRoot, "raft", "disk.ts"))};
const disk = createFsDisk();
disk.mkdirp(${JSON.stringify(dir)});
const f = disk.open(${JSON.stringify(join(dir, "f"))}, "write");
f.write(new Uint8Array([1, 2, 3]), 0);
f.sync();
f.syncAsync((e) => {
  if (e) throw e;
  disk.syncDir(${JSON.stringify(dir)});
  disk.syncDirAsync(${JSON.stringify(dir)}, (e2) => { if (e2) throw e2; console.log("done"); });
});
`,
  );
  const trace = join(root, "trace.txt");
  const r = spawnSync("strace", ["-f", "-qq", "-e", "trace=fdatasync,fsync,fcntl", "-o", trace, process.execPath, script], {
    encoding: "utf8",
    timeout: 30_000,
  });
  expect(r.stdout).toBe("done\n");
  const calls = readFileSync(trace, "utf8").split("\n").map((l) => /\b(fdatasync|fsync|fcntl)\((\d+)(, [A-Z_0-9]+)?/.exec(l))
    .filter((m) => m !== null).map((m) => `${m[1]}${m[3] ?? ""}`)
    .filter((c) => c === "fdatasync" || c === "fsync" || c.includes("FULLFSYNC") || c.includes("0x33"));
  // mkdirp syncs parents (fsync), then: file sync, file syncAsync, dir sync, dir syncAsync.
  expect(calls.slice(-4)).toEqual(["fdatasync", "fdatasync", "fsync", "fsync"]);
  expect(fsSyncMethod()).toBe("fdatasync");
}, 60_000);

test("on macOS under Bun, files and directories are synced with fcntl(F_FULLFSYNC)", async () => {
  const { calls, libc } = recordingLibc();
  const disk = createFsDisk({ platform: "darwin", libc });
  const dir = join(root, "darwin");
  disk.mkdirp(dir);
  calls.length = 0;
  const f = disk.open(join(dir, "f"), "write");
  f.write(new Uint8Array([1, 2, 3]), 0);
  f.sync();
  await new Promise<void>((resolve, reject) => f.syncAsync!((e) => (e === null ? resolve() : reject(e))));
  disk.syncDir(dir);
  await new Promise<void>((resolve, reject) => disk.syncDirAsync!(dir, (e) => (e === null ? resolve() : reject(e))));
  f.close();
  expect(calls.length).toBe(4);
  for (const [fd, command] of calls) {
    expect(command).toBe(F_FULLFSYNC);
    expect(fd).toBeGreaterThan(2);
  }
  expect(syncerFor("darwin", libc).method).toBe("F_FULLFSYNC");
});

test("F_FULLFSYNC unsupported by the file system (ENOTSUP) falls back to fsync; a real failure is an error", async () => {
  const unsupported = recordingLibc(-1, 45);
  const disk = createFsDisk({ platform: "darwin", libc: unsupported.libc });
  const f = disk.open(join(root, "fallback"), "write");
  f.write(new Uint8Array([7]), 0);
  f.sync(); // fcntl said ENOTSUP: the real fsync ran and succeeded
  expect(unsupported.calls.length).toBe(1);
  f.close();

  const failing = recordingLibc(-1, 5); // EIO
  const broken = createFsDisk({ platform: "darwin", libc: failing.libc });
  const g = broken.open(join(root, "eio"), "write");
  expect(() => g.sync()).toThrow("fcntl(F_FULLFSYNC) failed");
  const asyncError = await new Promise<Error | null>((resolve) => g.syncAsync!(resolve));
  expect(asyncError?.message).toContain("F_FULLFSYNC");
  g.close();
});

test("elsewhere, and on macOS without bun:ffi (Deno, whose fdatasync is F_FULLFSYNC there), node:fs's fdatasync is used", () => {
  const { libc } = recordingLibc();
  expect(syncerFor("linux", libc).method).toBe("fdatasync");
  expect(syncerFor("win32", libc).method).toBe("fdatasync");
  expect(syncerFor("darwin", null).method).toBe("fdatasync");
});
