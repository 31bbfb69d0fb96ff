// The project's test command (`npm test`): builds this machine's binary if it is missing or
// stale, runs `bun test` over tests/ with its output streamed, and ends with one line
// `N passed, N failed[, N skipped]` counted from that run. Exit code non-zero on any failure.

import { spawn } from "node:child_process";
import { ensureBinary, isBinaryStale, repoRoot } from "../tests/support/binary.ts";

/** Per-test timeout on the command line (bunfig's may not be read); TEST_TIMEOUT_MS overrides. */
const testTimeoutMsDefault = 60_000;

/**
 * Counts from bun test's closing summary (" 12 pass", " 0 fail", " 1 skip", " 2 todo", and
 * " 1 error" for a file that failed to load or an error outside any test, counted as failed).
 */
export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** Reads the last summary bun test printed; null when it printed none. */
export function parseSummary(output: string): Counts | null {
  // Colours are off without a terminal, but strip them in case FORCE_COLOR is set.
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const found: Record<string, number> = {};
  for (const line of plain.split("\n")) {
    const m = /^\s*(\d+) (pass|fail|skip|todo|errors?)\s*$/.exec(line);
    if (m !== null) found[(m[2] as string).replace(/^errors$/, "error")] = Number(m[1]);
  }
  if (found["pass"] === undefined && found["fail"] === undefined) return null;
  return {
    passed: found["pass"] ?? 0,
    failed: (found["fail"] ?? 0) + (found["error"] ?? 0),
    skipped: (found["skip"] ?? 0) + (found["todo"] ?? 0),
  };
}

/** The closing line; ", N skipped" only when something was skipped. */
export function summaryLine(c: Counts): string {
  return `${c.passed} passed, ${c.failed} failed${c.skipped > 0 ? `, ${c.skipped} skipped` : ""}`;
}

/** Runs bun test, passing its output through as it comes, and resolves with all of it. */
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

async function main(): Promise<number> {
  let buildFailures = 0;
  try {
    if (isBinaryStale()) console.log("building this machine's binary (missing or older than its sources)");
    ensureBinary();
  } catch (error) {
    // Count it and go on: unit and simulation tests do not need the binary.
    console.error(String(error));
    buildFailures = 1;
  }
  const timeoutMs = Number(process.env["TEST_TIMEOUT_MS"] ?? testTimeoutMsDefault);
  const paths = process.argv.slice(2);
  const args = ["--timeout", String(timeoutMs), ...(paths.length > 0 ? paths : ["./tests/"])];
  const run = await runBunTest(args);
  const counts = parseSummary(run.output) ?? { passed: 0, failed: 0, skipped: 0 };
  counts.failed += buildFailures;
  // A crash or an error outside any test exits non-zero without a failed test: count it.
  if (run.code !== 0 && counts.failed === 0) {
    console.error(`bun test exited with code ${run.code}`);
    counts.failed = 1;
  }
  const ranNothing = counts.passed + counts.failed === 0;
  if (ranNothing) console.error("no test ran");
  // Flush stderr first so the summary stays the very last line.
  await new Promise<void>((resolve) => process.stderr.write("", () => resolve()));
  console.log(summaryLine(counts));
  return counts.failed > 0 || ranNothing ? 1 : 0;
}

if (import.meta.main) process.exit(await main());
