// The import graph of raft/core, read from each file's import and export-from statements.
// An edge is "type" when only types cross it (`import type`, `export type`, or every name
// marked `type`); otherwise "value". Used by core_imports.test.ts; run this file directly
// (`bun tests/unit/raft/import_graph.ts`) to print the graph and its cycles.

import { readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";

export const CORE_DIR = resolve(import.meta.dir, "../../../raft/core");

export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: "value" | "type";
}

/** Strips comments and template-string bodies so prose cannot look like an import. */
function codeOnly(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/(^|[^:])\/\/.*$/gm, "$1")
    .replace(/`(?:\\[\s\S]|[^`\\])*`/g, "``");
}

/** True if the clause between `import`/`export` and `from` brings in only types. */
function isTypeOnly(clause: string): boolean {
  const c = clause.trim();
  if (/^type\b/.test(c)) return true;
  const braces = /^\{([\s\S]*)\}$/.exec(c);
  if (braces === null) return false; // default or namespace import: a value
  const names = (braces[1] as string).split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  return names.length > 0 && names.every((n) => /^type\b/.test(n));
}

/** Edges out of one file: `{ specifier, typeOnly }` for every static import or re-export. */
export function importsOf(source: string): { readonly spec: string; readonly typeOnly: boolean }[] {
  const out: { spec: string; typeOnly: boolean }[] = [];
  const code = codeOnly(source);
  const re = /\b(import|export)\b([^;"']*?)\bfrom\s*["']([^"']+)["']|\bimport\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of code.matchAll(re)) {
    if (m[3] !== undefined) out.push({ spec: m[3], typeOnly: isTypeOnly(m[2] as string) });
    else out.push({ spec: (m[4] ?? m[5]) as string, typeOnly: false });
  }
  return out;
}

/** Every edge between files of raft/core (by file name), sorted. */
export function coreGraph(dir = CORE_DIR): ImportEdge[] {
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
  const edges: ImportEdge[] = [];
  for (const f of files) {
    const byTarget = new Map<string, "value" | "type">();
    for (const { spec, typeOnly } of importsOf(readFileSync(join(dir, f), "utf8"))) {
      if (!spec.startsWith("./")) continue;
      const to = basename(spec);
      // Two statements to the same file: the edge is a value edge if either is.
      if (byTarget.get(to) !== "value") byTarget.set(to, typeOnly ? "type" : "value");
    }
    for (const [to, kind] of [...byTarget].sort()) edges.push({ from: f, to, kind });
  }
  return edges;
}

/** Every elementary cycle (each listed once, starting at its smallest file name). */
export function cycles(edges: readonly ImportEdge[], kinds: ReadonlySet<string> = new Set(["value", "type"])): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!kinds.has(e.kind)) continue;
    const list = next.get(e.from);
    if (list === undefined) next.set(e.from, [e.to]);
    else list.push(e.to);
  }
  const nodes = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort();
  const found: string[][] = [];
  // Cycles through `start` using only nodes ≥ start: each cycle is found from its least node.
  for (const start of nodes) {
    const path = [start];
    const onPath = new Set(path);
    const walk = (at: string): void => {
      for (const to of next.get(at) ?? []) {
        if (to === start) found.push([...path]);
        else if (to > start && !onPath.has(to)) {
          path.push(to);
          onPath.add(to);
          walk(to);
          onPath.delete(to);
          path.pop();
        }
      }
    };
    walk(start);
  }
  return found;
}

/** The graph as text: one line per file with its value and type imports, then the cycles. */
export function describeGraph(edges: readonly ImportEdge[]): string {
  const lines: string[] = [];
  const files = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort();
  for (const f of files) {
    const out = edges.filter((e) => e.from === f);
    const values = out.filter((e) => e.kind === "value").map((e) => e.to.replace(/\.ts$/, ""));
    const types = out.filter((e) => e.kind === "type").map((e) => e.to.replace(/\.ts$/, ""));
    lines.push(`${f.replace(/\.ts$/, "").padEnd(16)} value: ${values.join(", ") || "-"}   type: ${types.join(", ") || "-"}`);
  }
  const all = cycles(edges);
  const valueOnly = cycles(edges, new Set(["value"]));
  lines.push("", `cycles (value and type edges): ${all.length}`);
  for (const c of all) lines.push(`  ${[...c, c[0]].map((f) => (f as string).replace(/\.ts$/, "")).join(" → ")}`);
  lines.push(`cycles of value edges only: ${valueOnly.length}`);
  for (const c of valueOnly) lines.push(`  ${[...c, c[0]].map((f) => (f as string).replace(/\.ts$/, "")).join(" → ")}`);
  return lines.join("\n");
}

if (import.meta.main) console.log(describeGraph(coreGraph()));
