// Goal: listing keys on the compiled binary (issue 16 item 3): README's "Listing keys" blocks
// work as written (each curl gets the status and page its comment promises; the page-by-page
// loop prints every key once, in order); a follower lists at every level, its linearizable
// page holding a write acknowledged by the leader just before; and the order survives
// snapshots and a restart (the index is rebuilt from the restored snapshot).
// Method: real processes (tests/support/cluster.ts); README blocks run with bash, the README's
// address replaced by the node's.

import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { Cluster, jsonOf, request } from "../support/cluster.ts";
import { readmeRunBlocks } from "../support/readme_blocks.ts";

interface PageJson {
  items: { key: string; value: string; version: number }[];
  next: string | null;
}

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = null;
});

test("README: listing keys, as written", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0" });
  await c.waitLeader([node0], 5_000);
  const blocks = readmeRunBlocks("### Listing keys");
  expect([...blocks.keys()]).toEqual(["list-curl", "list-all"]);
  const adapt = (script: string): string => script.replaceAll("localhost:11000", node0.httpAddr);
  const lines = blocks.get("list-curl")!.split("\n").filter((l) => l.startsWith("curl "));
  expect(lines.length).toBe(4);
  const write = spawnSync("bash", ["-c", adapt(lines[0]!)], { encoding: "utf8" });
  expect(write.status).toBe(0);
  for (const line of lines.slice(1)) {
    const m = /^(.*?)\s+# → (\d{3})\s*(.*)$/.exec(line);
    if (m === null) throw new Error(`README curl without an expectation comment: ${line}`);
    const r = spawnSync("bash", ["-c", `${adapt(m[1]!)} -w '\\n%{http_code}'`], { encoding: "utf8" });
    const [body, status] = [r.stdout.slice(0, r.stdout.lastIndexOf("\n")), r.stdout.slice(r.stdout.lastIndexOf("\n") + 1)];
    expect({ line, status }).toEqual({ line, status: m[2]! });
    if (status !== "200") continue;
    // "user/1 user/2, next "user/2"": the keys listed, then the cursor.
    const promise = /^([^,]*), next (null|"[^"]*")$/.exec(m[3]!)!;
    const page = JSON.parse(body) as PageJson;
    expect(page.items.map((i) => i.key).join(" ")).toBe(promise[1]!);
    expect(page.next).toEqual(JSON.parse(promise[2]!));
    expect(page.items.every((i) => i.version > 0)).toBe(true);
  }
  const loop = spawnSync("bash", ["-euo", "pipefail", "-c", adapt(blocks.get("list-all")!)], { encoding: "utf8" });
  expect(loop.stderr).toBe("");
  expect(loop.status).toBe(0);
  expect(loop.stdout.trim().split("\n").map((l) => l.replace(/ \(version \d+\)$/, ""))).toEqual(["user/1=ann", "user/2=bob", "user/3=cy"]);
}, 60_000);

test("a follower lists at every level; its linearizable page holds a write acknowledged just before", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0" });
  await c.waitLeader([node0], 5_000);
  const node1 = await c.add({ id: "node1", join: node0 });
  const node2 = await c.add({ id: "node2", join: node0 });
  await c.waitVoters(node0, ["node0", "node1", "node2"]);
  for (let round = 0; round < 5; round++) {
    expect((await node0.set({ [`round/${round}`]: `r${round}` })).status).toBe(200);
    const r = await request("GET", node1.url("/key?prefix=round/&limit=1000"));
    expect(r.status).toBe(200);
    expect(Number(r.headers.get("x-applied-index"))).toBeGreaterThan(0);
    expect((jsonOf(r) as PageJson).items.map((i) => i.key)).toEqual(Array.from({ length: round + 1 }, (_, i) => `round/${i}`));
  }
  for (const level of ["leader", "stale"]) {
    await c.waitHolds(node2, { "round/4": "r4" });
    const r = await request("GET", node2.url(`/key?prefix=round/&level=${level}`));
    expect((jsonOf(r) as PageJson).items.length).toBe(5);
  }
}, 60_000);

test("the order survives snapshots and a restart: every page after it as before", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0", extraArgs: ["-snapshot-threshold", "20", "-snapshot-interval", "0"] });
  await c.waitLeader([node0], 5_000);
  const want: string[] = [];
  for (let i = 0; i < 60; i++) {
    const pairs = { [`s/${String(i * 7919 % 1000).padStart(3, "0")}`]: `v${i}`, [`t/${i}`]: "x" };
    expect((await node0.set(pairs)).status).toBe(200);
    want.push(Object.keys(pairs)[0]!);
  }
  for (let i = 0; i < 60; i += 3) expect((await request("DELETE", node0.url(`/key/t%2F${i}`))).status).toBe(200);
  const walk = async (): Promise<string[]> => {
    const keys: string[] = [];
    let after = "";
    for (;;) {
      const r = await request("GET", node0.url(`/key?prefix=s/&limit=7${after}`));
      const page = jsonOf(r) as PageJson;
      keys.push(...page.items.map((i) => i.key));
      if (page.next === null) return keys;
      after = `&after=${encodeURIComponent(page.next)}`;
    }
  };
  expect(await walk()).toEqual([...want].sort());
  const before = jsonOf(await request("GET", node0.url("/key?prefix=t/&limit=1000"))) as PageJson;
  expect(before.items.length).toBe(40);
  await node0.stop("SIGKILL");
  node0.start();
  await c.waitLeader([node0], 10_000);
  expect(await walk()).toEqual([...want].sort());
  expect(jsonOf(await request("GET", node0.url("/key?prefix=t/&limit=1000")))).toEqual(before);
}, 60_000);
