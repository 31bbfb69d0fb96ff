// Goal: every source of time and scheduling goes through the seams (raft/host.ts: Clock,
// Timers, Scheduler, Ticker), so the simulator runs the production node in simulated time
// (DESIGN "One house, assembled once"). Method: scan the shipped source (everything but
// tests/, bench/, scripts/) with comments stripped, and fail on a direct use of the runtime's
// clock or timers outside the real implementations (raft/real_time.ts) and main.ts.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const skipDirs = new Set(["node_modules", "tests", "bench", "scripts", "dist", ".git"]);
/** Where the real clock and timers live, and the entry point (signals, exit). */
const allowed = new Set(["raft/real_time.ts", "main.ts"]);

/**
 * Direct uses: a call of the global, not a method of a seam object (`timers.setTimeout(` is
 * fine) nor a method's declaration (`setTimeout(fn: () => void, …)` in an interface).
 */
const forbidden: readonly [string, RegExp][] = [
  ["setTimeout", /(?<![.\w$])setTimeout\s*\((?!\s*\w+\s*:)/],
  ["setInterval", /(?<![.\w$])setInterval\s*\((?!\s*\w+\s*:)/],
  ["setImmediate", /(?<![.\w$])setImmediate\s*\((?!\s*\w+\s*:)/],
  ["queueMicrotask", /(?<![.\w$])queueMicrotask\s*\((?!\s*\w+\s*:)/],
  ["performance.now", /\bperformance\s*\.\s*now\b/],
  ["Date.now", /\bDate\s*\.\s*now\b/],
  ["new Date", /\bnew\s+Date\b/],
];

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!skipDirs.has(e.name) && !e.name.startsWith(".")) sources(join(dir, e.name), out);
    } else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(join(dir, e.name));
  }
  return out;
}

function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

test("no clock or timer outside the seams' real implementations and main.ts", () => {
  const offenders: string[] = [];
  for (const path of sources(root)) {
    const rel = relative(root, path).replaceAll("\\", "/");
    if (allowed.has(rel)) continue;
    const code = stripComments(readFileSync(path, "utf8"));
    for (const [name, re] of forbidden) if (re.test(code)) offenders.push(`${rel}: ${name}`);
  }
  expect(offenders).toEqual([]);
});

test("the scan sees a direct use (the check can fail)", () => {
  const code = stripComments("const t = setTimeout(f, 1); // setImmediate(x)\nx.setTimeout(g, 2);\n  setInterval(fn: () => void): void;");
  expect(forbidden.filter(([, re]) => re.test(code)).map(([n]) => n)).toEqual(["setTimeout"]);
});
