// Goal: the chaos watcher (watcher.ts) resumes a chain from where its first watch started when
// that watch was cut before any event arrived. The fresh-clone CI's seed 484457789 reported
// 1108, 1112 and 1114 missing from a chain that started at 1105 on node1: node1 sent no event
// before the cut, and the resume at node0 went without Last-Event-ID, so node0 started from its
// own present (after 1115) — a defect of the test's client, not of the server.
// Method: a stand-in SSE server answers the first watch with X-Applied-Index: 5 and ends the
// stream with no event; the watcher must then ask again with Last-Event-ID: 5.

import { afterEach, expect, test } from "bun:test";
import { createSimRng } from "../sim/prng.ts";
import { watch, type WatcherOutput } from "./watcher.ts";

let server: ReturnType<typeof Bun.serve> | null = null;
afterEach(() => {
  server?.stop(true);
  server = null;
});

test("a chain whose first watch got no event resumes after that watch's X-Applied-Index", async () => {
  const asked: Array<string | null> = [];
  server = Bun.serve({
    port: 0,
    fetch(req) {
      asked.push(req.headers.get("last-event-id"));
      return new Response(": nothing yet\n\n", { headers: { "content-type": "text/event-stream", "x-applied-index": "5" } });
    },
  });
  const out: WatcherOutput = { chains: [], counts: { connects: 0, resumes: 0, gone: 0, refused: 0, errors: 0 } };
  await watch("k", [`127.0.0.1:${server.port}`], createSimRng(7), out, () => asked.length < 2);
  expect(asked).toEqual([null, "5"]);
  expect(out.chains).toHaveLength(1);
  expect(out.chains[0]!.from).toBe(5);
});
