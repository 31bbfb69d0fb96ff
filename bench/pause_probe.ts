// How long a node's event loop is held up, seen from outside: one request at a time to a
// route that does nothing (GET /livez), every `everyMs`. A node runs Raft, HTTP and its state
// machine on one thread, so a probe sent while that thread is busy is answered only when it
// is free: the probe's round trip is the pause it ran into plus ~0.1 ms of HTTP. A probe
// sent every 2 ms meets any pause longer than that, so the longest round trip bounds the
// longest pause to within the probe's own interval. It needs nothing inside the node (the
// shipped binary is measured as it is) and costs the node ~500 tiny requests a second.
//
// The prober's own process can be held up too (its collector, the writer it shares a loop
// with, a CPU it waits for): an answer that arrived while the prober's loop was stalled is
// timed late. Measured here at load 15-20 (/tmp/h1/probe_check.ts, a prober process alone with
// six probes): 60-70 of every ~90 round trips over 20 ms were mostly the prober's own loop
// gap, up to 205 ms; under chrt -f the prober's gaps stayed below 14 ms. So the probes share a
// gap monitor (a 1 ms interval): each sample notes how much of its round trip the prober's
// loop sat stalled, and the stats give, beside the round trip (an upper bound of the node's
// pause), the round trip less that stall (a lower bound: the node answered no earlier).

import { sleep } from "./procs.ts";

/** What a probe saw: its round trips (ms) with their start times (ms on performance.now()). */
export interface PauseSample {
  readonly at: number;
  readonly ms: number;
  /** Of `ms`, the time the prober's own loop was stalled (its gaps over 2 ms). */
  readonly ownMs: number;
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
  /** The longest round trip less the prober's own stall inside it: the node's pause was at least this. */
  readonly maxNodeMs: number;
  /** Round trips over 20 ms even less the prober's own stall. */
  readonly over20Node: number;
}

/**
 * The prober's own loop gaps, from a 1 ms interval run while any probe runs: [start, end) on
 * performance.now(), gaps over 2 ms, pruned once no running probe's window can reach them.
 */
const ownGaps: { from: number; to: number }[] = [];
let monitorUsers = 0;
let monitor: ReturnType<typeof setInterval> | null = null;
/** The monitor's last turn: a gap still open when an answer is handled runs from here. */
let lastTurn = 0;

function startMonitor(): void {
  if (monitorUsers++ > 0) return;
  lastTurn = performance.now();
  monitor = setInterval(() => {
    const now = performance.now();
    if (now - lastTurn > 2) ownGaps.push({ from: lastTurn, to: now });
    // A probe's round trip is bounded by its 10 s timeout.
    while (ownGaps.length > 0 && ownGaps[0]!.to < now - 20_000) ownGaps.shift();
    lastTurn = now;
  }, 1);
}

function stopMonitor(): void {
  if (--monitorUsers > 0 || monitor === null) return;
  clearInterval(monitor);
  monitor = null;
  ownGaps.length = 0;
}

/** How much of [from, to) the prober's loop sat in a gap, `to` being now (the gap still open counts). */
function ownStall(from: number, to: number): number {
  let ms = to - lastTurn > 2 ? Math.max(0, to - Math.max(lastTurn, from)) : 0;
  for (let i = ownGaps.length - 1; i >= 0; i--) {
    const g = ownGaps[i]!;
    if (g.to <= from) break;
    ms += Math.max(0, Math.min(g.to, to) - Math.max(g.from, from));
  }
  return ms;
}

export class PauseProbe {
  readonly samples: PauseSample[] = [];
  #failed = 0;
  #running = true;
  readonly #done: Promise<void>;

  constructor(readonly url: string, readonly everyMs = 2) {
    startMonitor();
    this.#done = this.#loop().finally(stopMonitor);
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const t0 = performance.now();
      try {
        const res = await fetch(this.url, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        const t1 = performance.now();
        this.samples.push({ at: t0, ms: t1 - t0, ownMs: ownStall(t0, t1) });
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
    const window = this.samples.filter((s) => s.at >= from && s.at < to);
    const ms = window.map((s) => s.ms).sort((a, b) => a - b);
    const node = window.map((s) => s.ms - s.ownMs);
    const p99 = ms.length === 0 ? 0 : ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.99))]!;
    return {
      probes: ms.length, maxMs: ms.at(-1) ?? 0, p99Ms: p99, over20: ms.filter((x) => x > 20).length, failed: this.#failed,
      maxNodeMs: node.reduce((a, x) => Math.max(a, x), 0), over20Node: node.filter((x) => x > 20).length,
    };
  }
}
