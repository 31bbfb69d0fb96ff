// Locates the compiled hraftd executables for end-to-end tests, and builds the one for this
// machine (dist/hraftd-linux-x64 here) when it is missing or older than its sources.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { outputPath, repoRoot, type Target, targets } from "../../scripts/build.ts";

export { repoRoot };
export type { Target };

/** The release target this machine runs natively (linux-x64 on the project's machines). */
export function hostTarget(): Target {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const name = `${os}-${process.arch}`;
  if (!(targets as readonly string[]).includes(name)) throw new Error(`no release target for ${name}`);
  return name as Target;
}

/** Path of the executable for `target` (it may not exist yet). */
export function binaryPath(target: Target = hostTarget()): string {
  return outputPath(target);
}

/**
 * Directories and files whose changes make a built binary stale: every top-level .ts file (the
 * entry and what it imports beside it), the source trees, the lock files, and scripts/build.ts,
 * whose flags change what the binary does (autoloading, for one).
 */
function sourceRoots(): string[] {
  const topLevel = readdirSync(repoRoot).filter((name) => name.endsWith(".ts"));
  return [...topLevel, "raft", "store", "http", "security", "metrics", "view", "ui", "scripts/build.ts", "package.json", "package-lock.json"];
}

/** Files walked per directory tree before giving up: a limit on everything. */
const sourceFilesMax = 10_000;

/** Newest modification time (ms) among the sources that go into the binary. */
export function newestSourceMtimeMs(): number {
  let newest = 0;
  let seen = 0;
  const visit = (path: string): void => {
    if (!existsSync(path) || seen >= sourceFilesMax) return;
    const st = statSync(path);
    seen++;
    if (st.isDirectory()) {
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (st.mtimeMs > newest) {
      newest = st.mtimeMs;
    }
  };
  for (const root of sourceRoots()) visit(join(repoRoot, root));
  return newest;
}

/** True when the binary for `target` is missing or older than some source file. */
export function isBinaryStale(target: Target = hostTarget()): boolean {
  const path = binaryPath(target);
  if (!existsSync(path)) return true;
  return statSync(path).mtimeMs < newestSourceMtimeMs();
}

/**
 * Returns the path of this machine's binary (dist/hraftd-linux-x64 here), building it first
 * if it is missing or stale. Throws with the build's output if the build fails; a build
 * takes a few seconds.
 */
export function ensureBinary(target: Target = hostTarget()): string {
  if (isBinaryStale(target)) {
    const run = spawnSync(process.execPath, [join(repoRoot, "scripts", "build.ts"), `--target=${target}`], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 600_000,
    });
    if (run.status !== 0) {
      throw new Error(`building ${target} failed:\n${run.stdout ?? ""}${run.stderr ?? ""}`);
    }
  }
  return binaryPath(target);
}
