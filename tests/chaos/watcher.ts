// Watchers of the chaos suite (issue 16 item 5), as the simulator's (tests/sim/world/watchers.ts):
// a process of its own in the lab's client namespace, because the client proxy buffers whole
// answers and a Server-Sent Events stream never ends. Each watcher follows GET /watch?prefix=
// on a node, cuts the connection after a random while (or loses it to a fault), and resumes
// with Last-Event-ID after the last event it got, on the same node or another; a 410 (that node
// does not keep the changes that far back) starts a new chain. On SIGTERM it writes every chain
// as JSON to the output file and exits; ./watch_check.ts compares them with the committed log.
// In secure mode it reaches the nodes as the proxy does (HTTPS, a client certificate, Basic
// credentials: ./secure.ts upstreamFromEnv, from the same environment).
// Usage: bun tests/chaos/watcher.ts <out.json> <seed> <host:port,…> <prefix,…>

import { writeFileSync } from "node:fs";
import { createSimRng, type SimRng } from "../sim/prng.ts";
import { type Upstream, upstreamFromEnv } from "./secure.ts";

/** One change as an event reports it (value null: deleted). */
export interface WatchedChange {
  readonly index: number;
  readonly key: string;
  readonly value: string | null;
}

/** Changes received over one uninterrupted run of resumes, in arrival order. */
export interface WatchChain {
  readonly prefix: string;
  /** The index the chain's first watch started after (its X-Applied-Index); null if not said. */
  readonly from: number | null;
  /** The nodes it was served by, in order (for the report). */
  readonly nodes: number[];
  readonly changes: WatchedChange[];
}

/** What the watcher process writes: every chain, and counts of what happened. */
export interface WatcherOutput {
  readonly chains: WatchChain[];
  readonly counts: { connects: number; resumes: number; gone: number; refused: number; errors: number };
}

/** The events of an SSE text (whole events only) and what is left over. */
export function parseEvents(text: string): { events: Array<{ id: number; data: string[] }>; rest: string } {
  const events: Array<{ id: number; data: string[] }> = [];
  const blocks = text.split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let id: number | null = null;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("id:")) id = Number(line.slice(3).trim());
      else if (line.startsWith("data:")) data.push(line.slice(5).trim());
    }
    if (id !== null && data.length > 0) events.push({ id, data });
  }
  return { events, rest };
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** One watcher: connects, reads, cuts, resumes until `isRunning()` turns false; `upstream` says how to reach the nodes. */
export async function watch(
  prefix: string,
  addrs: readonly string[],
  rng: SimRng,
  out: WatcherOutput,
  isRunning: () => boolean,
  upstream: Upstream = { scheme: "http" },
): Promise<void> {
  let chain: WatchChain | null = null;
  let lastId: number | null = null;
  let node = rng.int(addrs.length);
  while (isRunning()) {
    if (chain !== null && rng.chance(0.5)) node = rng.int(addrs.length);
    const abort = new AbortController();
    const cut = setTimeout(() => abort.abort(), rng.range(300, 4000));
    try {
      const headers: Record<string, string> = lastId === null ? {} : { "last-event-id": String(lastId) };
      if (upstream.authorization !== undefined) headers.authorization = upstream.authorization;
      const res = await fetch(`${upstream.scheme}://${addrs[node]}/watch?prefix=${encodeURIComponent(prefix)}`, {
        headers,
        signal: abort.signal,
        ...(upstream.tls === undefined ? {} : { tls: upstream.tls }),
      });
      out.counts.connects++;
      if (res.status === 410) {
        out.counts.gone++;
        await res.body?.cancel();
        chain = null;
        lastId = null;
        continue;
      }
      if (res.status !== 200 || res.body === null) {
        out.counts.refused++;
        await res.body?.cancel();
        await sleep(rng.range(50, 300));
        continue;
      }
      if (chain === null) {
        const from = Number(res.headers.get("x-applied-index") ?? "NaN");
        chain = { prefix, from: Number.isSafeInteger(from) ? from : null, nodes: [], changes: [] };
        out.chains.push(chain);
        // A cut before the first event resumes from where this watch started, not from the
        // next node's present (which would skip the changes in between).
        lastId = chain.from;
      } else {
        out.counts.resumes++;
      }
      chain.nodes.push(node);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const parsed = parseEvents(text + value);
        text = parsed.rest;
        for (const e of parsed.events) {
          for (const d of e.data) {
            const c = JSON.parse(d) as { key: string; value?: string; deleted?: boolean };
            chain.changes.push({ index: e.id, key: c.key, value: c.deleted === true ? null : (c.value ?? null) });
          }
          lastId = e.id;
        }
      }
    } catch {
      out.counts.errors++; // the cut, or a fault: resume after the last event
    } finally {
      clearTimeout(cut);
    }
    await sleep(rng.range(10, 200));
  }
}

if (import.meta.main) {
  const [outPath, seedText, addrsText, prefixesText] = process.argv.slice(2);
  if (outPath === undefined || seedText === undefined || addrsText === undefined || prefixesText === undefined) {
    throw new Error("usage: bun tests/chaos/watcher.ts <out.json> <seed> <host:port,…> <prefix,…>");
  }
  const addrs = addrsText.split(",");
  const rng = createSimRng(Number(seedText));
  const out: WatcherOutput = { chains: [], counts: { connects: 0, resumes: 0, gone: 0, refused: 0, errors: 0 } };
  let running = true;
  process.on("SIGTERM", () => {
    running = false;
    writeFileSync(outPath, JSON.stringify(out));
    process.exit(0);
  });
  const upstream = upstreamFromEnv(process.env);
  prefixesText.split(",").forEach((prefix, i) => void watch(prefix, addrs, rng.fork(`watcher${i}`), out, () => running, upstream));
}
