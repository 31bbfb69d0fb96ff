// Phase "watch" (issue 16): watch fan-out. One 3-node cluster of ours; 1,000 watchers of one
// key (GET /watch?prefix=<key>, Server-Sent Events), spread evenly over the three members as
// clients of any node would be; then writes of that key at the leader, one at a time, each
// with a value of its own. For each write: the time from sending it to its acknowledgement,
// and to the first, the median and the last watcher seeing its value. The watchers are raw
// sockets in this process (no fetch pool to queue them), so the figure includes this
// process's own reading of 1,000 streams on the same cores.

import { connect, type Socket } from "node:net";
import { HraftdCluster } from "./clusters.ts";
import { type BenchConfig, memberSpecs } from "./phases.ts";
import { median, spread } from "./report.ts";

/** Watchers of the one key. */
export const watchFanout = 1_000;
/** Writes measured (each its own round). */
const rounds = 10;
const watchedKey = "fanout/key";

export interface WatchResults {
  watchers: number;
  /** Per round, ms from sending the write: acknowledged, first, median and last watcher. */
  ackMs: number[];
  firstMs: number[];
  medianMs: number[];
  lastMs: number[];
  /** Watchers that had not seen a round's value 10 s after it was written (0 when all did). */
  missed: number[];
}

export function emptyWatchResults(): WatchResults {
  return { watchers: 0, ackMs: [], firstMs: [], medianMs: [], lastMs: [], missed: [] };
}

/** One SSE client on a raw socket: it only looks for the marker of the current round in what arrives. */
class Watcher {
  readonly #socket: Socket;
  #text = "";
  #marker = "";
  #seenAt: number | null = null;
  #onSeen: (() => void) | null = null;
  readonly opened: Promise<void>;

  constructor(port: number) {
    this.#socket = connect({ host: "127.0.0.1", port });
    this.#socket.setEncoding("utf8");
    this.opened = new Promise((resolve, reject) => {
      this.#socket.once("error", reject);
      this.#socket.on("data", (chunk: string) => {
        this.#text += chunk;
        if (this.#text.startsWith("HTTP/1.1 ") && this.#text.includes("\r\n\r\n")) resolve();
        this.#look();
      });
    });
    this.#socket.write(`GET /watch?prefix=${encodeURIComponent(watchedKey)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  }

  /** Starts a round: resolves with the time its marker arrived (performance.now()). */
  expect(marker: string, onSeen: () => void): void {
    this.#marker = marker;
    this.#seenAt = null;
    this.#onSeen = onSeen;
    this.#look();
  }

  get seenAt(): number | null {
    return this.#seenAt;
  }

  get status(): string {
    return this.#text.slice(0, this.#text.indexOf("\r\n"));
  }

  #look(): void {
    if (this.#marker === "" || this.#seenAt !== null) {
      if (this.#text.length > 65_536) this.#text = this.#text.slice(-1024);
      return;
    }
    const at = this.#text.indexOf(this.#marker);
    if (at < 0) return;
    this.#seenAt = performance.now();
    this.#text = this.#text.slice(at + this.#marker.length);
    this.#onSeen?.();
  }

  close(): void {
    this.#socket.destroy();
  }
}

export async function phaseWatch(cfg: BenchConfig, r: WatchResults): Promise<void> {
  const c = new HraftdCluster(cfg.binary, memberSpecs(cfg, 0, "watch", 3), "hraftd-watch");
  const watchers: Watcher[] = [];
  try {
    await c.startAll();
    const leader = await c.leader();
    if (leader === null) throw new Error("no leader");
    if (!(await c.write(leader, watchedKey, "start"))) throw new Error("first write not acknowledged");
    for (let i = 0; i < watchFanout; i++) watchers.push(new Watcher(c.members[i % c.size]!.clientPort));
    await Promise.all(watchers.map((w) => w.opened));
    const refused = watchers.filter((w) => !w.status.startsWith("HTTP/1.1 200"));
    if (refused.length > 0) throw new Error(`${refused.length} watchers refused: ${refused[0]!.status}`);
    r.watchers = watchers.length;
    for (let round = 1; round <= rounds; round++) {
      const marker = `fanout-${round}-${Math.random().toString(36).slice(2, 10)}`;
      let left = watchers.length;
      let allSeen!: () => void;
      const everyone = new Promise<void>((resolve) => (allSeen = resolve));
      for (const w of watchers) w.expect(marker, () => --left === 0 && allSeen());
      const t0 = performance.now();
      const acked = c.write(leader, watchedKey, marker, 10_000).then((ok) => (ok ? performance.now() : null));
      await Promise.race([everyone, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      const ackAt = await acked;
      const seen = watchers.map((w) => w.seenAt).filter((t): t is number => t !== null).map((t) => t - t0).sort((a, b) => a - b);
      r.ackMs.push(ackAt === null ? NaN : ackAt - t0);
      r.firstMs.push(seen[0] ?? NaN);
      r.medianMs.push(seen.length > 0 ? seen[Math.floor(seen.length / 2)]! : NaN);
      r.lastMs.push(seen.length === watchers.length ? seen.at(-1)! : NaN);
      r.missed.push(watchers.length - seen.length);
      console.log(`[bench] watch fan-out round ${round}: ${seen.length}/${watchers.length} watchers; ack ${(r.ackMs.at(-1)!).toFixed(1)} ms, first ${(r.firstMs.at(-1)!).toFixed(1)}, median ${(r.medianMs.at(-1)!).toFixed(1)}, last ${(r.lastMs.at(-1)!).toFixed(1)} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    for (const w of watchers) w.close();
    await c.stopAll();
  }
}

/** The watch table for RESULTS.md; empty when the phase did not run. */
export function renderWatch(r: WatchResults | undefined): string {
  if (r === undefined || r.ackMs.length === 0) return "";
  const missed = r.missed.reduce((a, b) => a + b, 0);
  return `
## Watch fan-out (issue 16, phase watch)

${r.watchers} watchers of one key (\`GET /watch?prefix=<key>\`, Server-Sent Events), a third on each
member of a 3-node cluster of ours; ${r.ackMs.length} writes of that key at the leader, one at a
time. Times from sending the write, min–max over the writes; the watchers are sockets of the
bench process on the same cores.${missed > 0 ? ` ${missed} watcher notifications did not arrive within 10 s (rounds with any missing have no "last").` : ""}

| write acknowledged, ms | first watcher, ms | median watcher, ms | last watcher, ms |
|---|---|---|---|
| ${spread(r.ackMs.filter(Number.isFinite), 1)} | ${spread(r.firstMs.filter(Number.isFinite), 1)} | ${spread(r.medianMs.filter(Number.isFinite), 1)} | ${spread(r.lastMs.filter(Number.isFinite), 1)} |

Median of the last watcher over the writes: ${median(r.lastMs.filter(Number.isFinite)).toFixed(1)} ms.
`;
}
