// Goal: README's `-snapshot-threshold` / `-snapshot-interval` example (section "What survives a
// restart, and what a node refuses") does what it says on the compiled binary: an -inmem node
// with an interval of 0 snapshots after 100 entries, and once restarted it has the keys written
// before that snapshot and not those after it.
// Method: the `inmem-snapshots` block runs with bash in a temporary HOME, `npx bun main.ts`
// replaced by the binary and the README's ports by free ones when they are taken; its output
// (the snapshot's directory name, then the two reads) is checked.

import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../support/binary.ts";
import { freePort, portsFree } from "../support/cluster.ts";
import { readmeRunBlocks } from "../support/readme_blocks.ts";

const work = mkdtempSync(join(tmpdir(), "hraftd-readme-snapshots-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("README: an -inmem node keeps what its last snapshot holds, and only that", async () => {
  const binary = ensureBinary();
  const blocks = readmeRunBlocks("### What survives a restart, and what a node refuses");
  expect([...blocks.keys()]).toEqual(["inmem-snapshots"]);
  let script = blocks.get("inmem-snapshots")!.replaceAll("npx bun main.ts", binary);
  if (!(await portsFree([11000, 12000]))) {
    script = script.replaceAll(":11000", `:${await freePort()}`).replaceAll(":12000", `:${await freePort()}`);
  }
  // A node that never becomes ready would hold the block's wait loop: the timeout ends it.
  const r = spawnSync("bash", ["-eu", "-c", script], { cwd: work, env: { ...process.env, HOME: work }, encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  const snapshot = /^(\d+)-(\d+)$/m.exec(r.stdout);
  expect(snapshot, r.stdout).not.toBeNull();
  // Taken once 100 entries were applied (the writes, a configuration entry and a leader's no-op).
  expect(Number(snapshot![2])).toBeGreaterThanOrEqual(100);
  expect(Number(snapshot![2])).toBeLessThan(150);
  expect(r.stdout.match(/^\d+-\d+$/gm)).toHaveLength(1);
  expect(r.stdout).toContain('{"k50":"v50"}');
  expect(r.stdout).toContain('key \\"k150\\" not found');
}, 90_000);
