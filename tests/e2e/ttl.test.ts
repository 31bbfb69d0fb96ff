// Goal: expiring keys on the compiled binary (issue 16 item 4): README's "Expiring keys (TTL)"
// blocks work as written (each curl gets the status its comment promises; the refreshed lease
// is still there); across a three-node cluster a key written with a TTL through a follower is
// gone from every node after its deadline even when its leader was killed first (the new
// leader expires it), and stays gone after a restart; keys with deadlines survive a snapshot
// and a restart, and a backup and -restore, and still expire when due.
// Method: real processes (tests/support/cluster.ts); README blocks run with bash, the README's
// address replaced by the node's.

import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Cluster, poll, request } from "../support/cluster.ts";
import { readmeRunBlocks } from "../support/readme_blocks.ts";

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = null;
});

test("README: expiring keys, as written", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0" });
  await c.waitLeader([node0], 5_000);
  const blocks = readmeRunBlocks("### Expiring keys (TTL)");
  expect([...blocks.keys()]).toEqual(["ttl-curl", "ttl-refresh"]);
  const adapt = (script: string): string => script.replaceAll("localhost:11000", node0.httpAddr);
  const lines = blocks.get("ttl-curl")!.split("\n").filter((l) => l.trim().length > 0);
  expect(lines.filter((l) => l.startsWith("curl ")).length).toBe(6);
  for (const line of lines) {
    if (line.startsWith("sleep ")) {
      spawnSync("bash", ["-c", line]);
      continue;
    }
    const m = /^(curl .*?)\s+# → (\d{3})(.*)$/.exec(line);
    if (m === null) throw new Error(`README line without an expectation comment: ${line}`);
    const r = spawnSync("bash", ["-c", `${adapt(m[1]!)} -s -D - -o /dev/null`], { encoding: "utf8" });
    const status = /^HTTP\/[\d.]+ (\d{3})/.exec(r.stdout)?.[1];
    expect({ line, status }).toEqual({ line, status: m[2]! });
  }
  // Nothing was written by the refused requests.
  expect(await node0.value("x")).toBeNull();
  const refresh = spawnSync("bash", ["-euo", "pipefail", "-c", adapt(blocks.get("ttl-refresh")!)], { encoding: "utf8" });
  expect(refresh.status).toBe(0);
  expect(refresh.stdout).toContain('"lease":"node-a"');
  await poll("the lease to expire", async () => ((await node0.value("lease")) === null ? true : undefined), { timeoutMs: 5_000 });
}, 60_000);

test("three nodes: written through a follower, its leader killed, the new leader expires it everywhere; a restart keeps it gone", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0" });
  await c.waitLeader([node0], 5_000);
  const node1 = await c.add({ id: "node1", join: node0 });
  const node2 = await c.add({ id: "node2", join: node0 });
  await c.waitVoters(node0, ["node0", "node1", "node2"]);
  const w = await request("POST", node1.url("/key?ttl=3s"), { gone: "soon", kept: "x" });
  expect(w.status).toBe(200);
  expect((await request("POST", node1.url("/key?ttl=1h"), { later: "y" })).status).toBe(200);
  expect(await node2.value("gone")).toBe("soon");
  await node0.stop("SIGKILL");
  const leader = await c.waitLeader([node1, node2], 10_000);
  // Refreshed without a TTL on the new leader: permanent.
  expect((await request("POST", leader.url("/key"), { kept: "forever" })).status).toBe(200);
  for (const node of [node1, node2]) {
    await poll(`gone from ${node.id}`, async () => ((await node.value("gone", "stale")) === null ? true : undefined), { timeoutMs: 10_000 });
  }
  node0.start();
  await c.waitHolds(node0, { kept: "forever", later: "y" }, 10_000);
  for (const node of [node0, node1, node2]) {
    expect(await node.value("gone")).toBeNull();
    expect(await node.value("kept")).toBe("forever");
    expect(await node.value("later")).toBe("y");
  }
}, 90_000);

test("deadlines survive a snapshot and a restart, and the key still expires when due", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0", extraArgs: ["-snapshot-threshold", "10", "-snapshot-interval", "0"] });
  await c.waitLeader([node0], 5_000);
  expect((await request("POST", node0.url("/key?ttl=4s"), { t: "1" })).status).toBe(200);
  for (let i = 0; i < 30; i++) expect((await node0.set({ [`f${i}`]: "x" })).status).toBe(200);
  await node0.stop("SIGKILL");
  node0.start();
  await c.waitLeader([node0], 10_000);
  expect(await node0.value("t")).toBe("1");
  await poll("t to expire after the restart", async () => ((await node0.value("t")) === null ? true : undefined), { timeoutMs: 10_000 });
  expect(await node0.value("f29")).toBe("x");
}, 60_000);

test("a backup carries deadlines: after -restore a key still expires when due, a long-lived one stays", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0" });
  await c.waitLeader([node0], 5_000);
  expect((await request("POST", node0.url("/key?ttl=4s"), { soon: "1" })).status).toBe(200);
  expect((await request("POST", node0.url("/key?ttl=1h"), { later: "2" })).status).toBe(200);
  const backup = await fetch(node0.url("/backup"));
  expect(backup.status).toBe(200);
  const bytes = new Uint8Array(await backup.arrayBuffer());
  expect(new DataView(bytes.buffer).getUint32(8)).toBe(3);
  const file = join(c.dataDirOf("node0"), "..", "ttl.bak");
  writeFileSync(file, bytes);
  const restored = await c.define({ id: "restored", extraArgs: ["-restore", file] });
  restored.start();
  await c.waitLeader([restored], 10_000);
  expect(await restored.value("soon")).toBe("1");
  await poll("soon to expire on the restored node", async () => ((await restored.value("soon")) === null ? true : undefined), { timeoutMs: 10_000 });
  expect(await restored.value("later")).toBe("2");
}, 60_000);
