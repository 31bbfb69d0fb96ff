// Goal: watching on the compiled binary (issue 16 item 5): README's "Watching for changes"
// blocks work as written (the `curl -N` stream shows one event per write, its id the entry's
// log index, a data line per key; the blocking read answers when the key changes, long before
// its wait; a wait over the maximum is cut, with X-Wait-Max); a stream resumed with
// Last-Event-ID gets exactly the changes it missed; after a restart the history starts at the
// restored index (an older Last-Event-ID is 410, a newer one is served).
// Method: real processes (tests/support/cluster.ts); README blocks run with bash in the
// cluster's directory, the README's address replaced by the node's; streams read with fetch.

import { afterEach, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Cluster, request } from "../support/cluster.ts";
import { readmeRunBlocks } from "../support/readme_blocks.ts";

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = null;
});

interface SseEvent {
  id: number;
  data: { key: string; value?: string; deleted?: boolean; version: number }[];
}

function parseEvents(text: string): SseEvent[] {
  return text.split("\n\n").flatMap((block) => {
    const lines = block.split("\n");
    const id = lines.find((l) => l.startsWith("id: "));
    if (id === undefined) return [];
    return [{ id: Number(id.slice(4)), data: lines.filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6))) }];
  });
}

/** Reads a stream's events until `n` have come (or `timeoutMs` passed), then stops reading. */
async function takeEvents(url: string, n: number, headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<SseEvent[]> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (parseEvents(text).length < n && Date.now() < deadline) {
    const chunk = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now()))]);
    if (chunk === null || chunk.done === true) break;
    text += new TextDecoder().decode(chunk.value);
  }
  controller.abort();
  return parseEvents(text);
}

test("README: watching for changes, as written", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0" });
  await c.waitLeader([node0], 5_000);
  const blocks = readmeRunBlocks("### Watching for changes");
  expect([...blocks.keys()]).toEqual(["watch-blocking", "watch-wait-max", "watch-curl"]);
  const adapt = (script: string): string => script.replaceAll("localhost:11000", node0.httpAddr);
  // The stream: two writes, two events.
  const streamed = spawnSync("bash", ["-c", adapt(blocks.get("watch-curl")!)], { encoding: "utf8", cwd: c.root });
  expect(streamed.status).toBe(0);
  const events = parseEvents(readFileSync(join(c.root, "events.txt"), "utf8"));
  expect(events.length).toBe(2);
  expect(events[1]!.id).toBeGreaterThan(events[0]!.id);
  expect(events.map((e) => e.data)).toEqual([
    [{ key: "user/4", value: "dee", version: events[0]!.id }, { key: "user/5", value: "eve", version: events[0]!.id }],
    [{ key: "user/4", deleted: true, version: events[1]!.id }],
  ]);
  // The blocking read: answered by the write 1 s later, not after its 5 s.
  expect((await node0.set({ "user/1": "ann" })).status).toBe(200);
  const t0 = Date.now();
  const blocking = spawn("bash", ["-c", adapt(blocks.get("watch-blocking")!)], { cwd: c.root });
  let out = "";
  blocking.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => blocking.on("exit", resolve));
  await new Promise((r) => setTimeout(r, 1_000));
  expect(out).toBe("");
  expect((await node0.set({ "user/1": "ann again" })).status).toBe(200);
  expect(await exited).toBe(0);
  expect(Date.now() - t0).toBeLessThan(4_000);
  expect(JSON.parse(out)).toEqual({ "user/1": "ann again" });
  // A wait over the maximum: cut, and said (answered at once, user/1 changed after index 0).
  const cut = spawnSync("bash", ["-c", adapt(blocks.get("watch-wait-max")!)], { encoding: "utf8", cwd: c.root });
  expect(cut.status).toBe(0);
  expect(cut.stdout.trim()).toMatch(/^x-wait-max: 300s$/i);
}, 60_000);

test("a stream resumed with Last-Event-ID gets exactly what it missed; after a restart the history starts at the restored index", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0", extraArgs: ["-snapshot-threshold", "10", "-snapshot-interval", "0"] });
  await c.waitLeader([node0], 5_000);
  const url = node0.url("/watch?prefix=w/");
  const first = takeEvents(url, 2);
  await new Promise((r) => setTimeout(r, 300));
  expect((await node0.set({ "w/a": "1" })).status).toBe(200);
  expect((await node0.set({ "w/b": "2", other: "x" })).status).toBe(200);
  const seen = await first;
  expect(seen.map((e) => e.data.map((d) => d.key))).toEqual([["w/a"], ["w/b"]]);
  // Missed while away: a write and a delete.
  expect((await node0.set({ "w/c": "3" })).status).toBe(200);
  expect((await request("DELETE", node0.url("/key/w%2Fa"))).status).toBe(200);
  const missed = await takeEvents(url, 2, { "last-event-id": String(seen[1]!.id) });
  expect(missed.map((e) => e.data)).toEqual([
    [{ key: "w/c", value: "3", version: missed[0]!.id }],
    [{ key: "w/a", deleted: true, version: missed[1]!.id }],
  ]);
  // Nothing more than that: resumed after the last one, nothing comes.
  expect(await takeEvents(url, 1, { "last-event-id": String(missed[1]!.id) }, 500)).toEqual([]);
  for (let i = 0; i < 20; i++) expect((await node0.set({ [`fill/${i}`]: "x" })).status).toBe(200);
  await node0.stop("SIGKILL");
  node0.start();
  await c.waitLeader([node0], 10_000);
  const restartedAt = Number((await request("GET", node0.url("/key?prefix=none/"))).headers.get("x-applied-index"));
  const gone = await request("GET", url, undefined, { headers: { "last-event-id": String(missed[1]!.id) } });
  expect(gone.status).toBe(410);
  expect(JSON.parse(gone.text).error).toMatch(/no longer kept/);
  // From the restored index on, a watch is served (it armed the history: the last attempt did).
  const fresh = takeEvents(url, 1, { "last-event-id": String(restartedAt) });
  await new Promise((r) => setTimeout(r, 300));
  expect((await node0.set({ "w/d": "4" })).status).toBe(200);
  expect((await fresh).map((e) => e.data.map((d) => d.key))).toEqual([["w/d"]]);
}, 60_000);
