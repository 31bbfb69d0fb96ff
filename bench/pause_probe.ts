// How long a node's event loop is held up, seen from outside: one request at a time to a
// route that does nothing (GET /livez), every `everyMs`. A node runs Raft, HTTP and its state
// machine on one thread, so a probe sent while that thread is busy is answered only when it
// is free: the probe's round trip is the pause it ran into plus ~0.1 ms of HTTP. A probe
// sent every 2 ms meets any pause longer than that, so the longest round trip bounds the
// longest pause to within the probe's own interval. It needs nothing inside the node (the
// shipped binary is measured as it is) and costs the node ~500 tiny requests a second.

import { sleep } from "./procs.ts";

/** What a probe saw: its round trips (ms) with their start times (ms on performance.now()). */
export interface PauseSample {
  readonly at: number;
  readonly ms: number;
}

/** Summary of the round trips in a window. */
export interface PauseStats {
  readonly probes: number;
  readonly maxMs: number;
  readonly p99Ms: number;
  /** Round trips above 20 ms (issue 18's pause bound). */
  readonly over20: number;
  /** Probes that got no answer within 10 s (counted, not timed). */
  readonly failed: number;
}

export class PauseProbe {
  readonly samples: PauseSample[] = [];
  #failed = 0;
  #running = true;
  readonly #done: Promise<void>;

  constructor(readonly url: string, readonly everyMs = 2) {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const t0 = performance.now();
      try {
        const res = await fetch(this.url, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        this.samples.push({ at: t0, ms: performance.now() - t0 });
      } catch {
        this.#failed++;
        await sleep(50); // a node restarting refuses connections: do not spin
      }
      await sleep(this.everyMs);
    }
  }

  /** Stops probing (waits for the probe in flight). */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  /** The round trips started in [from, to) on performance.now(). */
  stats(from = -Infinity, to = Infinity): PauseStats {
    const ms = this.samples.filter((s) => s.at >= from && s.at < to).map((s) => s.ms).sort((a, b) => a - b);
    const p99 = ms.length === 0 ? 0 : ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.99))]!;
    return { probes: ms.length, maxMs: ms.at(-1) ?? 0, p99Ms: p99, over20: ms.filter((x) => x > 20).length, failed: this.#failed };
  }
}
