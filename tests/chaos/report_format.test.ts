// Goal: a green run of the broken-build test must not alarm its reader: the anomalies it
// finds on purpose are reported as expected, never as "FAILED". A real run with anomalies
// still says FAILED with its seed and how to replay it.
// Method: format one report with anomalies both ways (no namespaces needed).

import { expect, test } from "bun:test";
import { type ChaosReport, formatReport } from "./run.ts";

const report: ChaosReport = {
  seed: 42, durationMs: 20_000, secure: false, kinds: ["partition"], binary: "/tmp/hraftd-unsafe-local-reads",
  runDir: "/tmp/run", historyPath: "/tmp/run/history.jsonl", opsByOutcome: { "read:ok": 3 }, opsTotal: 3,
  nemesisEvents: { partition: 1 }, anomalies: [{ kind: "nonLinearizable", message: "key k: stale read" }],
  verdict: null, elapsedMs: 1000,
};

test("anomalies a test provoked on purpose are reported as an expected failure, not FAILED", () => {
  const text = formatReport(report, { failureExpected: "a deliberately broken build" });
  expect(text).not.toContain("FAILED");
  expect(text).toContain("EXPECTED FAILURE (a deliberately broken build): seed=42");
  expect(text).toContain("nonLinearizable: key k: stale read");
});

test("an unexpected failure still says FAILED with the seed and the replay command", () => {
  const text = formatReport(report);
  expect(text).toContain("FAILED: seed=42 history=/tmp/run/history.jsonl");
  expect(text).toContain("replay: bun tests/chaos/run.ts --seed 42");
});

test("a secure run says so, and its replay command asks for --secure", () => {
  const text = formatReport({ ...report, secure: true });
  expect(text).toContain("chaos seed=42 (secure: TLS + auth)");
  expect(text).toContain("--secure");
});
