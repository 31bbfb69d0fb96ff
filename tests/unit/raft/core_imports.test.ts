// Goal: raft/core stays a layered graph. Method: parse every import and export-from
// statement of raft/core (import_graph.ts) and fail on any cycle, through value or
// type-only imports alike, and on a rule file that imports core.ts or another rule file
// (they see the server only as the RaftState type; core.ts chains one rule into the next).
import { describe, expect, test } from "bun:test";
import { coreGraph, cycles, describeGraph, type ImportEdge, importsOf } from "./import_graph.ts";

/** The files named after the paper's rules. */
const RULE_FILES = ["election.ts", "membership.ts", "read_index.ts", "replication.ts", "snapshot.ts", "transfer.ts"];

/** What a rule file may import: the state type, the data structures and the contract types. */
const RULE_DEPS = new Set([
  "state.ts", "log.ts", "progress.ts", "quorum.ts", "read_queue.ts", "membership_state.ts",
  "types.ts", "messages.ts", "api.ts", "assert.ts",
]);

describe("raft/core import graph", () => {
  const edges = coreGraph();

  test("no file of raft/core is part of an import cycle (value or type imports)", () => {
    const found = cycles(edges).map((c) => [...c, c[0]].join(" → "));
    if (found.length > 0) console.log(describeGraph(edges));
    expect(found).toEqual([]);
  });

  test("each rule file imports only the state type, the data structures and contract types", () => {
    const bad = edges.filter((e) => RULE_FILES.includes(e.from) && !RULE_DEPS.has(e.to)).map((e) => `${e.from} → ${e.to}`);
    expect(bad).toEqual([]);
  });

  test("the graph was read: core.ts imports every rule file", () => {
    const fromCore = new Set(edges.filter((e) => e.from === "core.ts").map((e) => e.to));
    for (const f of RULE_FILES) expect(fromCore.has(f)).toBe(true);
  });
});

describe("import_graph self-test", () => {
  test("type-only and value imports are told apart", () => {
    const src = [
      'import type { A } from "./a.ts";',
      'import { type B, type C } from "./b.ts";',
      'import { type D, e } from "./c.ts";',
      'import * as F from "./d.ts";',
      'export type * from "./e.ts";',
      'export { g } from "./f.ts";',
      "// import { h } from \"./g.ts\";",
      'import {\n  type I,\n  j,\n} from "./h.ts";',
    ].join("\n");
    expect(importsOf(src)).toEqual([
      { spec: "./a.ts", typeOnly: true },
      { spec: "./b.ts", typeOnly: true },
      { spec: "./c.ts", typeOnly: false },
      { spec: "./d.ts", typeOnly: false },
      { spec: "./e.ts", typeOnly: true },
      { spec: "./f.ts", typeOnly: false },
      { spec: "./h.ts", typeOnly: false },
    ]);
  });

  test("cycles through type edges are found, each once", () => {
    const g: ImportEdge[] = [
      { from: "a.ts", to: "b.ts", kind: "value" },
      { from: "b.ts", to: "a.ts", kind: "type" },
      { from: "b.ts", to: "c.ts", kind: "value" },
      { from: "c.ts", to: "b.ts", kind: "value" },
      { from: "c.ts", to: "d.ts", kind: "value" },
    ];
    expect(cycles(g)).toEqual([["a.ts", "b.ts"], ["b.ts", "c.ts"]]);
    expect(cycles(g, new Set(["value"]))).toEqual([["b.ts", "c.ts"]]);
  });
});
