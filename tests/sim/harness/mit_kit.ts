// The MIT 6.5840 lab harness (checkOneLeader, checkTerms, checkNoLeader, one, nCommitted,
// Start) over a NodeCluster of production nodes. Values are written to key "x" through the
// Store API (store.set), and read back from the log the real state machine applied, decoded
// with the production command codec.

import type { Entry, NodeId } from "../../../raft/core/mod.ts";
import { decodeCommand } from "../../../store/commands.ts";
import { NodeCluster, type NodeClusterOptions } from "./node_cluster.ts";

/** Simulated ms that MIT allows for an election (RaftElectionTimeout = 1 s); ours time out in 100–200 ms. */
export const electionMs = 1000;

/** A cluster of production nodes with scenario defaults (seed 1, 10 ms ticks, election in 10 ticks). */
export function makeCluster(options: Partial<NodeClusterOptions> & { voters: number }): Promise<NodeCluster> {
  return NodeCluster.open({ seed: 1, ...options });
}

/** The value an entry sets key "x" to, or null for any other entry. */
export function valueOf(e: Entry | undefined): string | null {
  if (e === undefined || e.kind !== "normal" || e.data.length === 0) return null;
  let cmd;
  try {
    cmd = decodeCommand(e.data);
  } catch {
    return null;
  }
  if (cmd.type !== "set") return null;
  return cmd.pairs.find(([k]) => k === "x")?.[1] ?? null;
}

/** The value set for key "x" by the entry applied at `index`, or null for other entries. */
export function valueAt(c: NodeCluster, index: number): string | null {
  return valueOf(c.appliedLog.get(index));
}

/** How many live servers have applied `index`, and the value there (MIT nCommitted). */
export function nCommitted(c: NodeCluster, index: number): { count: number; value: string | null } {
  let count = 0;
  for (const id of c.ids) if (c.isUp(id) && c.lastApplied(id) >= index) count++;
  return { count, value: valueAt(c, index) };
}

/** Waits for exactly one leader among connected servers (per term) and returns it (MIT checkOneLeader). */
export async function checkOneLeader(c: NodeCluster): Promise<NodeId> {
  for (let iter = 0; iter < 10; iter++) {
    await c.run(c.rng.range(450, 550));
    const byTerm = new Map<number, NodeId[]>();
    for (const id of c.ids) {
      const st = c.status(id);
      if (!c.isConnected(id) || st === null || st.role !== "leader") continue;
      byTerm.set(st.term, [...(byTerm.get(st.term) ?? []), id]);
    }
    let last = -1;
    for (const [term, ls] of byTerm) {
      if (ls.length > 1) throw new Error(`term ${term} has ${ls.length} leaders`);
      last = Math.max(last, term);
    }
    if (last !== -1) return byTerm.get(last)![0]!;
  }
  throw new Error("expected one leader, got none");
}

/** All connected servers agree on the term; returns it (MIT checkTerms). */
export function checkTerms(c: NodeCluster): number {
  let term = -1;
  for (const id of c.ids) {
    if (!c.isConnected(id)) continue;
    const t = c.status(id)!.term;
    if (term === -1) term = t;
    else if (t !== term) throw new Error(`servers disagree on term: ${term} vs ${t}`);
  }
  return term;
}

/** No connected server believes it leads (MIT checkNoLeader). */
export function checkNoLeader(c: NodeCluster): void {
  for (const id of c.ids) {
    if (c.isConnected(id) && c.status(id)!.role === "leader") throw new Error(`${id} is leader, expected none`);
  }
}

/** Highest index at which an applied entry sets x to `value`, or -1. */
function appliedIndexOf(c: NodeCluster, value: string): number {
  let found = -1;
  for (const [index, e] of c.appliedLog) if (index > found && valueOf(e) === value) found = index;
  return found;
}

/**
 * Writes x=value with store.set at a connected server that leads, and waits until `expected`
 * servers applied it (MIT one()); returns its index. With `retry`, writes again if the first
 * attempt fails or does not reach agreement in time (as MIT's one() does).
 */
export async function one(c: NodeCluster, value: string, expected: number, retry: boolean): Promise<number> {
  const deadline = c.scheduler.now + 10 * electionMs;
  while (c.scheduler.now < deadline) {
    const leader = c.ids.find((id) => c.isConnected(id) && c.status(id)!.role === "leader");
    if (leader === undefined) {
      await c.run(50);
      continue;
    }
    const written = await c.settle(c.store(leader).set([["x", value]]), 2 * electionMs);
    const index = appliedIndexOf(c, value);
    if (index !== -1) {
      const agreed = await c.runUntil(() => {
        const n = nCommitted(c, index);
        return n.count >= expected && n.value === value;
      }, 2 * electionMs);
      if (agreed) return index;
    }
    if (!retry) throw new Error(`one(${value}) failed to reach agreement on ${expected} servers (${written.ok ? "written" : String(written.error)})`);
    await c.run(50);
  }
  throw new Error(`one(${value}) failed to reach agreement on ${expected} servers`);
}

/**
 * MIT Start(): writes x=value at `id` without waiting, if `id` is up and believes it leads; the
 * index and term the leader placed it at, or null. The write's own outcome is not awaited.
 */
export async function start(c: NodeCluster, id: NodeId, value: string): Promise<{ index: number; term: number } | null> {
  const st = c.status(id);
  if (st === null || st.role !== "leader") return null;
  c.store(id).set([["x", value]]).catch(() => {});
  // Let the store hand the command to its node; then find it in that node's log.
  await new Promise((resolve) => setImmediate(resolve));
  const server = c.server(id);
  if (!server.isUp) return null;
  const term = server.opened!.node.core.status().term;
  const entries = server.opened!.node.core.entries();
  for (let k = entries.length - 1; k >= 0; k--) {
    const e = entries[k]!;
    if (e.term < term) break;
    if (valueOf(e) === value) return { index: e.index, term: e.term };
  }
  return null;
}

/** Largest index any live server has applied. */
export function maxApplied(c: NodeCluster): number {
  return Math.max(0, ...c.ids.map((id) => c.lastApplied(id)));
}
