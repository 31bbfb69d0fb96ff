// Event-loop pauses while a node holding many keys snapshots its state and while a follower
// installs such a snapshot from the leader (issue 18: none above 20 ms at 10 M keys).
//
// Run on our cluster after phaseKeys has loaded it. Snapshots: one writer overwrites the
// loaded keys, 100 per request, until every member has saved `repeats` more snapshots (a large
// state is snapshotted once the log has grown by a quarter of it: raft/snapshot_policy.ts),
// while a PauseProbe asks each member's /livez every 2 ms. Installs: a follower is stopped,
// writes go on until the leader has snapshotted and moved more than its trailing log past
// it, and the follower is started again: it must install the leader's snapshot; its probe
// runs from its first answer until it serves a value written after it stopped. The writer's own
// requests are in the probes' way too, so a figure here bounds the pause from above.

import { readFileSync, statSync } from "node:fs";
import type { HraftdCluster } from "./clusters.ts";
import { PauseProbe, type PauseStats } from "./pause_probe.ts";
import { leaderOf, log, value16 } from "./phases.ts";
import { sleep, waitUntil } from "./procs.ts";

/** What the phase measured: per snapshot round, per member; per install. */
export interface PauseResults {
  keys: number;
  /** One entry per round: every member's probe over the writes that made it snapshot. */
  snapshot: PauseStats[][];
  install: PauseStats[];
  notes: string[];
}

export function emptyPauseResults(keys: number): PauseResults {
  return { keys, snapshot: [], install: [], notes: [] };
}

/** Entries a follower must be behind for the leader to send a snapshot (flag -snapshot-trailing, default). */
const trailingEntries = 10_240;
/** Pairs per overwrite request. */
const batch = 100;

/** Snapshots saved so far by member `i` (its /metrics), or null when it does not answer. */
async function snapshotsSaved(c: HraftdCluster, i: number): Promise<number | null> {
  try {
    const text = await (await fetch(`${c.url(i)}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
    const m = /^etcd_debugging_snap_save_total_duration_seconds_count (\d+)/m.exec(text);
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/**
 * Overwrites keys `key-0..keys-1` in batches at member `at` until `done()` says so (checked
 * every 200 requests) or `limitMs` passes. Returns the requests made.
 */
async function overwriteUntil(c: HraftdCluster, at: number, keys: number, done: () => Promise<boolean>, limitMs: number): Promise<{ requests: number }> {
  const deadline = performance.now() + limitMs;
  let next = 0;
  let requests = 0;
  while (performance.now() < deadline) {
    const pairs = Array.from({ length: batch }, (_, j) => [`key-${(next + j) % keys}`, value16] as const);
    next = (next + batch) % keys;
    if (await c.writeMany(at, pairs, 10_000)) requests++;
    if (requests % 200 === 0 && (await done())) return { requests };
  }
  throw new Error(`${c.label}: overwriting for ${limitMs} ms did not get there (${requests} requests)`);
}

export async function phaseSnapshotPauses(c: HraftdCluster, keys: number, repeats: number, r: PauseResults): Promise<void> {
  const limitMs = 10 * 60_000;
  // Snapshots on every member.
  for (let round = 0; round < repeats; round++) {
    const l = await leaderOf(c);
    const before = await Promise.all(c.members.map((_, i) => snapshotsSaved(c, i)));
    const probes = c.members.map((_, i) => new PauseProbe(`${c.url(i)}/livez`));
    const t0 = performance.now();
    const { requests } = await overwriteUntil(c, l, keys, async () => {
      const now = await Promise.all(c.members.map((_, i) => snapshotsSaved(c, i)));
      return now.every((n, i) => n !== null && before[i] !== null && n > before[i]!);
    }, limitMs);
    await sleep(500);
    await Promise.all(probes.map((p) => p.stop()));
    const stats = probes.map((p) => p.stats());
    r.snapshot.push(stats);
    log(`pauses, snapshot round ${round + 1} at ${keys} keys: ${requests} requests in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
      stats.map((s, i) => `${c.members[i]!.name}${i === l ? " (leader)" : ""} max ${s.maxMs.toFixed(1)} ms p99 ${s.p99Ms.toFixed(2)} ms, ${s.over20} over 20 ms of ${s.probes} (less the prober's own stalls: max ${s.maxNodeMs.toFixed(1)} ms, ${s.over20Node} over 20 ms)`).join("; "));
  }
  // Installs on a follower that fell behind the leader's log.
  for (let round = 0; round < repeats; round++) {
    const l = await leaderOf(c);
    const f = c.running().filter((i) => i !== l)[round % (c.size - 1)]!;
    const logPath = c.procs[f]!.logPath; // the restarted process appends to the same file
    await c.stop(f, "SIGTERM");
    // The leader must snapshot at an index more than its trailing log past the follower's
    // last entry: once that many entries are written, the snapshot after the next one saved
    // (which may have been captured earlier) is certainly captured later.
    let written = 0;
    let snapsAtCrossing: number | null = null;
    await overwriteUntil(c, l, keys, async () => {
      written += 200;
      const snaps = (await snapshotsSaved(c, l)) ?? 0;
      if (snapsAtCrossing === null && written > trailingEntries + 1_000) snapsAtCrossing = snaps;
      return snapsAtCrossing !== null && snaps >= snapsAtCrossing + 2;
    }, limitMs);
    // Every loaded key holds value16 already: the follower has caught up once it serves this.
    const marker = `pause-marker-${round}`;
    if (!(await c.writeMany(l, [[marker, String(process.pid)]], 10_000))) throw new Error(`${c.label}: marker write failed`);
    const logOffset = statSync(logPath).size;
    c.spawn(f);
    const probe = new PauseProbe(`${c.url(f)}/livez`);
    const t0 = performance.now();
    const caughtUp = await waitUntil(async () => (await c.read(f, marker, "stale", 1_000)) === String(process.pid), limitMs, 50);
    await probe.stop();
    const first = probe.samples[0]?.at ?? t0;
    const stats = probe.stats(first);
    const logText = readFileSync(logPath).subarray(logOffset).toString();
    const installed = /installed snapshot at index/.test(logText);
    if (!installed) r.notes.push(`install round ${round + 1}: the follower caught up without installing a snapshot (its log behind the leader's was not compacted)`);
    if (!caughtUp) throw new Error(`${c.label}: ${c.members[f]!.name} never caught up after its restart`);
    r.install.push(stats);
    log(`pauses, install round ${round + 1} at ${keys} keys (${c.members[f]!.name}, ${installed ? "installed a snapshot" : "NO install"}): ` +
      `caught up ${((performance.now() - t0) / 1000).toFixed(1)} s after start, first answer after ${(first - t0).toFixed(0)} ms; ` +
      `max ${stats.maxMs.toFixed(1)} ms p99 ${stats.p99Ms.toFixed(2)} ms, ${stats.over20} over 20 ms of ${stats.probes} (less the prober's own stalls: max ${stats.maxNodeMs.toFixed(1)} ms, ${stats.over20Node} over 20 ms)`);
    await sleep(1_000);
  }
}
