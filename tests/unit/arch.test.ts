// Goal: keep raft/core pure and deterministic. Method: scan every .ts file under raft/core
// and fail on an import that leaves the folder or on any mention of a clock, timer, ambient
// randomness, async machinery or runtime global (DESIGN "Raft core"; STYLE test table).
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative, resolve } from "node:path";

const CORE_DIR = resolve(import.meta.dir, "../../raft/core");

/** Words that must not appear in code (comments are stripped first). */
const FORBIDDEN: readonly [string, RegExp][] = [
  ["Date", /\bDate\b/],
  ["Math.random", /\bMath\s*\.\s*random\b/],
  ["setTimeout", /\bsetTimeout\b/],
  ["setInterval", /\bsetInterval\b/],
  ["setImmediate", /\bsetImmediate\b/],
  ["queueMicrotask", /\bqueueMicrotask\b/],
  ["performance", /\bperformance\b/],
  ["process", /\bprocess\b/],
  ["Bun", /\bBun\b/],
  ["Deno", /\bDeno\b/],
  ["crypto", /\bcrypto\b/],
  ["async", /\basync\b/],
  ["await", /\bawait\b/],
  ["Promise", /\bPromise\b/],
  ["require", /\brequire\s*\(/],
  ["globalThis", /\bglobalThis\b/],
  ["WeakRef", /\bWeakRef\b/],
  ["node: module", /["']node:/],
];

function coreFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...coreFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Removes comments and string contents except import specifiers, so prose cannot trip a rule. */
function codeOnly(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/(^|[^:])\/\/.*$/gm, "$1")
    .replace(/`(?:\\[\s\S]|[^`\\])*`/g, "``");
}

function importSpecifiers(source: string): string[] {
  const specs: string[] = [];
  const re = /\b(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\bimport\s*["']([^"']+)["']/g;
  for (const m of source.matchAll(re)) specs.push((m[1] ?? m[2] ?? m[3]) as string);
  return specs;
}

/** Problems found in one file's text (exported for the self-test below). */
function violations(path: string, source: string): string[] {
  const problems: string[] = [];
  const code = codeOnly(source);
  for (const spec of importSpecifiers(code)) {
    const target = normalize(resolve(dirname(path), spec));
    const rel = relative(CORE_DIR, target);
    if (!spec.startsWith(".") || rel.startsWith("..")) problems.push(`imports ${spec}`);
    else if (!spec.endsWith(".ts")) problems.push(`import without .ts: ${spec}`);
  }
  const withoutStrings = code.replace(/"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'/g, '""');
  for (const [name, re] of FORBIDDEN) {
    if (name === "node: module" ? re.test(code) : re.test(withoutStrings)) problems.push(`uses ${name}`);
  }
  return problems;
}

describe("raft/core architecture", () => {
  const files = coreFiles(CORE_DIR);

  test("the core folder exists and has the contract files", () => {
    const names = files.map((f) => relative(CORE_DIR, f));
    for (const n of ["types.ts", "messages.ts", "ready.ts", "api.ts", "mod.ts"]) expect(names).toContain(n);
  });

  for (const file of files) {
    test(`${relative(CORE_DIR, file)} is pure`, () => {
      expect(violations(file, readFileSync(file, "utf8"))).toEqual([]);
    });
  }

  test("the scanner catches what it should (self-test)", () => {
    const p = join(CORE_DIR, "x.ts");
    expect(violations(p, 'import { x } from "../node.ts";')).toEqual(["imports ../node.ts"]);
    expect(violations(p, 'import { readFileSync } from "node:fs";')).toContain("imports node:fs");
    expect(violations(p, "const t = Date.now();")).toEqual(["uses Date"]);
    expect(violations(p, "const r = Math.random();")).toEqual(["uses Math.random"]);
    expect(violations(p, "async function f() { await g(); }")).toEqual(["uses async", "uses await"]);
    expect(violations(p, "new Promise(() => {});")).toEqual(["uses Promise"]);
    expect(violations(p, "// Date.now() in a comment is fine\nconst a = 1;")).toEqual([]);
    expect(violations(p, 'import type { A } from "./types.ts";')).toEqual([]);
    expect(violations(p, 'import { a } from "./types";')).toEqual(["import without .ts: ./types"]);
  });
});
