// Event-loop lag: how late a timer fires. Everything a node does (Raft messages, client
// requests, heartbeats) runs on one thread, so a loop held up for 100 ms delays heartbeats
// by as much and can cost an election. Measured through the Timers and Clock seams: a timer
// set for `intervalMs` that fires `lag` ms late says the loop was busy for about that long.

import type { Clock, Timers } from "../raft/host.ts";

/** Samples lag every `intervalMs` once started; `observe` gets each sample in seconds. */
export class EventLoopLag {
  readonly #timers: Timers;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #observe: (seconds: number) => void;
  #timer: unknown = null;
  #isStopped = false;
  /** The latest sample in seconds (0 before the first). */
  latest = 0;

  constructor(opts: { timers: Timers; clock: Clock; intervalMs: number; observe: (seconds: number) => void }) {
    if (!(opts.intervalMs > 0)) throw new RangeError(`event loop lag interval ${opts.intervalMs} ms must be positive`);
    this.#timers = opts.timers;
    this.#clock = opts.clock;
    this.#intervalMs = opts.intervalMs;
    this.#observe = opts.observe;
  }

  get isRunning(): boolean {
    return this.#timer !== null;
  }

  /** Starts sampling (once; not after stop). */
  start(): void {
    if (this.#timer !== null || this.#isStopped) return;
    this.#arm();
  }

  stop(): void {
    this.#isStopped = true;
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(): void {
    const due = this.#clock.now() + this.#intervalMs;
    this.#timer = this.#timers.setTimeout(() => {
      if (this.#isStopped) return;
      this.latest = Math.max(0, this.#clock.now() - due) / 1000;
      this.#observe(this.latest);
      this.#arm();
    }, this.#intervalMs);
  }
}
