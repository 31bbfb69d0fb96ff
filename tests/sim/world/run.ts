// CLI of the production-node simulator. `--seed N` replays one seed and prints its trace;
// `--from A --count N` runs a range and reports throughput and any failing seed.
//   node_modules/.bin/bun tests/sim/world/run.ts --seed 42
//   node_modules/.bin/bun tests/sim/world/run.ts --from 1 --count 1000

import "../../../raft/cbor_env.ts";
import { runWorldSeed, worldReplayCommand } from "./run_seed.ts";

function arg(name: string): number | null {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? null : Number(process.argv[i + 1]);
}

const one = arg("seed");
if (one !== null) {
  const r = await runWorldSeed(one);
  console.log(r.trace.join("\n"));
  console.log(JSON.stringify({ seed: r.seed, config: r.config, events: r.events, simMs: r.simMs, ops: r.ops, crashes: r.crashes, committed: r.committed, faults: r.faults, targeted: r.targeted }));
  console.log(r.error === null ? "ok" : `FAILED seed=${one}: ${r.error}`);
  process.exit(r.error === null ? 0 : 1);
}
const from = arg("from") ?? 1;
const count = arg("count") ?? 100;
const started = performance.now();
let simMs = 0;
let failures = 0;
const faults = { midOpCrashes: 0, ioFaults: 0, flips: 0, refused: 0, memberships: 0 };
for (let seed = from; seed < from + count; seed++) {
  const r = await runWorldSeed(seed);
  simMs += r.simMs;
  for (const k of Object.keys(faults) as (keyof typeof faults)[]) faults[k] += r.faults[k];
  const done = seed - from + 1;
  if (done % 500 === 0) {
    const s = (performance.now() - started) / 1000;
    console.log(`${done} seeds, ${failures} failed, ${s.toFixed(0)} s (${(done / s).toFixed(2)} seeds/s); faults so far ${JSON.stringify(faults)}`);
  }
  if (r.error !== null) {
    failures++;
    console.log(`FAILED seed=${seed}: ${r.error}\n  replay: ${worldReplayCommand(seed)}`);
  }
}
const wallS = (performance.now() - started) / 1000;
console.log(`${count} seeds, ${failures} failed, ${wallS.toFixed(1)} s: ${(count / wallS).toFixed(2)} seeds/s, ${(simMs / 1000 / wallS).toFixed(1)} simulated s per wall s; faults: ${JSON.stringify(faults)}`);
process.exit(failures === 0 ? 0 : 1);
