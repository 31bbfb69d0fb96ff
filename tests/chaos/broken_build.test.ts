// Goal: show the chaos checks have teeth: a node built to answer linearizable reads from its
// local state (the HRAFTD_UNSAFE_LOCAL_READS define, which store/store.ts honours and release
// builds never set) must fail a chaos run.
// Method: compile that binary into a temporary file, run a short partition-heavy chaos run
// with a fixed seed, and require a non-linearizable history (stale reads from followers and
// from nodes cut off from the majority). Skips, saying why, without root or `ip netns`.

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../support/binary.ts";
import { netnsUnavailableReason } from "../support/netns.ts";
import { formatReport, runChaos } from "./run.ts";

const unavailable = netnsUnavailableReason();
if (unavailable !== null) console.log(`chaos (broken build): skipping: ${unavailable}`);

const buildDir = mkdtempSync(join(tmpdir(), "hraftd-broken-"));
afterAll(() => rmSync(buildDir, { recursive: true, force: true }));

/** Compiles main.ts with linearizable reads served locally; throws with the build output on failure. */
function buildBrokenBinary(): string {
  const out = join(buildDir, "hraftd-unsafe-local-reads");
  const args = ["build", "--compile", "--minify", "--format=esm", "--external", "cbor-extract",
    "--define", "HRAFTD_UNSAFE_LOCAL_READS=true", "--outfile", out, join(repoRoot, "main.ts")];
  const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`broken build failed:\n${r.stdout}${r.stderr}`);
  return out;
}

describe.skipIf(unavailable !== null)("a deliberately broken build", () => {
  test("serving linearizable reads from local state is caught", async () => {
    const binary = buildBrokenBinary();
    const report = await runChaos({ seed: 20240601, binary, durationMs: 20_000, kinds: ["partition", "pause"], log: () => {} });
    console.log(formatReport(report, { failureExpected: "a deliberately broken build; the checks must catch it, so this test passes" }));
    expect(report.opsTotal).toBeGreaterThan(100);
    expect(report.anomalies.map((a) => a.kind)).toContain("nonLinearizable");
  }, 150_000);
});
