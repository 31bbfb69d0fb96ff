// Goal: one process per data directory (issue 12, item 7): the lock of raft/dir_lock.ts refuses
// a second holder with one line naming the directory and the holder's pid, and a lock left by
// a killed process never blocks a start.
// Method: real processes (tests/support/dir_lock_child.ts) under Bun, and under Deno for the
// runtime fallback, holding the lock on a temp directory; SIGKILL to make a stale lock.

import { afterAll, afterEach, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DirLockError, lockDataDir, lockDataDirWithPidFile, lockFileName, pidLockFileName } from "../../../raft/dir_lock.ts";
import { repoRoot } from "../../support/binary.ts";

const child = join(repoRoot, "tests", "support", "dir_lock_child.ts");
const deno = join(repoRoot, "node_modules", ".bin", "deno");
const root = mkdtempSync(join(tmpdir(), "hraftd-dirlock-"));
let dirs = 0;
const running = new Set<ChildProcess>();

function freshDir(): string {
  return join(root, `d${dirs++}`);
}

afterEach(() => {
  for (const p of running) p.kill("SIGKILL");
  running.clear();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Starts a lock holder; resolves with its pid once it holds the lock. */
function holder(dir: string, runtime: "bun" | "deno" = "bun"): Promise<{ proc: ChildProcess; pid: number; method: string }> {
  const argv = runtime === "bun" ? [process.execPath, child, dir] : [deno, "run", "-A", child, dir];
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  running.add(proc);
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    proc.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /^locked (\d+) (\S+)\n/.exec(out);
      if (m !== null) resolve({ proc, pid: Number(m[1]), method: m[2]! });
    });
    proc.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    proc.once("exit", (code) => reject(new Error(`holder exited ${code}: ${err}`)));
  });
}

/** Runs a second locker to completion: its exit code and output. */
function contender(dir: string, runtime: "bun" | "deno" = "bun"): { code: number | null; stdout: string; stderr: string } {
  const argv = runtime === "bun" ? [process.execPath, child, dir] : [deno, "run", "-A", child, dir];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function refusal(dir: string, pid: number): string {
  return `data directory ${dir} is in use by another process (pid ${pid}); stop that node first, or give this one another directory\n`;
}

test("a second process is refused with one line naming the directory and the holder's pid", async () => {
  const dir = freshDir();
  const first = await holder(dir);
  expect(first.method).toBe(process.platform === "win32" ? "LockFileEx" : "flock");
  expect(readFileSync(join(dir, lockFileName), "utf8")).toBe(`${first.pid}\n`);
  const second = contender(dir);
  expect(second).toEqual({ code: 1, stdout: "", stderr: refusal(dir, first.pid) });
  // The holder is unaffected and still holds the lock.
  expect(first.proc.exitCode).toBeNull();
  expect(contender(dir).code).toBe(1);
}, 30_000);

test("the lock of a SIGKILLed process does not block the next start", async () => {
  const dir = freshDir();
  const first = await holder(dir);
  const exited = new Promise((resolve) => first.proc.once("exit", resolve));
  first.proc.kill("SIGKILL");
  await exited;
  // The dead holder's pid is still in the file; it must not matter.
  expect(readFileSync(join(dir, lockFileName), "utf8")).toBe(`${first.pid}\n`);
  const next = await holder(dir);
  expect(next.pid).not.toBe(first.pid);
  expect(readFileSync(join(dir, lockFileName), "utf8")).toBe(`${next.pid}\n`);
}, 30_000);

test("within one process: a second lock is refused until the first is released", () => {
  const dir = freshDir();
  const lock = lockDataDir(dir);
  expect(() => lockDataDir(dir)).toThrow(new DirLockError(refusal(dir, process.pid).trimEnd()));
  lock.release();
  lock.release(); // idempotent
  const again = lockDataDir(dir);
  again.release();
});

test("a data directory that cannot be created gives one line naming it", () => {
  const file = join(root, "a-file");
  writeFileSync(file, "");
  const dir = join(file, "data");
  expect(() => lockDataDir(dir)).toThrow(DirLockError);
  expect(() => lockDataDir(dir)).toThrow(`cannot lock data directory ${dir}: `);
});

test("Bun and Deno exclude each other (Deno uses FsFile.tryLockSync, the same flock)", async () => {
  const dir = freshDir();
  const bunHolder = await holder(dir);
  expect(contender(dir, "deno")).toMatchObject({ code: 1, stderr: refusal(dir, bunHolder.pid) });
  bunHolder.proc.kill("SIGKILL");
  await new Promise((resolve) => bunHolder.proc.once("exit", resolve));
  const denoHolder = await holder(dir, "deno");
  expect(denoHolder.method).toBe("deno");
  expect(contender(dir)).toMatchObject({ code: 1, stderr: refusal(dir, denoHolder.pid) });
}, 120_000);

test("the pid-file fallback refuses a live holder and takes over from a dead one", async () => {
  const dir = freshDir();
  const lock = lockDataDirWithPidFile(dir);
  expect(readFileSync(join(dir, pidLockFileName), "utf8")).toBe(`${process.pid}\n`);
  expect(() => lockDataDirWithPidFile(dir)).toThrow(refusal(dir, process.pid).trimEnd());
  lock.release();

  // A pid that no longer exists: a child that has exited.
  const dead = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
  const deadPid = Number(dead.stdout.trim());
  writeFileSync(join(dir, pidLockFileName), `${deadPid}\n`);
  const taken = lockDataDirWithPidFile(dir);
  expect(readFileSync(join(dir, pidLockFileName), "utf8")).toBe(`${process.pid}\n`);
  taken.release();
});
