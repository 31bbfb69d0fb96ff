// The simulated network between processes: it carries the real encoded frames (bytes) from
// one advertised address to another, so the codec's decode checks run on every delivery.
// Seeded drops, delays (hence reordering), duplicates, one-way and two-way partitions.

import type { SimRng } from "../prng.ts";
import type { Scheduler } from "../scheduler.ts";
import type { NetworkFaults } from "../sim_network.ts";
import { reliableNetwork } from "../sim_network.ts";

/** Receives one frame; `from` is the sender's address. */
export type FrameHandler = (from: string, frame: Uint8Array) => void;

/** Counters of the wire, for throughput reports and tests. */
export interface WireStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  bytes: number;
}

/**
 * Addresses map to the endpoint listening there now: a restarted process listens anew and
 * frames in flight to its previous life reach the new one, as TCP to a reused port would
 * not, which is the harsher case for request matching.
 */
export class SimWire {
  faults: NetworkFaults = reliableNetwork;
  readonly stats: WireStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, bytes: 0 };
  readonly #scheduler: Scheduler;
  readonly #rng: SimRng;
  readonly #endpoints = new Map<string, FrameHandler>();
  readonly #blocked = new Set<string>();
  readonly #goneListeners = new Map<string, (peer: string) => void>();
  /** When the last frame queued from one address to another is delivered (key(from, to)). */
  readonly #lastDeliveryAt = new Map<string, number>();

  constructor(scheduler: Scheduler, rng: SimRng) {
    this.#scheduler = scheduler;
    this.#rng = rng;
  }

  /** Starts listening at `addr`; returns the function that stops it. */
  listen(addr: string, onFrame: FrameHandler): () => void {
    this.#endpoints.set(addr, onFrame);
    return () => {
      if (this.#endpoints.get(addr) === onFrame) this.#endpoints.delete(addr);
    };
  }

  /** Calls `onGone(peer)` when a peer's process at `peer` dies (see peerGone); returns the function that stops it. */
  onPeerGone(addr: string, onGone: (peer: string) => void): () => void {
    this.#goneListeners.set(addr, onGone);
    return () => {
      if (this.#goneListeners.get(addr) === onGone) this.#goneListeners.delete(addr);
    };
  }

  /**
   * The process at `addr` died: its kernel closes its connections, and each peer that can hear
   * it learns so after every frame already on its way from there (a FIN follows the data on
   * its connection, and does not cross a partition). Draws nothing from the wire's generator,
   * so every frame's fate stays what the seed made it.
   */
  peerGone(addr: string): void {
    for (const [to, onGone] of this.#goneListeners) {
      if (to === addr) continue;
      const after = Math.max(this.faults.delayMinMs, (this.#lastDeliveryAt.get(key(addr, to)) ?? 0) - this.#scheduler.now + 1);
      this.#scheduler.schedule(after, () => {
        if (this.#goneListeners.get(to) === onGone && !this.#blocked.has(key(addr, to))) onGone(addr);
      });
    }
  }

  /** Queues one frame; the bytes are copied, so the sender may reuse its buffer. */
  send(from: string, to: string, frame: Uint8Array): void {
    this.stats.sent++;
    this.stats.bytes += frame.length;
    if (this.#blocked.has(key(from, to)) || this.#rng.chance(this.faults.dropRate)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.#rng.chance(this.faults.duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const bytes = frame.slice();
      const delay = this.#delay();
      this.#noteDelivery(from, to, delay);
      this.#scheduler.schedule(delay, () => {
        const handler = this.#endpoints.get(to);
        if (handler === undefined || this.#blocked.has(key(from, to))) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        handler(from, bytes);
      });
    }
  }

  /**
   * Delivers `frame` after exactly `delayMs`, drawing nothing from the wire's generator (so a
   * targeted nemesis that holds a frame back leaves every other frame's fate unchanged).
   * Partitions apply at delivery, as for any frame.
   */
  sendLate(from: string, to: string, frame: Uint8Array, delayMs: number): void {
    this.stats.sent++;
    this.stats.bytes += frame.length;
    const bytes = frame.slice();
    this.#noteDelivery(from, to, delayMs);
    this.#scheduler.schedule(delayMs, () => {
      const handler = this.#endpoints.get(to);
      if (handler === undefined || this.#blocked.has(key(from, to))) {
        this.stats.dropped++;
        return;
      }
      this.stats.delivered++;
      handler(from, bytes);
    });
  }

  #noteDelivery(from: string, to: string, delayMs: number): void {
    const k = key(from, to);
    this.#lastDeliveryAt.set(k, Math.max(this.#lastDeliveryAt.get(k) ?? 0, this.#scheduler.now + delayMs));
  }

  #delay(): number {
    const f = this.faults;
    if (this.#rng.chance(f.longDelayRate)) return this.#rng.range(f.delayMaxMs, Math.max(f.delayMaxMs, f.longDelayMaxMs));
    return this.#rng.range(f.delayMinMs, f.delayMaxMs);
  }

  blockOneWay(from: string, to: string): void {
    this.#blocked.add(key(from, to));
  }

  /** Symmetric partition of addresses into groups that talk only among themselves. */
  partition(groups: readonly (readonly string[])[]): void {
    this.#blocked.clear();
    for (const [i, g] of groups.entries()) {
      for (const [j, h] of groups.entries()) {
        if (i === j) continue;
        for (const a of g) for (const b of h) this.#blocked.add(key(a, b));
      }
    }
  }

  heal(): void {
    this.#blocked.clear();
  }

  get isPartitioned(): boolean {
    return this.#blocked.size > 0;
  }
}

function key(from: string, to: string): string {
  return `${from}\u0000${to}`;
}
