// Test helper: runs Debian's promtool (package `prometheus`) if installed. Tests that need it
// print why they skip when it is missing; CI installs it (.ci/run). Not a test itself.

import { spawnSync } from "node:child_process";

/** The promtool on PATH, or null. */
export const promtool: string | null = (() => {
  const which = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" });
  const path = which.stdout.trim();
  return which.status === 0 && path !== "" ? path : null;
})();

if (promtool === null) console.log("promtool not installed (Debian package `prometheus`): promtool checks skipped");

/** Runs promtool with `args` and `input` on stdin; its exit status and output. */
export function runPromtool(args: readonly string[], input?: string): { status: number | null; output: string } {
  const r = spawnSync(promtool!, args, { encoding: "utf8", ...(input === undefined ? {} : { input }), timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
