// VOPR: one seed = one randomized swarm run. A safety phase with faults and checkers after every
// event, then a liveness phase (heal, restart everything) that must elect a leader and settle
// every pending write in bounded time. CLI: `npx bun tests/sim/vopr.ts --seed N` replays exactly.

import { checkLinearizable } from "./checkers/linearizability.ts";
import { Cluster } from "./cluster.ts";
import type { SimRng } from "./prng.ts";
import { reliableNetwork } from "./sim_network.ts";
import { type NemesisOptions, type Swarm, swarmFor } from "./swarm.ts";
import { Workload } from "./workload.ts";

/** Outcome of one seed; `error` names the violated property when `ok` is false. */
export interface SeedResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly steps: number;
  readonly simMs: number;
  readonly ops: number;
  readonly committed: number;
}

/** The command that replays `seed` exactly. */
export function replayCommand(seed: number): string {
  return `npx bun tests/sim/vopr.ts --seed ${seed}`;
}

function nemesisStep(cluster: Cluster, rng: SimRng, n: NemesisOptions, log: (s: string) => void): void {
  const ids = cluster.ids;
  const up = ids.filter((id) => cluster.node(id).isUp);
  const down = ids.filter((id) => !cluster.node(id).isUp);
  if (down.length > 0 && rng.chance(n.restartRate)) {
    const id = rng.pick(down);
    log(`restart ${id}`);
    cluster.restart(id);
  }
  if (up.length > 0 && rng.chance(n.crashRate)) {
    const id = rng.pick(up);
    log(`crash ${id}`);
    cluster.crash(id);
  }
  if (rng.chance(n.partitionRate)) {
    const shuffled = rng.shuffle(ids);
    const cut = rng.range(1, ids.length - 1);
    const groups = [shuffled.slice(0, cut), shuffled.slice(cut)];
    log(`partition ${JSON.stringify(groups)}`);
    cluster.network.partition(groups);
  }
  if (rng.chance(n.oneWayRate)) {
    const from = rng.pick(ids), to = rng.pick(ids);
    log(`block ${from}->${to}`);
    if (from !== to) cluster.network.blockOneWay(from, to);
  }
  if (rng.chance(n.healRate)) {
    log("heal");
    cluster.network.heal();
  }
  const leader = cluster.leader();
  if (leader !== null && rng.chance(n.membershipRate)) membershipStep(cluster, rng, leader, log);
  if (leader !== null && rng.chance(n.transferRate)) {
    const to = rng.pick(ids.filter((id) => id !== leader));
    log(`transfer ${leader}->${to}`);
    cluster.transferLeadership(leader, to);
  }
}

/** Removes a random member (never below 3 voters) or adds back a non-member as a learner. */
function membershipStep(cluster: Cluster, rng: SimRng, leader: string, log: (s: string) => void): void {
  const members = cluster.status(leader)!.members;
  const outsiders = cluster.ids.filter((id) => !members.some((m) => m.id === id));
  const voters = members.filter((m) => m.suffrage === "voter");
  if (outsiders.length > 0 && (voters.length <= 3 || rng.chance(0.5))) {
    const id = rng.pick(outsiders);
    const r = cluster.proposeConfChange(leader, { type: "addLearner", id, addr: id });
    log(`addLearner ${id} at ${leader}: ${r.ok ? "accepted" : r.reason}`);
  } else if (voters.length > 3) {
    const id = rng.pick(members).id;
    const r = cluster.proposeConfChange(leader, { type: "remove", id });
    log(`remove ${id} at ${leader}: ${r.ok ? "accepted" : r.reason}`);
  }
}

/** Ids in the membership the current leader uses. */
function currentMembers(cluster: Cluster): string[] {
  const leader = cluster.leader();
  return leader === null ? cluster.ids : cluster.status(leader)!.members.map((m) => m.id);
}

function scheduleNemesis(cluster: Cluster, rng: SimRng, n: NemesisOptions, until: number, log: (s: string) => void): void {
  const step = (): void => {
    if (cluster.scheduler.now >= until) return;
    nemesisStep(cluster, rng, n, log);
    cluster.check();
    cluster.scheduler.schedule(rng.range(n.stepMsMin, n.stepMsMax), step);
  };
  cluster.scheduler.schedule(rng.range(n.stepMsMin, n.stepMsMax), step);
}

/** Filler entries proposed per 50 ms in the liveness phase. */
const fillBatchMax = 50;

function livenessPhase(cluster: Cluster, workload: Workload, swarm: Swarm, log: (s: string) => void): void {
  log("liveness: heal, reliable network, restart all");
  cluster.network.heal();
  cluster.network.faults = reliableNetwork;
  for (const id of cluster.ids) cluster.restart(id);
  if (!cluster.runUntil(() => cluster.leader() !== null, swarm.leaderWithinMs)) {
    throw new Error(`liveness: no leader within ${swarm.leaderWithinMs} ms after heal`);
  }
  // A write still pending sits at an index the log may not have reached again; filler writes
  // (on a key outside the history) push the commit index past it so its fate becomes definite.
  const fill = (): void => {
    if (workload.unresolvedWrites() === 0) return;
    const leader = cluster.leader();
    const st = leader === null ? null : cluster.status(leader);
    const missing = st === null ? 0 : Math.min(fillBatchMax, Math.max(1, workload.maxUnresolvedIndex() - st.lastLogIndex));
    for (let i = 0; i < missing; i++) cluster.propose(leader!, { type: "set", values: { _fill: `${cluster.scheduler.now}.${i}` } });
    cluster.scheduler.schedule(50, fill);
  };
  fill();
  if (!cluster.runUntil(() => workload.unresolvedWrites() === 0, swarm.settleWithinMs)) {
    throw new Error(`liveness: ${workload.unresolvedWrites()} writes still unresolved ${swarm.settleWithinMs} ms after heal`);
  }
  workload.stop();
  const converged = (): boolean => {
    const leader = cluster.leader();
    const st = leader === null ? null : cluster.status(leader);
    if (st === null || cluster.node(leader!).lastApplied < st.commitIndex) return false;
    return currentMembers(cluster).every((id) => cluster.node(id).lastApplied === st.commitIndex);
  };
  if (!cluster.runUntil(converged, swarm.settleWithinMs)) {
    const applied = currentMembers(cluster).map((id) => `${id}:${cluster.node(id).lastApplied}`).join(" ");
    throw new Error(`liveness: nodes did not converge (${applied}) within ${swarm.settleWithinMs} ms`);
  }
}

/** Runs one seed end to end; never throws (failures come back as `ok: false`). */
export function runSeed(seed: number, verbose = false): SeedResult {
  const swarm = swarmFor(seed);
  const log = verbose ? (s: string): void => console.log(`[${cluster.scheduler.now}ms] ${s}`) : (): void => {};
  const cluster = new Cluster(swarm.cluster);
  const workload = new Workload(cluster, cluster.rng.fork("workload"), swarm.workload);
  try {
    if (verbose) console.log(`seed=${seed} swarm=${JSON.stringify(swarm)}`);
    cluster.network.faults = swarm.nemesis.faultyNetwork;
    workload.start();
    scheduleNemesis(cluster, cluster.rng.fork("nemesis"), swarm.nemesis, swarm.safetyMs, log);
    cluster.run(swarm.safetyMs);
    livenessPhase(cluster, workload, swarm, log);
    for (const a of workload.acknowledged()) cluster.checker.acknowledged(a.index, a.term);
    const verdict = checkLinearizable(workload.history());
    if (!verdict.ok) throw new Error(`linearizability: ${verdict.description}`);
    if (verdict.inconclusive.length > 0) log(`linearizability inconclusive for ${verdict.inconclusive.join(" ")}`);
    return { seed, ok: true, steps: cluster.scheduler.steps, simMs: cluster.scheduler.now, ops: workload.opsIssued, committed: cluster.checker.maxCommitted };
  } catch (e) {
    const error = e instanceof Error ? `${e.name}: ${e.message}${verbose ? `\n${e.stack}` : ""}` : String(e);
    return { seed, ok: false, error, steps: cluster.scheduler.steps, simMs: cluster.scheduler.now, ops: workload.opsIssued, committed: cluster.checker.maxCommitted };
  }
}

function main(argv: readonly string[]): number {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seed = Number(arg("--seed") ?? "1");
  const count = Number(arg("--count") ?? "1");
  const verbose = argv.includes("--verbose") || count === 1;
  let failures = 0;
  const t0 = performance.now();
  for (let s = seed; s < seed + count; s++) {
    const r = runSeed(s, verbose && count === 1);
    if (!r.ok) {
      failures++;
      console.log(`seed=${s} FAILED: ${r.error}\n  replay: ${replayCommand(s)}`);
    } else if (count === 1) {
      console.log(`seed=${s} ok: ${r.steps} events, ${r.simMs} ms simulated, ${r.ops} ops, ${r.committed} committed`);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  if (count > 1) console.log(`${count - failures}/${count} seeds ok in ${secs.toFixed(1)} s (${(count / secs).toFixed(1)} seeds/s)`);
  return failures === 0 ? 0 : 1;
}

if (import.meta.main) process.exit(main(process.argv.slice(2)));
