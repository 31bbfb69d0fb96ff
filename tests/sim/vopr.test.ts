// Goal: Raft stays safe (every checker, every step) and live (leader and settled writes after a
// heal) across many randomized swarm runs. Method: SIM_SEEDS seeds (500 by default) starting at
// SIM_SEED_START, plus named regression seeds; a failure prints seed=N and its replay command.

import { expect, test } from "bun:test";
import { replayCommand, runSeed } from "./vopr.ts";

const seedCount = Number(process.env["SIM_SEEDS"] ?? "500");
const seedStart = Number(process.env["SIM_SEED_START"] ?? "1");

/** Seeds that once failed (CORE_BUGS.md #1: 275, 296, 419); kept to guard against a relapse. */
const regressionSeeds: readonly number[] = [275, 296, 419];

function runMany(seeds: readonly number[]): void {
  const failures: string[] = [];
  const t0 = performance.now();
  for (const seed of seeds) {
    const r = runSeed(seed);
    if (!r.ok) {
      const line = `seed=${seed} FAILED: ${r.error}\n  replay: ${replayCommand(seed)}`;
      console.log(line);
      failures.push(line);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(`vopr: ${seeds.length - failures.length}/${seeds.length} seeds ok in ${secs.toFixed(1)} s (${(seeds.length / secs).toFixed(1)} seeds/s)`);
  expect(failures).toEqual([]);
}

test(`vopr: ${seedCount} swarm seeds from ${seedStart}`, () => {
  runMany(Array.from({ length: seedCount }, (_, i) => seedStart + i));
}, 600_000);

test("vopr: a seed replays exactly (same events, ops and commits)", () => {
  for (const seed of [7, 123]) expect(runSeed(seed)).toEqual(runSeed(seed));
});

test("vopr: regression seeds", () => {
  runMany(regressionSeeds);
}, 600_000);
