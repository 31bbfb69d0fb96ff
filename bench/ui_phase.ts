// Phase "ui" (issue 17): what watching pages cost. One 3-node cluster of ours; unique-key
// writes at the leader (wrk, 64 connections) with no page open and with ten pages open
// (ten GET /ui/events streams, spread over the three members as browsers pointed at any node
// would be), side by side in one run, the order alternating across repeats. For each run:
// writes per second, p99, and the CPU of the three members per write. The streams are raw
// sockets of this process that read and discard what arrives.

import { connect, type Socket } from "node:net";
import { HraftdCluster } from "./clusters.ts";
import { asDriver } from "./drivers.ts";
import { type BenchConfig, leaderOf, log, memberSpecs, value16 } from "./phases.ts";
import { cpuSeconds } from "./procs.ts";
import { spread } from "./report.ts";

/** Pages open in the "watched" runs. */
export const uiPages = 10;
const connections = 64;

export interface UiResults {
  pages: number;
  connections: number;
  /** Per run, by case: writes per second, p99 ms, members' CPU µs per write; and views received. */
  none: { writesPerS: number[]; p99Ms: number[]; cpuUsPerWrite: number[] };
  pagesOpen: { writesPerS: number[]; p99Ms: number[]; cpuUsPerWrite: number[]; views: number[] };
}

export function emptyUiResults(): UiResults {
  return { pages: 0, connections, none: { writesPerS: [], p99Ms: [], cpuUsPerWrite: [] }, pagesOpen: { writesPerS: [], p99Ms: [], cpuUsPerWrite: [], views: [] } };
}

/** One page's event stream on a raw socket: counts `event: view` lines and keeps nothing. */
class Page {
  readonly #socket: Socket;
  views = 0;
  readonly opened: Promise<void>;

  constructor(port: number) {
    this.#socket = connect({ host: "127.0.0.1", port });
    this.#socket.setEncoding("utf8");
    let head: string | null = "";
    this.opened = new Promise((resolve, reject) => {
      this.#socket.once("error", reject);
      this.#socket.on("data", (chunk: string) => {
        if (head !== null) {
          head += chunk;
          if (head.includes("\r\n\r\n")) {
            if (!head.startsWith("HTTP/1.1 200")) reject(new Error(`GET /ui/events: ${head.slice(0, head.indexOf("\r\n"))}`));
            head = null;
            resolve();
          }
        }
        for (let i = chunk.indexOf("event: view"); i >= 0; i = chunk.indexOf("event: view", i + 1)) this.views++;
      });
    });
    this.#socket.write(`GET /ui/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  }

  close(): void {
    this.#socket.destroy();
  }
}

export async function phaseUi(cfg: BenchConfig, r: UiResults): Promise<void> {
  const c = new HraftdCluster(cfg.binary, memberSpecs(cfg, 0, "ui", 3), "hraftd-ui");
  const d = asDriver(c);
  try {
    await c.startAll();
    const leader = await leaderOf(c);
    await d.put(leader, `ui-warm-${process.pid}`, value16, connections, Math.min(3, cfg.seconds), "ui-warmup");
    r.pages = uiPages;
    for (let rep = 0; rep < cfg.repeats; rep++) {
      for (const watched of rep % 2 === 0 ? [false, true] : [true, false]) {
        const pages: Page[] = [];
        try {
          if (watched) {
            for (let i = 0; i < uiPages; i++) pages.push(new Page(c.members[i % c.size]!.clientPort));
            await Promise.all(pages.map((p) => p.opened));
            // Past the first view and a probe round: the loops are running.
            await new Promise((resolve) => setTimeout(resolve, 1_500));
          }
          const l = await leaderOf(c);
          const pids = c.pids();
          const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
          const views0 = pages.reduce((s, p) => s + p.views, 0);
          const w = await d.put(l, `ui${process.pid}r${rep}${watched ? "p" : "n"}`, value16, connections, cfg.seconds, `ui-put-${watched ? "pages" : "none"}`);
          const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0;
          const row = watched ? r.pagesOpen : r.none;
          row.writesPerS.push(w.okPerSec);
          row.p99Ms.push(w.p99Ms);
          row.cpuUsPerWrite.push(w.ok > 0 ? (cpu / w.ok) * 1e6 : NaN);
          if (watched) r.pagesOpen.views.push(pages.reduce((s, p) => s + p.views, 0) - views0);
          log(`ui: ${watched ? `${uiPages} pages` : "no page"}: ${w.okPerSec.toFixed(0)} writes/s, p99 ${w.p99Ms.toFixed(1)} ms, ${((cpu / Math.max(1, w.ok)) * 1e6).toFixed(1)} µs CPU/write`);
        } finally {
          for (const p of pages) p.close();
        }
      }
    }
  } finally {
    await c.stopAll();
  }
}

/** The ui table for RESULTS.md; empty when the phase did not run. */
export function renderUi(r: UiResults | undefined): string {
  if (r === undefined || r.none.writesPerS.length === 0) return "";
  const row = (name: string, x: { writesPerS: number[]; p99Ms: number[]; cpuUsPerWrite: number[] }): string =>
    `| ${name} | ${spread(x.writesPerS)} | ${spread(x.p99Ms, 1)} | ${spread(x.cpuUsPerWrite, 1)} |`;
  return `
## Pages watching (issue 17, phase ui)

Unique-key writes at the leader of a 3-node cluster of ours (wrk, ${r.connections} connections), with no
page open and with ${r.pages} \`GET /ui/events\` streams open (spread over the members), alternating;
min–max over ${r.none.writesPerS.length} runs each. CPU is the three members' per acknowledged write.

| pages | writes/s | p99 ms | members' CPU µs/write |
|---|---|---|---|
${row("none", r.none)}
${row(String(r.pages), r.pagesOpen)}
`;
}
