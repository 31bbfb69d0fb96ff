// Goal (issue 17): GET /ui/state on any node shows the whole cluster as the page draws it:
// - three members, sorted, with the right leader and each member's own role and HTTP address
//   (gathered from each member over the Raft transport, not guessed by the node asked);
// - a write raises the commit index shown for every member;
// - the leader's view of its followers (lag, last contact) reaches a follower's view;
// - the timeline holds the election; the newest entries name their keys, values only on ask;
// - GET /ui/events streams the same view; the page and its files are served, others 404;
// - a stopped member turns "unreachable" (its last known HTTP address kept for the page).
// Method: real nodes in this process (server.ts's startNode: real core, driver, store,
// transport and HTTP on loopback, -inmem), joined as a user joins them, and real fetches.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, parseFlags } from "../../../flags.ts";
import type { Logger } from "../../../raft/host.ts";
import { type RunningNode, startNode } from "../../../server.ts";
import type { ClusterViewJson } from "../../../view/cluster_view.ts";
import { freePort } from "../../support/cluster.ts";
import { readmeRunBlocks } from "../../support/readme_blocks.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
let root: string;
const nodes = new Map<string, { node: RunningNode; config: Config }>();

async function config(id: string, extra: string[] = []): Promise<Config> {
  // Snapshots every 64 entries, so a test can see one taken.
  const args = ["-id", id, "-inmem", "-snapshot-threshold", "64", "-snapshot-interval", "0", "-haddr", `127.0.0.1:${await freePort()}`, "-raddr", `127.0.0.1:${await freePort()}`];
  const out = parseFlags([...args, ...extra, join(root, id)], "test");
  if (out.kind !== "run") throw new Error(out.stderr);
  return out.config;
}

async function until<T>(what: string, attempt: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const got = await attempt();
    if (got !== undefined) return got;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

function base(id: string): string {
  return `http://${nodes.get(id)!.config.httpAddr}`;
}

async function state(id: string, query = ""): Promise<ClusterViewJson> {
  const r = await fetch(`${base(id)}/ui/state${query}`);
  expect(r.status).toBe(200);
  return (await r.json()) as ClusterViewJson;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "hraftd-ui-"));
  const c0 = await config("n0");
  const n0 = await startNode(c0, quiet);
  nodes.set("n0", { node: n0, config: c0 });
  await until("n0 to lead", async () => (n0.store.status().state === "leader" ? true : undefined));
  for (const id of ["n1", "n2"]) {
    const c = await config(id, ["-join", c0.httpAddr]);
    nodes.set(id, { node: await startNode(c, quiet), config: c });
  }
  await until("three voters", async () => (n0.store.status().members.filter((m) => m.suffrage === "voter").length === 3 ? true : undefined));
}, 30_000);

afterAll(async () => {
  for (const { node } of nodes.values()) await node.stop();
  rmSync(root, { recursive: true, force: true });
});

test("a follower's /ui/state lists the three members with the leader, each one's role, term and HTTP address", async () => {
  const s = await state("n1");
  expect(s.node).toEqual({ id: "n1", httpAddr: nodes.get("n1")!.config.httpAddr, raftAddr: nodes.get("n1")!.config.raftAddr });
  expect(s.leader).toBe("n0");
  expect(s.members.map((m) => m.id)).toEqual(["n0", "n1", "n2"]);
  expect(s.members.map((m) => m.role)).toEqual(["leader", "follower", "follower"]);
  for (const m of s.members) {
    expect(m.httpAddr).toBe(nodes.get(m.id)!.config.httpAddr);
    expect(m.raftAddr).toBe(nodes.get(m.id)!.config.raftAddr);
    expect(m.suffrage).toBe("voter");
    expect(m.term).toBe(s.term);
  }
  expect(s.members[0]!.lagEntries).toBe(0);
  expect(s.members[0]!.lastContactMs).toBeNull();
  expect(typeof s.at).toBe("number");
});

test("a write raises the commit index shown for every member, and the entry names its keys (values only on ask)", async () => {
  const before = await state("n2");
  const w = await fetch(`${base("n2")}/key`, { method: "POST", body: JSON.stringify({ "ui-a": "1", "ui-b": "2" }) });
  expect(w.status).toBe(200);
  const floor = Math.max(...before.members.map((m) => m.commit ?? 0)) + 1;
  const after = await until("every member's commit to pass the write", async () => {
    const s = await state("n2");
    return s.members.every((m) => (m.commit ?? 0) >= floor && (m.applied ?? 0) >= floor) ? s : undefined;
  });
  const entry = after.entries.find((e) => e.keys.includes("ui-a"));
  expect(entry).toMatchObject({ kind: "normal", keys: ["ui-a", "ui-b"], summary: "set ui-a, ui-b" });
  expect(entry!.values).toBeUndefined();
  const withValues = await state("n2", "?values=1");
  expect(withValues.entries.find((e) => e.keys.includes("ui-a"))!.values).toEqual({ "ui-a": "1", "ui-b": "2" });
  expect(after.entries.length).toBeLessThanOrEqual(20);
  expect(after.entries.some((e) => e.kind === "config")).toBe(true);
});

test("the leader's view of its followers reaches a follower's view: lag and last contact", async () => {
  const s = await until("the leader's progress in n1's view", async () => {
    const v = await state("n1");
    const followers = v.members.filter((m) => m.id !== "n0");
    return followers.every((m) => m.lagEntries !== null && m.lastContactMs !== null) ? v : undefined;
  });
  for (const m of s.members.filter((m) => m.id !== "n0")) {
    expect(m.lagEntries).toBeGreaterThanOrEqual(0);
    expect(m.lastContactMs).toBeLessThan(5_000);
  }
});

test("the timeline holds the election of n0, with its term and duration", async () => {
  const s = await state("n0");
  const election = s.timeline.find((e) => e.kind === "election" && e.node === "n0");
  expect(election).toBeDefined();
  expect(election!.term).toBeGreaterThanOrEqual(1);
  expect(election!.durationMs).toBeGreaterThanOrEqual(0);
  expect(election!.detail).toContain("n0 elected in term");
  expect(s.timeline.some((e) => e.kind === "membership")).toBe(true);
});

test("bad input is 400 with the JSON error; the page and its files are served, other /ui paths 404", async () => {
  const bad = await fetch(`${base("n0")}/ui/state?value=1`);
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toContain("unknown query parameter");
  expect((await fetch(`${base("n0")}/ui/state?values=2`)).status).toBe(400);
  const page = await fetch(`${base("n0")}/ui`);
  expect(page.status).toBe(200);
  expect(page.headers.get("content-type")).toContain("text/html");
  expect(page.headers.get("cache-control")).toBe("no-cache");
  const etag = page.headers.get("etag")!;
  expect((await fetch(`${base("n0")}/ui`, { headers: { "if-none-match": etag } })).status).toBe(304);
  expect((await fetch(`${base("n0")}/ui/no-such-file.js`)).status).toBe(404);
  expect((await fetch(`${base("n0")}/ui/`)).headers.get("content-type")).toContain("text/html");
  expect((await fetch(`${base("n0")}/ui/app.js`)).headers.get("content-type")).toContain("javascript");
  expect((await fetch(`${base("n0")}/ui/state`, { method: "POST" })).status).toBe(405);
  const cors = await fetch(`${base("n0")}/ui/state`);
  expect(cors.headers.get("access-control-allow-origin")).toBe("*");
});

test("GET /ui/events streams the view as `event: view` with the JSON on one line", async () => {
  const abort = new AbortController();
  const r = await fetch(`${base("n1")}/ui/events`, { signal: abort.signal });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toBe("text/event-stream");
  expect(r.headers.get("access-control-allow-origin")).toBe("*");
  const reader = r.body!.getReader();
  let text = "";
  const views: ClusterViewJson[] = [];
  while (views.length < 2) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
      const event = text.slice(0, end);
      text = text.slice(end + 2);
      const data = /^event: view\ndata: (.*)$/.exec(event);
      if (data !== null) views.push(JSON.parse(data[1]!) as ClusterViewJson);
    }
  }
  abort.abort();
  expect(views.length).toBe(2);
  expect(views[0]!.members.map((m) => m.id)).toEqual(["n0", "n1", "n2"]);
  expect(views[1]!.node.id).toBe("n1");
});

test("a snapshot taken shows in the timeline of every member that took one", async () => {
  for (let i = 0; i < 70; i++) expect((await fetch(`${base("n0")}/key`, { method: "POST", body: JSON.stringify({ [`snap${i}`]: "v" }) })).status).toBe(200);
  for (const id of ["n0", "n1"]) {
    const taken = await until(`a snapshot in ${id}'s timeline`, async () => (await state(id)).timeline.find((e) => e.kind === "snapshotTaken"));
    expect(taken.node).toBe(id);
    expect(taken.detail).toMatch(new RegExp(`^${id} took a snapshot up to index \\d+ \\(\\d+ bytes\\)$`));
    expect(taken.durationMs).toBeGreaterThanOrEqual(0);
  }
}, 15_000);

test("README: the cluster page's curl example, as written", async () => {
  const blocks = readmeRunBlocks("### The cluster page");
  expect([...blocks.keys()]).toEqual(["ui-state"]);
  const script = blocks.get("ui-state")!.replaceAll("localhost:11000", nodes.get("n0")!.config.httpAddr);
  // Asynchronously: the nodes answering curl run in this process.
  const child = spawn("bash", ["-c", `set -e\n${script}`]);
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  expect(code).toBe(0);
  const lines = out.trim().split("\n");
  expect(lines[0]!.startsWith(`{"node":{"id":"n0"`)).toBe(true);
  expect(lines[1]).toMatch(/^"values":\{"[^"]+":"[^"]*"/);
  expect(lines[2]).toBe("400");
  expect(Number(lines[3])).toBeGreaterThanOrEqual(1);
}, 10_000);

test("a stopped member turns unreachable, its HTTP address still known", async () => {
  await nodes.get("n2")!.node.stop();
  const s = await until("n2 unreachable in n1's view", async () => {
    const v = await state("n1");
    return v.members.find((m) => m.id === "n2")?.role === "unreachable" ? v : undefined;
  });
  const n2 = s.members.find((m) => m.id === "n2")!;
  expect(n2.httpAddr).toBe(nodes.get("n2")!.config.httpAddr);
  expect(n2.commit).toBeNull();
  expect(s.members.find((m) => m.id === "n0")!.role).toBe("leader");
}, 15_000);
