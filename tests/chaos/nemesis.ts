// The chaos suite's faults: a schedule planned from a seed alone (so one seed always gives the
// same faults at the same offsets), and the executor that applies each fault to a real cluster
// and heals it. Targets named "the leader" are resolved when the fault starts.

import { createSimRng, type SimRng } from "../sim/prng.ts";
import type { DropMode, Lab } from "../support/netns.ts";
import type { ChaosCluster } from "./cluster.ts";

/**
 * Kinds of fault. Leadership transfer is absent: the HTTP API offers no way to ask for one
 * (the core has transferLeadership, but nothing outside the process can call it).
 */
export type NemesisKind = "partition" | "linkDown" | "kill" | "pause" | "removeRejoin";

/** Every kind, in the order weights are listed. */
export const nemesisKinds: readonly NemesisKind[] = ["partition", "linkDown", "kill", "pause", "removeRejoin"];

const kindWeights: Readonly<Record<NemesisKind, number>> = { partition: 40, linkDown: 10, kill: 20, pause: 15, removeRejoin: 15 };

/**
 * Partition shapes. halves: a minority and a majority cut off from each other; isolate: one
 * node from all others; bridge: two sides that only one node (the bridge) talks to;
 * oneWayIn: nobody's packets reach one node; oneWayOut: one node's packets reach nobody.
 */
export type PartitionShape = "halves" | "isolate" | "bridge" | "oneWayIn" | "oneWayOut";
const partitionShapes: readonly PartitionShape[] = ["halves", "isolate", "bridge", "oneWayIn", "oneWayOut"];

/** A node chosen by the plan: the leader at the time (when there is one) or node `index`. */
export interface Target {
  readonly isLeader: boolean;
  readonly index: number;
}

/** One fault. `order` is a permutation of the nodes that shapes a partition. */
export type Fault =
  | { readonly type: "partition"; readonly shape: PartitionShape; readonly mode: DropMode; readonly target: Target; readonly order: readonly number[] }
  | { readonly type: "linkDown"; readonly target: Target }
  | { readonly type: "kill"; readonly target: Target }
  | { readonly type: "pause"; readonly target: Target }
  | { readonly type: "removeRejoin"; readonly target: Target; readonly isFresh: boolean };

/** Faults that start together at `startMs` (since the workload began) and heal `holdMs` later. */
export interface Episode {
  readonly startMs: number;
  readonly holdMs: number;
  readonly faults: readonly Fault[];
}

/** Options of planSchedule. */
export interface PlanOptions {
  readonly seed: number;
  /** No episode starts or lasts past this. */
  readonly durationMs: number;
  readonly nodesCount: number;
  /** Kinds to draw from; all by default. */
  readonly kinds?: readonly NemesisKind[];
  /** Fault-free time at the start. */
  readonly warmupMs?: number;
}

function pickKind(rng: SimRng, kinds: readonly NemesisKind[]): NemesisKind {
  const total = kinds.reduce((sum, k) => sum + kindWeights[k], 0);
  let x = rng.int(total);
  for (const k of kinds) {
    x -= kindWeights[k];
    if (x < 0) return k;
  }
  return kinds[kinds.length - 1]!;
}

function planFault(rng: SimRng, kind: NemesisKind, nodesCount: number): Fault {
  const target: Target = { isLeader: rng.chance(0.5), index: rng.int(nodesCount) };
  switch (kind) {
    case "partition": {
      const shape = rng.pick(partitionShapes);
      const mode: DropMode = rng.chance(0.7) ? "drop" : "reject";
      const order = rng.shuffle([...Array(nodesCount).keys()]);
      return { type: "partition", shape, mode, target, order };
    }
    case "linkDown":
    case "kill":
    case "pause":
      return { type: kind, target };
    case "removeRejoin":
      return { type: "removeRejoin", target, isFresh: rng.chance(0.5) };
    default:
      return unreachable(kind);
  }
}

/**
 * The fault schedule for a seed: episodes separated by quiet gaps, each one fault or (one time
 * in five) two of different kinds at once. A pure function of its options.
 */
export function planSchedule(options: PlanOptions): Episode[] {
  const rng = createSimRng(options.seed).fork("nemesis");
  const kinds = options.kinds ?? nemesisKinds;
  if (kinds.length === 0) return [];
  const episodes: Episode[] = [];
  let t = options.warmupMs ?? 2000;
  for (;;) {
    const startMs = t + rng.range(500, 2000);
    const holdMs = rng.range(1000, 5000);
    if (startMs + holdMs > options.durationMs) break;
    const first = pickKind(rng, kinds);
    const faults = [planFault(rng, first, options.nodesCount)];
    const others = kinds.filter((k) => k !== first && k !== "removeRejoin");
    if (first !== "removeRejoin" && others.length > 0 && rng.chance(0.2)) {
      faults.push(planFault(rng, pickKind(rng, others), options.nodesCount));
    }
    episodes.push({ startMs, holdMs, faults });
    t = startMs + holdMs;
  }
  return episodes;
}

function describeTarget(t: Target): string {
  return t.isLeader ? `leader (else node${t.index})` : `node${t.index}`;
}

/** One line describing a planned fault. */
export function describeFault(f: Fault): string {
  switch (f.type) {
    case "partition":
      return `partition ${f.shape} (${f.mode}) around ${describeTarget(f.target)}, order ${f.order.join("")}`;
    case "linkDown":
    case "kill":
    case "pause":
      return `${f.type} ${describeTarget(f.target)}`;
    case "removeRejoin":
      return `remove ${describeTarget(f.target)}, then rejoin ${f.isFresh ? "with a wiped data dir" : "in place"}`;
    default:
      return unreachable(f);
  }
}

/**
 * The directed links (from, to) a partition cuts, with `order` rotated so the target comes
 * first. Pure, so tests can check each shape.
 */
export function partitionCuts(shape: PartitionShape, order: readonly number[], targetIndex: number): Array<[number, number]> {
  const nodes = [targetIndex, ...order.filter((n) => n !== targetIndex)];
  const cuts: Array<[number, number]> = [];
  const cutBoth = (a: readonly number[], b: readonly number[]): void => {
    for (const x of a) for (const y of b) cuts.push([x, y], [y, x]);
  };
  const others = nodes.slice(1);
  switch (shape) {
    case "halves": {
      const minority = Math.floor((nodes.length - 1) / 2);
      cutBoth(nodes.slice(0, minority), nodes.slice(minority));
      break;
    }
    case "isolate":
      cutBoth([targetIndex], others);
      break;
    case "bridge": {
      const half = Math.ceil(others.length / 2);
      cutBoth(others.slice(0, half), others.slice(half));
      break;
    }
    case "oneWayIn":
      for (const o of others) cuts.push([o, targetIndex]);
      break;
    case "oneWayOut":
      for (const o of others) cuts.push([targetIndex, o]);
      break;
    default:
      return unreachable(shape);
  }
  return cuts;
}

/** A nemesis action as recorded in the run's files and summary. */
export interface NemesisEvent {
  readonly timeMs: number;
  readonly episode: number;
  readonly action: "start" | "heal" | "note";
  readonly kind: NemesisKind;
  readonly detail: string;
}

/** What the executor needs. */
export interface NemesisContext {
  readonly cluster: ChaosCluster;
  readonly lab: Lab;
  readonly clock: () => number;
  readonly record: (e: NemesisEvent) => void;
}

function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
