// Goal: the core's scenarios as transcripts (tests/unit/raft/transcripts/*.txt): each
// command's output (Ready contents, messages as they arrive) must equal the checked-in
// expectation. REWRITE=1 writes the actual output into the files instead; review the diff.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { firstMismatch, parseTranscript, renderTranscript } from "./transcript_file.ts";
import { runTranscript } from "./transcript_runner.ts";

const dir = join(import.meta.dir, "transcripts");
const names = readdirSync(dir).filter((f) => f.endsWith(".txt")).sort();

describe("core transcripts", () => {
  for (const name of names) {
    test(name, () => {
      const path = join(dir, name);
      const text = readFileSync(path, "utf8");
      const t = parseTranscript(text);
      // Each transcript opens with a comment saying what it shows.
      expect(t.blocks[0]?.pre.some((l) => l.startsWith("# "))).toBe(true);
      const outputs = runTranscript(t);
      if (process.env.REWRITE === "1") {
        writeFileSync(path, renderTranscript(t, outputs));
        return;
      }
      const mismatch = firstMismatch(name, t, outputs);
      if (mismatch !== null) throw new Error(mismatch);
      // Parsing and rendering lose nothing: an accepted file is written back unchanged.
      expect(renderTranscript(t, outputs)).toBe(text);
    });
  }

  test("a changed expectation is reported with its file, line and command", () => {
    const name = names[0] as string;
    const t = parseTranscript(readFileSync(join(dir, name), "utf8"));
    const outputs = runTranscript(t);
    const at = t.blocks.findIndex((b) => b.expected.length > 1);
    const block = t.blocks[at];
    if (block === undefined) throw new Error("no block with output");
    const changed = { ...t, blocks: t.blocks.map((b, i) => (i === at ? { ...b, expected: [...b.expected.slice(1), "x"] } : b)) };
    expect(firstMismatch(name, t, outputs)).toBeNull();
    expect(firstMismatch(name, changed, outputs)).toStartWith(`${name}:${block.line}: ${block.command}\n`);
  });
});
