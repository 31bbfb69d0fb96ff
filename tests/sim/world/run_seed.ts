// One seed of the production-node simulator: a safety phase with crashes (unsynced writes lost
// or torn, some in the middle of a disk operation), EIO/ENOSPC, bit flips on one server's disk,
// restarts, joins and removals, partitions and a lossy network under concurrent clients, then a
// liveness phase (faults off, every node restarted) that must converge among the members that
// did not refuse their damaged disk. Checks: the safety checkers after every event, per-key
// linearizability of the whole client history with final reads (so no acknowledged write is
// lost), a damaged disk refused naming the file, and every live member's state equal at the end.

import { checkLinearizable } from "../checkers/linearizability.ts";
import type { SimRng } from "../prng.ts";
import { reliableNetwork } from "../sim_network.ts";
import { Clients, drawListClients, drawOnceClients } from "./clients.ts";
import { LeadershipNemesis } from "./leadership_nemesis.ts";
import { MembershipChanges } from "./membership.ts";
import { TargetedNemesis } from "./targeted.ts";
import { drawWatchers, Watchers } from "./watchers.ts";
import { drawWorldConfig, type SimServer, World, type WorldConfig } from "./world.ts";

/** The command that replays a seed exactly, with its trace. */
export function worldReplayCommand(seed: number): string {
  return `node_modules/.bin/bun tests/sim/world/run.ts --seed ${seed}`;
}

/** What one seed did; `error` is set when a check failed. */
export interface WorldSeedReport {
  readonly seed: number;
  readonly config: WorldConfig;
  readonly error: string | null;
  readonly trace: string[];
  readonly events: number;
  readonly simMs: number;
  readonly ops: { ok: number; fail: number; unknown: number };
  readonly crashes: number;
  readonly committed: number;
  /** Faults that struck: armed crashes, I/O errors, bit flips, refused starts, membership changes ok. */
  readonly faults: { midOpCrashes: number; ioFaults: number; flips: number; refused: number; memberships: number };
  /** What the seed's targeted nemesis did (targeted.ts); null if it has none. */
  readonly targeted: { bounces: number; held: number; episodes: number; triggered: number } | null;
  /** What the leadership nemesis did (null: the seed has none). */
  readonly leadership: { transfers: number; transfersOk: number; gracefulStops: number } | null;
  /** Writes with an Idempotency-Key applied, and replays of them (null: the seed's clients use none). */
  readonly once: { ids: number; replays: number } | null;
}

/** Knobs of a run; defaults suit `npm test`. */
export interface WorldRunOptions {
  /** Simulated length of the safety phase. */
  readonly safetyMs?: number;
  /** Simulated time the liveness phase gets to converge. */
  readonly settleMs?: number;
}

function nemesis(world: World, rng: SimRng, counts: { crashes: number }, membership: MembershipChanges, safetyEndMs: number): void {
  const servers = world.servers;
  const down = servers.filter((s) => !s.isUp && s.refused === null);
  const up = world.up();
  const c = world.config;
  if (rng.chance(c.midOpCrashRate)) world.armCrash(rng.pick(servers));
  if (rng.chance(c.ioFaultRate)) world.armFault(rng.pick(servers));
  if (rng.chance(c.membershipRate)) membership.step();
  const r = rng.int(100);
  if (r < 12 && up.length > 0) {
    const s = rng.pick(up);
    counts.crashes++;
    world.crash(s, rng.chance(0.5) ? "tear" : "drop");
    // A supervisor (systemd Restart=always) brings it back at once: requests and replies of
    // the dead process are still in flight when the new one listens.
    if (rng.chance(0.3)) {
      world.scheduler.schedule(rng.range(1, 50), () => {
        if (!s.isUp && s.refused === null && world.scheduler.now < safetyEndMs) world.start(s);
      });
    }
  } else if (r < 30 && down.length > 0) {
    world.start(rng.pick(down));
  } else if (r < 40) {
    const addrs = rng.shuffle(servers.map((s) => s.addr));
    const cut = rng.range(1, addrs.length - 1);
    world.log(`partition ${addrs.slice(0, cut).join(",")} | ${addrs.slice(cut).join(",")}`);
    world.wire.partition([addrs.slice(0, cut), addrs.slice(cut)]);
  } else if (r < 45) {
    const a = rng.pick(servers).addr, b = rng.pick(servers).addr;
    if (a !== b) {
      world.log(`block ${a} -> ${b}`);
      world.wire.blockOneWay(a, b);
    }
  } else if (r < 60) {
    world.log("heal");
    world.wire.heal();
  } else if (r < 70) {
    const lossy = rng.chance(0.5);
    world.wire.faults = lossy
      ? { dropRate: 0.05, duplicateRate: c.duplicateRate, delayMinMs: 1, delayMaxMs: 30, longDelayRate: c.longDelayRate, longDelayMaxMs: 400 }
      : reliableNetwork;
    world.log(`network ${lossy ? "lossy" : "reliable"}`);
  }
}

/** Runs `seed`; never throws for a check that failed (the report says so). */
export async function runWorldSeed(seed: number, options: WorldRunOptions = {}): Promise<WorldSeedReport> {
  const config = drawWorldConfig(seed);
  const world = new World(config);
  const clients = new Clients(world, world.rng.fork("clients"), { clients: 4, keys: 4, thinkMsMax: 30, once: drawOnceClients(seed), list: drawListClients(seed) });
  const watchRng = drawWatchers(seed);
  const watchers = watchRng === null ? null : new Watchers(world, watchRng);
  const nemesisRng = world.rng.fork("nemesis");
  const membership = new MembershipChanges(world, world.rng.fork("membership"));
  const counts = { crashes: 0 };
  const safetyMs = options.safetyMs ?? 4000;
  const settleMs = options.settleMs ?? Math.max(8000, config.requestTimeoutMs * 3);
  // Its own generator and hooks: seeds without one (config.targeted null) are untouched.
  const targeted = TargetedNemesis.create(world, clients, safetyMs);
  const leadership = LeadershipNemesis.create(world, safetyMs, () => targeted?.isBusy === true);
  let error: string | null = null;
  try {
    // A crash may strike in a server's very first start.
    for (const s of world.servers) if (nemesisRng.chance(config.midOpCrashRate * 3)) world.armCrash(s);
    for (const s of world.servers) world.start(s);
    clients.start();
    watchers?.start();
    targeted?.start();
    leadership?.start();
    const tick = (): void => {
      if (world.scheduler.now >= safetyMs) return;
      if (targeted?.isBusy !== true) nemesis(world, nemesisRng, counts, membership, safetyMs);
      world.scheduler.schedule(nemesisRng.range(20, 300), tick);
    };
    world.scheduler.schedule(200, tick);
    await world.runUntil(safetyMs);

    // Liveness: faults off, every node up, pending requests settle, state converges.
    clients.stop();
    watchers?.stop();
    clients.resume();
    world.calm();
    world.wire.heal();
    world.wire.faults = reliableNetwork;
    world.log("liveness phase: healed, restarting every node");
    for (const s of world.servers) if (!s.isUp && s.refused === null) world.start(s);
    const deadline = safetyMs + settleMs;
    let converged = false;
    while (world.scheduler.now < deadline) {
      await world.runUntil(world.scheduler.now + 100);
      if (clients.inFlight === 0 && !membership.isBusy && isConverged(world)) {
        converged = true;
        break;
      }
    }
    if (!converged) throw new Error(`liveness: no convergence within ${settleMs} ms (in flight ${clients.inFlight}; ${describe(world)})`);
    // Final reads through the leader: every acknowledged write must be visible.
    const leader = world.leader()!;
    const finals = clients.keys.map((key, i) => clients.issueOn(leader, 1000 + i, { type: "read", key, value: null }, "linearizable"));
    const settled = Promise.all(finals);
    let isDone = false;
    void settled.then(() => (isDone = true));
    while (!isDone && world.scheduler.now < deadline + 5000) await world.runUntil(world.scheduler.now + 10);
    if (!isDone) throw new Error("liveness: final reads did not complete");
    // The leader may have committed more (its own no-op) while the reads ran: let it spread.
    while (!isConverged(world) && world.scheduler.now < deadline + 10_000) await world.runUntil(world.scheduler.now + 10);
    const verdict = checkLinearizable(clients.history);
    if (!verdict.ok) {
      const values = new Set(verdict.witness.flatMap((w) => (w.op.type === "read" && w.op.value !== null ? [w.op.value] : [])));
      const failed = clients.history.filter((h) => h.outcome === "fail" && h.op.type === "set" && Object.values(h.op.values).some((v) => values.has(v)));
      throw new Error(
        `linearizability: key ${verdict.key}: ${verdict.description}\n  ${verdict.witness.map((w) => JSON.stringify(w)).join("\n  ")}` +
          failed.map((h) => `\n  read value written by #${h.id}, which failed: ${clients.errors.get(h.id) ?? "?"}`).join(""),
      );
    }
    checkSameState(world, clients.keys);
    if (watchers !== null) {
      const seen = watchers.check(world.checker.appliedEntries);
      world.log(`watchers: ${seen.chains} chains checked, ${seen.changes} changes, ${watchers.counts.resumes} resumes, ${watchers.counts.gone} refused as gone`);
    }
  } catch (e) {
    // A check's message says it all; anything else thrown (an assertion in the node, a crash
    // of the harness) also says where.
    const isCheck = e instanceof Error && (e.name === "WorldCheckError" || e.name === "SafetyViolation" || /^(liveness|linearizability|convergence):/.test(e.message));
    error = e instanceof Error ? (isCheck || e.stack === undefined ? `${e.name}: ${e.message}` : e.stack.split("\n").slice(0, 8).join("\n")) : String(e);
  }
  return {
    seed,
    config,
    error,
    trace: world.trace.lines(),
    events: world.scheduler.steps,
    simMs: world.scheduler.now,
    ops: clients.counts,
    crashes: counts.crashes,
    committed: world.checker.maxCommitted,
    faults: {
      midOpCrashes: world.servers.reduce((n, s) => n + s.disk.stats.crashes, 0) - counts.crashes,
      ioFaults: world.ioFaults,
      flips: world.servers.reduce((n, s) => n + s.flips, 0),
      refused: world.servers.filter((s) => s.refused !== null).length,
      memberships: membership.counts.ok,
    },
    targeted: targeted === null ? null : { ...targeted.counts },
    leadership: leadership === null ? null : { ...leadership.counts },
    once: drawOnceClients(seed) === null ? null : { ids: world.once.ids, replays: world.once.replays },
  };
}

/** The servers in the leader's configuration (removed servers and spares never added do not count). */
function memberServers(world: World): SimServer[] {
  const ids = new Set(world.members().map((m) => m.id));
  return world.servers.filter((s) => ids.has(s.id));
}

function isConverged(world: World): boolean {
  const leader = world.leader();
  if (leader === null) return false;
  const st = leader.opened!.node.core.status();
  // Everything the leader holds is committed (its term's first entry included), and applied at every member.
  if (st.lastLogIndex !== st.commitIndex) return false;
  const commit = st.commitIndex;
  return memberServers(world).every((s) => s.refused !== null || (s.isUp && s.opened!.node.core.status().lastApplied === commit));
}

function describe(world: World): string {
  return world.servers
    .map((s) => {
      if (!s.isUp) return `${s.id} down${s.refused === null ? "" : " (refused)"}`;
      if (s.opened!.node.core.status().removed) return `${s.id} removed`;
      const st = s.opened!.node.core.status();
      return `${s.id} ${st.role} t${st.term} commit ${st.commitIndex} applied ${st.lastApplied} last ${st.lastLogIndex}`;
    })
    .join("; ");
}

/** Convergence: every live member's state machine holds the same value for every key. */
function checkSameState(world: World, keys: readonly string[]): void {
  const up = memberServers(world).filter((s) => s.isUp);
  const first = up[0]!;
  for (const key of keys) {
    const want = first.opened!.store.peek(key, "stale");
    for (const s of up) {
      const got = s.opened!.store.peek(key, "stale");
      if (got !== want) throw new Error(`convergence: ${s.id} has ${key}=${String(got)}, ${first.id} has ${String(want)} (${describe(world)})`);
    }
  }
}
