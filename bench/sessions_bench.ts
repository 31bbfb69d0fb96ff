// The once-only table's cost per write (store/sessions.ts) while it fills and once it is full
// and evicting its oldest entry on every write, in one invocation. Not a test: it reports,
// never fails. Every once-only write (an Idempotency-Key) pays `advance` and `remember` on
// every replica, so a cost that grows with the writes already evicted would make a long-lived
// cluster's safe retries slower by the hour. Target: full/filling ≤ 2x.
// Usage: npx bun bench/sessions_bench.ts [--count-max 100000] [--writes 500000]

import { SessionTable, sessionLimitsDefault } from "../store/sessions.ts";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const countMax = Number(flag("count-max", String(sessionLimitsDefault.countMax)));
const writes = Number(flag("writes", String(countMax * 5)));
const slice = Math.max(1, Math.floor(countMax / 2));

const table = new SessionTable({ ...sessionLimitsDefault, countMax });
const outcome = { status: 200, body: "" };
const digest = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
const perSlice: number[] = [];
let t0 = performance.now();
for (let i = 1; i <= writes; i++) {
  table.advance(i);
  table.remember(`alice:order-${i}`, digest, outcome);
  if (i % slice === 0) {
    const t1 = performance.now();
    perSlice.push(((t1 - t0) * 1000) / slice);
    t0 = t1;
  }
}
const filling = perSlice.slice(0, 2);
const full = perSlice.slice(2);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
console.log(`once-only table, count bound ${countMax}: µs per write by slice of ${slice}: ${perSlice.map((x) => x.toFixed(2)).join(", ")}`);
console.log(`filling ${median(filling).toFixed(2)} µs, full ${median(full).toFixed(2)} µs (last ${full.at(-1)?.toFixed(2)}); full/filling ${(median(full) / median(filling)).toFixed(2)}x (target ≤ 2x)`);
