// Helpers for the hand-written scenario tests, modelled on the MIT 6.5840 lab harness
// (checkOneLeader, checkTerms, checkNoLeader, one, nCommitted), rewritten for the simulator.

import type { NodeId } from "../../raft/core/mod.ts";
import { Cluster, type ClusterOptions } from "./cluster.ts";
import { decodeCommand } from "./kv_machine.ts";

/** Simulated ms that MIT allows for an election (RaftElectionTimeout = 1 s); ours time out in 100–200 ms. */
export const electionMs = 1000;

/** A cluster with sensible scenario defaults. */
export function makeCluster(options: Partial<ClusterOptions> & { voters: number }): Cluster {
  return new Cluster({ seed: 1, ...options });
}

/** The value set for key "x" by the entry applied at `index`, or null for other entries. */
export function valueAt(c: Cluster, index: number): string | null {
  const e = c.appliedLog.get(index);
  if (e === undefined || e.kind !== "normal") return null;
  const cmd = decodeCommand(e.data);
  return cmd.type === "set" ? (cmd.values["x"] ?? null) : null;
}

/** How many live nodes have applied `index`, and the value there (MIT nCommitted). */
export function nCommitted(c: Cluster, index: number): { count: number; value: string | null } {
  let count = 0;
  for (const id of c.ids) if (c.node(id).isUp && c.node(id).lastApplied >= index) count++;
  return { count, value: valueAt(c, index) };
}

/** Waits for exactly one leader among connected nodes (per term) and returns it (MIT checkOneLeader). */
export function checkOneLeader(c: Cluster): NodeId {
  for (let iter = 0; iter < 10; iter++) {
    c.run(c.rng.range(450, 550));
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

/** All connected nodes agree on the term; returns it (MIT checkTerms). */
export function checkTerms(c: Cluster): number {
  let term = -1;
  for (const id of c.ids) {
    if (!c.isConnected(id)) continue;
    const t = c.status(id)!.term;
    if (term === -1) term = t;
    else if (t !== term) throw new Error(`servers disagree on term: ${term} vs ${t}`);
  }
  return term;
}

/** No connected node believes it leads (MIT checkNoLeader). */
export function checkNoLeader(c: Cluster): void {
  for (const id of c.ids) {
    if (c.isConnected(id) && c.status(id)!.role === "leader") throw new Error(`${id} is leader, expected none`);
  }
}

/**
 * Proposes set x=value at whichever connected node leads, and waits until `expected` nodes
 * applied it (MIT one()). With `retry`, tries again if the entry is lost to a leader change.
 */
export function one(c: Cluster, value: string, expected: number, retry: boolean): number {
  const deadline = c.scheduler.now + 10 * electionMs;
  while (c.scheduler.now < deadline) {
    let index = -1;
    for (const id of c.ids) {
      if (!c.isConnected(id)) continue;
      const r = c.propose(id, { type: "set", values: { x: value } });
      if (r.ok) { index = r.id.index; break; }
    }
    if (index !== -1) {
      const agreed = c.runUntil(() => {
        const n = nCommitted(c, index);
        return n.count >= expected && n.value === value;
      }, 2 * electionMs);
      if (agreed) return index;
      if (!retry) throw new Error(`one(${value}) failed to reach agreement on ${expected} nodes`);
    } else {
      c.run(50);
    }
  }
  throw new Error(`one(${value}) failed to reach agreement on ${expected} nodes`);
}

/** Proposes at `id` without waiting; null if `id` is down or not leader (MIT Start()). */
export function start(c: Cluster, id: NodeId, value: string): { index: number; term: number } | null {
  if (!c.node(id).isUp) return null;
  const r = c.propose(id, { type: "set", values: { x: value } });
  return r.ok ? { index: r.id.index, term: r.id.term } : null;
}

/** Largest index any live node has applied. */
export function maxApplied(c: Cluster): number {
  return Math.max(0, ...c.ids.map((id) => c.node(id).lastApplied));
}
