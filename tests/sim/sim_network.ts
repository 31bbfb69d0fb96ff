// Simulated network between Raft cores: seeded drops, delays (hence reordering), duplicates,
// symmetric and one-way partitions, heal. Every message is deep-copied on the way so that a
// core that keeps a reference to something it sent or received is caught.

import type { Message, NodeId } from "../../raft/core/mod.ts";
import type { SimRng } from "./prng.ts";
import type { Scheduler } from "./scheduler.ts";

/** Fault rates of the network; probabilities in [0, 1], delays in simulated ms. */
export interface NetworkFaults {
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  /** Chance that a message is held back a long time (long-range reordering). */
  readonly longDelayRate: number;
  readonly longDelayMaxMs: number;
}

/** A reliable, prompt network (delays still vary a little so same-time sends interleave). */
export const reliableNetwork: NetworkFaults = {
  dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5, longDelayRate: 0, longDelayMaxMs: 0,
};

/** Counters for tests that bound message traffic (MIT TestCount). */
export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  readonly sentByType: Map<string, number>;
}

/**
 * Deep copy of plain message data (objects, arrays, Uint8Array, primitives). Faster than
 * structuredClone for these small trees, and just as good at cutting every shared reference.
 */
export function deepCopy<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Uint8Array) return value.slice() as T;
  if (Array.isArray(value)) return value.map(deepCopy) as T;
  const out: Record<string, unknown> = {};
  for (const k in value) out[k] = deepCopy((value as Record<string, unknown>)[k]);
  return out as T;
}

function pairKey(from: NodeId, to: NodeId): string {
  return `${from}\u0000${to}`;
}

/** The simulated network; `deliver` is called at delivery time with a private copy. */
export class SimNetwork {
  faults: NetworkFaults = reliableNetwork;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, sentByType: new Map() };
  #blocked = new Set<string>();
  readonly #scheduler: Scheduler;
  readonly #rng: SimRng;
  readonly #deliver: (msg: Message) => void;

  constructor(scheduler: Scheduler, rng: SimRng, deliver: (msg: Message) => void) {
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.#deliver = deliver;
  }

  /** Queues `msg` for delivery, applying the current faults. */
  send(msg: Message): void {
    this.stats.sent++;
    this.stats.sentByType.set(msg.type, (this.stats.sentByType.get(msg.type) ?? 0) + 1);
    if (!this.canReach(msg.from, msg.to) || this.#rng.chance(this.faults.dropRate)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.#rng.chance(this.faults.duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const copy = deepCopy(msg);
      this.#scheduler.schedule(this.#delay(), () => {
        if (!this.canReach(copy.from, copy.to)) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        this.#deliver(copy);
      });
    }
  }

  #delay(): number {
    const f = this.faults;
    if (this.#rng.chance(f.longDelayRate)) return this.#rng.range(f.delayMaxMs, Math.max(f.delayMaxMs, f.longDelayMaxMs));
    return this.#rng.range(f.delayMinMs, f.delayMaxMs);
  }

  canReach(from: NodeId, to: NodeId): boolean {
    return !this.#blocked.has(pairKey(from, to));
  }

  /** Drops everything from `from` to `to` (one way). */
  blockOneWay(from: NodeId, to: NodeId): void {
    this.#blocked.add(pairKey(from, to));
  }

  unblockOneWay(from: NodeId, to: NodeId): void {
    this.#blocked.delete(pairKey(from, to));
  }

  /** Cuts `id` off from every node in `others`, both ways. */
  isolate(id: NodeId, others: readonly NodeId[]): void {
    for (const o of others) {
      if (o === id) continue;
      this.blockOneWay(id, o);
      this.blockOneWay(o, id);
    }
  }

  /** Reconnects `id` with every node in `others`, both ways. */
  reconnect(id: NodeId, others: readonly NodeId[]): void {
    for (const o of others) {
      this.unblockOneWay(id, o);
      this.unblockOneWay(o, id);
    }
  }

  /** Symmetric partition: nodes talk only within their own group. Replaces earlier cuts. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.#blocked.clear();
    for (const [i, g] of groups.entries()) {
      for (const [j, h] of groups.entries()) {
        if (i === j) continue;
        for (const a of g) for (const b of h) this.blockOneWay(a, b);
      }
    }
  }

  /** Removes every cut (faults stay as they are; set `faults` to change them). */
  heal(): void {
    this.#blocked.clear();
  }

  /** True if some cut is in place. */
  get isPartitioned(): boolean {
    return this.#blocked.size > 0;
  }
}
