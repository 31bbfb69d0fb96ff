// Goal: Idempotency-Key on the compiled binary (issue 16 item 1). README's "Safe retries"
// blocks work as written (each curl gets the status its comment promises, a replay says so in
// `Idempotent-Replayed`, the retry loop applies its write); and a write sent with a key to a
// follower is applied once through a leader crash, a snapshot and a restart of every node: a
// retry afterwards is a replay and leaves a later write alone.
// Method: real processes (tests/support/cluster.ts); README blocks run with bash, the README's
// address replaced by the node's.

import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Cluster, request, type TestNode } from "../support/cluster.ts";
import { readmeRunBlocks } from "../support/readme_blocks.ts";

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = null;
});

test("README: safe retries with Idempotency-Key, as written", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0" });
  await c.waitLeader([node0], 5_000);
  const blocks = readmeRunBlocks("### Safe retries (Idempotency-Key)");
  expect([...blocks.keys()]).toEqual(["once-curl", "once-retry"]);
  const adapt = (script: string): string => script.replaceAll("localhost:11000", node0.httpAddr);

  expect((await node0.set({ order16: "open" })).status).toBe(200);
  const lines = blocks.get("once-curl")!.split("\n").filter((l) => l.startsWith("curl "));
  expect(lines.length).toBe(5);
  for (const line of lines) {
    const m = /^(.*?)\s+# → (\d{3})(.*)$/.exec(line);
    if (m === null) throw new Error(`README curl without an expectation comment: ${line}`);
    const r = spawnSync("bash", ["-c", `${adapt(m[1]!)} -s -D - -o /dev/null`], { encoding: "utf8" });
    const status = /^HTTP\/[\d.]+ (\d{3})/.exec(r.stdout)?.[1];
    expect({ line, status }).toEqual({ line, status: m[2]! });
    const replayed = /^idempotent-replayed: true\r?$/im.test(r.stdout);
    expect({ line, replayed }).toEqual({ line, replayed: m[3]!.includes("replayed") });
  }
  expect(await node0.value("order17")).toBe("paid");
  expect(await node0.value("order16")).toBeNull();

  const loop = spawnSync("bash", ["-euo", "pipefail", "-c", adapt(blocks.get("once-retry")!)], { encoding: "utf8" });
  expect(loop.status).toBe(0);
  expect(loop.stdout).toContain("applied once (HTTP 200, attempt 1)");
  expect(await node0.value("balance")).toBe("100");
}, 60_000);

test("a write with a key, retried after a leader crash, a snapshot and restarts of every node, is applied once", async () => {
  const c = (cluster = new Cluster());
  const args = { extraArgs: ["-snapshot-threshold", "20", "-snapshot-interval", "0"] };
  const node0 = await c.add({ id: "node0", ...args });
  await c.waitLeader([node0], 5_000);
  const node1 = await c.add({ id: "node1", join: node0, ...args });
  const node2 = await c.add({ id: "node2", join: node0, ...args });
  await c.waitVoters(node0, ["node0", "node1", "node2"]);
  const nodes: TestNode[] = [node0, node1, node2];
  const once = (node: TestNode, body: object) => request("POST", node.url("/key"), body, { headers: { "idempotency-key": "pay-42" } });

  const first = await once(node1, { paid: "42" });
  expect(first.status).toBe(200);
  expect(first.headers.get("idempotent-replayed")).toBeNull();
  expect((await node2.set({ paid: "later" })).status).toBe(200);

  // The leader dies; the survivors elect another and the retry goes through a follower of it.
  const leader = await c.waitLeader(nodes, 10_000);
  await leader.stop("SIGKILL");
  const survivors = nodes.filter((n) => n !== leader);
  const next = await c.waitLeader(survivors, 15_000);
  const follower = survivors.find((n) => n !== next)!;
  const retry = await once(follower, { paid: "42" });
  expect(retry.status).toBe(200);
  expect(retry.headers.get("idempotent-replayed")).toBe("true");

  // Enough writes for every node to snapshot (threshold 20), then every node restarts.
  for (let i = 0; i < 60; i++) expect((await next.set({ [`filler${i}`]: "x" })).status).toBe(200);
  leader.start();
  await c.waitLeader(nodes, 15_000);
  for (const n of nodes) await n.stop("SIGKILL");
  for (const n of nodes) n.start();
  const after = await c.waitLeader(nodes, 15_000);
  for (const n of nodes) {
    const again = await once(n, { paid: "42" });
    expect({ node: n.id, status: again.status, replayed: again.headers.get("idempotent-replayed") }).toEqual({ node: n.id, status: 200, replayed: "true" });
  }
  const mismatch = await once(after, { paid: "43" });
  expect(mismatch.status).toBe(422);
  expect(await after.value("paid")).toBe("later");
  // Each node started from a snapshot taken after the write (so the table came from it).
  for (const n of nodes) expect({ node: n.id, snapshots: readdirSync(join(c.dataDirOf(n.id), "snapshots")).length }).not.toEqual({ node: n.id, snapshots: 0 });
}, 120_000);
