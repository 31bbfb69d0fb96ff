// The project's test command (`npm test`): builds this machine's binary if it is missing or
// stale, runs `bun test` on each test file under tests/ (one process per file, output
// streamed), and ends with one line `N passed, N failed[, N skipped]` counted from those runs.

import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ensureBinary, isBinaryStale, repoRoot } from "../tests/support/binary.ts";

/** Per-test timeout on the command line (bunfig's may not be read); TEST_TIMEOUT_MS overrides. */
const testTimeoutMsDefault = 60_000;
/** Test files collected before giving up: a limit on everything. */
const testFilesMax = 5_000;

/** Passed, failed and skipped tests (todo counts as skipped). */
export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

const ansi = /\x1b\[[0-9;]*m/g;

/**
 * Reads bun test's closing summary (" 12 pass", " 0 fail", " 1 skip", " 2 todo"; an error
 * outside any test shows in "fail" too). When there is none (bun crashed), counts the
 * per-test "(pass)"/"(fail)"/"(skip)" lines printed before the crash.
 */
export function parseSummary(output: string): Counts {
  const lines = output.replace(ansi, "").split("\n");
  const found: Record<string, number> = {};
  for (const line of lines) {
    const m = /^\s*(\d+) (pass|fail|skip|todo)\s*$/.exec(line);
    if (m !== null) found[m[2] as string] = Number(m[1]);
  }
  if (found["pass"] !== undefined || found["fail"] !== undefined) {
    return {
      passed: found["pass"] ?? 0,
      failed: found["fail"] ?? 0,
      skipped: (found["skip"] ?? 0) + (found["todo"] ?? 0),
    };
  }
  const counts: Counts = { passed: 0, failed: 0, skipped: 0 };
  for (const line of lines) {
    // Bun repeats failed and skipped tests in a recap after "N tests failed:"; stop there.
    if (/^\d+ tests? (failed|skipped|todo)/.test(line)) break;
    if (line.startsWith("(pass)")) counts.passed++;
    else if (line.startsWith("(fail)")) counts.failed++;
    else if (line.startsWith("(skip)") || line.startsWith("(todo)")) counts.skipped++;
  }
  return counts;
}

/** The closing line; ", N skipped" only when something was skipped. */
export function summaryLine(c: Counts): string {
  return `${c.passed} passed, ${c.failed} failed${c.skipped > 0 ? `, ${c.skipped} skipped` : ""}`;
}

/** Every *.test.ts under `dir`, sorted, as paths relative to the repository root. */
function findTestFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    if (out.length >= testFilesMax) break;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTestFiles(path, out);
    else if (name.endsWith(".test.ts")) out.push(`./${relative(repoRoot, path)}`);
  }
  return out;
}

/** Runs bun test on some paths, passing its output through as it comes. */
function runBunTest(args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["test", ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: process.env,
    });
    const chunks: string[] = [];
    child.stdout.on("data", (b: Buffer) => {
      process.stdout.write(b);
      chunks.push(b.toString("utf8"));
    });
    child.stderr.on("data", (b: Buffer) => {
      process.stderr.write(b);
      chunks.push(b.toString("utf8"));
    });
    child.on("close", (code, signal) => {
      if (signal !== null) chunks.push(`\nbun test ended by ${signal}\n`);
      resolve({ code: code ?? 1, output: chunks.join("") });
    });
  });
}

/** Runs one group of test paths and returns its counts, a crash counted as one failure. */
async function runGroup(paths: readonly string[], timeoutMs: number): Promise<Counts> {
  const run = await runBunTest(["--timeout", String(timeoutMs), ...paths]);
  const counts = parseSummary(run.output);
  // A crash or an error outside any test exits non-zero without a failed test: count it.
  if (run.code !== 0 && counts.failed === 0) {
    console.error(`bun test ${paths.join(" ")} exited with code ${run.code}`);
    counts.failed = 1;
  }
  return counts;
}

async function main(): Promise<number> {
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  try {
    if (isBinaryStale()) console.log("building this machine's binary (missing or older than its sources)");
    ensureBinary();
  } catch (error) {
    // Count it and go on: unit and simulation tests do not need the binary.
    console.error(String(error));
    total.failed++;
  }
  const timeoutMs = Number(process.env["TEST_TIMEOUT_MS"] ?? testTimeoutMsDefault);
  const given = process.argv.slice(2);
  // One process per file, so a crash of the runtime in one file costs only that file.
  const groups = given.length > 0 ? [given] : findTestFiles(join(repoRoot, "tests")).map((f) => [f]);
  const failedGroups: string[] = [];
  for (const group of groups) {
    const counts = await runGroup(group, timeoutMs);
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
    if (counts.failed > 0) failedGroups.push(`${group.join(" ")} (${counts.failed} failed)`);
  }
  const ranNothing = total.passed + total.failed === 0;
  if (ranNothing) console.error("no test ran");
  if (failedGroups.length > 0) console.error(`\nfailures in:\n  ${failedGroups.join("\n  ")}`);
  // Flush stderr first so the summary stays the very last line.
  await new Promise<void>((resolve) => process.stderr.write("", () => resolve()));
  console.log(summaryLine(total));
  return total.failed > 0 || ranNothing ? 1 : 0;
}

if (import.meta.main) process.exit(await main());
