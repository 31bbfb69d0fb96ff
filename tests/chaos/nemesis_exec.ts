// Carries out a planned fault schedule on a real cluster: applies each episode's faults at
// their planned offsets, heals them when the episode ends, and at the end heals everything and
// puts every node back into the membership.

import type { ChaosCluster } from "./cluster.ts";
import { describeFault, type Episode, type Fault, type NemesisContext, type NemesisKind, partitionCuts, type Target } from "./nemesis.ts";

/** Undoes one applied fault. */
type Heal = () => Promise<void>;

/** Deadline for membership requests (the node's own request timeout is 10 s). */
const membershipTimeoutMs = 12_000;
/** How long to wait for a removal to show in the leader's membership before wiping. */
const removalVisibleMs = 5000;

async function resolveTarget(ctx: NemesisContext, t: Target): Promise<number> {
  if (t.isLeader) {
    const leader = await ctx.cluster.leader();
    if (leader !== null) return leader;
  }
  return t.index;
}

/** A running, unpaused node other than `except` to send membership requests to: the leader if known. */
async function pickVia(cluster: ChaosCluster, except: number): Promise<number> {
  const leader = await cluster.leader();
  if (leader !== null && leader !== except) return leader;
  for (let i = 0; i < cluster.size; i++) {
    const j = (except + 1 + i) % cluster.size;
    if (j !== except && cluster.isRunning(j) && !cluster.isPaused(j)) return j;
  }
  return (except + 1) % cluster.size;
}

function note(ctx: NemesisContext, episode: number, kind: NemesisKind, detail: string): void {
  ctx.record({ timeMs: ctx.clock(), episode, action: "note", kind, detail });
}

function describeResult(r: Awaited<ReturnType<ChaosCluster["request"]>>): string {
  return r.type === "response" ? `${r.status} ${r.body.slice(0, 120)}` : `no answer (${r.reason.slice(0, 120)})`;
}

/** True once some leader's membership no longer lists node `victim`. */
async function isRemoved(cluster: ChaosCluster, victim: number): Promise<boolean> {
  return cluster.waitFor(async () => {
    const leader = await cluster.leader();
    if (leader === null) return false;
    const s = await cluster.status(leader);
    return s !== null && !s.members.some((m) => m.id === cluster.id(victim));
  }, removalVisibleMs);
}

async function removeAndRejoin(ctx: NemesisContext, f: Fault & { type: "removeRejoin" }, episode: number): Promise<Heal> {
  const { cluster } = ctx;
  const victim = await resolveTarget(ctx, f.target);
  const via = await pickVia(cluster, victim);
  const r = await cluster.request(via, "POST", "/remove", { body: JSON.stringify({ id: cluster.id(victim) }), timeoutMs: membershipTimeoutMs });
  note(ctx, episode, "removeRejoin", `remove node${victim} via node${via}: ${describeResult(r)}`);
  return async () => {
    const joinVia = await pickVia(cluster, victim);
    // Wiping a node that is still a voter would be operator error (a voter losing its vote
    // and log), not a fault the cluster must survive, so wipe only after a visible removal.
    const removed = await isRemoved(cluster, victim);
    if (f.isFresh && removed) {
      await cluster.kill(victim);
      cluster.wipe(victim);
      cluster.start(victim, joinVia);
      note(ctx, episode, "removeRejoin", `node${victim} wiped and restarted with -join node${joinVia}`);
      return;
    }
    if (!cluster.isRunning(victim)) cluster.start(victim, joinVia);
    const body = JSON.stringify({ id: cluster.id(victim), addr: cluster.raftAddr(victim) });
    const j = await cluster.request(joinVia, "POST", "/join", { body, timeoutMs: membershipTimeoutMs });
    note(ctx, episode, "removeRejoin", `node${victim} (removed: ${removed}) rejoined in place via node${joinVia}: ${describeResult(j)}`);
  };
}

/** Applies one fault now and returns what heals it. */
export async function applyFault(ctx: NemesisContext, f: Fault, episode: number): Promise<Heal> {
  const { cluster, lab } = ctx;
  switch (f.type) {
    case "partition": {
      const target = await resolveTarget(ctx, f.target);
      const cuts = partitionCuts(f.shape, f.order, target);
      for (const [from, to] of cuts) lab.setDrop(from, to, f.mode);
      note(ctx, episode, "partition", `cut ${cuts.map(([a, b]) => `${a}>${b}`).join(" ")}`);
      return async () => {
        for (const [from, to] of cuts) lab.clearDrop(from, to);
      };
    }
    case "linkDown": {
      const target = await resolveTarget(ctx, f.target);
      lab.setLink(target, false);
      note(ctx, episode, "linkDown", `node${target} link down`);
      return async () => lab.setLink(target, true);
    }
    case "kill": {
      const target = await resolveTarget(ctx, f.target);
      await cluster.kill(target);
      note(ctx, episode, "kill", `node${target} killed`);
      return async () => {
        if (!cluster.isRunning(target)) cluster.start(target, await pickVia(cluster, target));
      };
    }
    case "pause": {
      const target = await resolveTarget(ctx, f.target);
      cluster.pause(target);
      note(ctx, episode, "pause", `node${target} stopped`);
      return async () => cluster.resume(target);
    }
    case "removeRejoin":
      return removeAndRejoin(ctx, f, episode);
    default:
      return unreachable(f);
  }
}

/** Sleeps until clock() ≥ timeMs, or until shouldStop() (checked every 100 ms); false if stopped. */
async function sleepUntil(ctx: NemesisContext, timeMs: number, shouldStop: () => boolean): Promise<boolean> {
  while (ctx.clock() < timeMs) {
    if (shouldStop()) return false;
    await Bun.sleep(Math.min(100, Math.max(1, timeMs - ctx.clock())));
  }
  return true;
}

/**
 * Runs the schedule until its end or shouldStop(). Every applied fault is healed before this
 * resolves, also when stopped early.
 */
export async function runSchedule(ctx: NemesisContext, plan: readonly Episode[], shouldStop: () => boolean): Promise<void> {
  for (let e = 0; e < plan.length; e++) {
    const ep = plan[e]!;
    if (!(await sleepUntil(ctx, ep.startMs, shouldStop))) return;
    const heals: Heal[] = [];
    try {
      for (const f of ep.faults) {
        ctx.record({ timeMs: ctx.clock(), episode: e, action: "start", kind: f.type, detail: describeFault(f) });
        heals.push(await applyFault(ctx, f, e));
      }
      await sleepUntil(ctx, ep.startMs + ep.holdMs, shouldStop);
    } finally {
      for (let i = heals.length - 1; i >= 0; i--) {
        const f = ep.faults[i]!;
        await heals[i]!();
        ctx.record({ timeMs: ctx.clock(), episode: e, action: "heal", kind: f.type, detail: describeFault(f) });
      }
    }
  }
}

/**
 * The end of every run: all links up and drops gone, every node running and unpaused, and
 * every node a voter again. Returns false if the membership is not whole by the deadline.
 */
export async function healEverything(ctx: NemesisContext, deadlineMs: number): Promise<boolean> {
  const { cluster, lab } = ctx;
  lab.heal();
  for (let i = 0; i < cluster.size; i++) cluster.resume(i);
  for (let i = 0; i < cluster.size; i++) {
    if (!cluster.isRunning(i)) cluster.start(i, (i + 1) % cluster.size);
  }
  return cluster.waitFor(async () => {
    if (await cluster.isFullyJoined()) return true;
    const leader = await cluster.leader();
    if (leader === null) return false;
    const s = await cluster.status(leader);
    for (let i = 0; i < cluster.size && s !== null; i++) {
      if (!cluster.isRunning(i)) cluster.start(i, leader);
      if (s.members.some((m) => m.id === cluster.id(i))) continue;
      const body = JSON.stringify({ id: cluster.id(i), addr: cluster.raftAddr(i) });
      const r = await cluster.request(leader, "POST", "/join", { body, timeoutMs: membershipTimeoutMs });
      ctx.record({ timeMs: ctx.clock(), episode: -1, action: "note", kind: "removeRejoin", detail: `final rejoin of node${i}: ${describeResult(r)}` });
    }
    return false;
  }, deadlineMs, 500);
}

function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
