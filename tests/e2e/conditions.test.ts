// Goal: versions and conditional writes on the compiled binary (issue 16 item 2): README's
// "Versions and conditional writes" blocks work as written (each curl gets the status its
// comment promises, GET and a write carry ETag and X-Applied-Index, the compare-and-set loop
// succeeds, and writes chained on the ETags their answers carry succeed without a GET);
// and versions survive a snapshot and a restart: an ETag read before the restart still
// matches after it, and a stale one still fails.
// Method: real processes (tests/support/cluster.ts); README blocks run with bash, the README's
// address replaced by the node's.

import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Cluster, request } from "../support/cluster.ts";
import { readmeRunBlocks } from "../support/readme_blocks.ts";

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = null;
});

test("README: versions and conditional writes, as written", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0" });
  await c.waitLeader([node0], 5_000);
  const blocks = readmeRunBlocks("### Versions and conditional writes");
  expect([...blocks.keys()]).toEqual(["cas-curl", "cas-loop", "cas-chain"]);
  const adapt = (script: string): string => script.replaceAll("localhost:11000", node0.httpAddr);
  const lines = blocks.get("cas-curl")!.split("\n").filter((l) => l.startsWith("curl "));
  expect(lines.length).toBe(5);
  for (const line of lines) {
    const m = /^(.*?)\s+# → (\d{3})(.*)$/.exec(line);
    if (m === null) throw new Error(`README curl without an expectation comment: ${line}`);
    const r = spawnSync("bash", ["-c", `${adapt(m[1]!)} -s -D - -o /dev/null`], { encoding: "utf8" });
    const status = /^HTTP\/[\d.]+ (\d{3})/.exec(r.stdout)?.[1];
    expect({ line, status }).toEqual({ line, status: m[2]! });
    if (m[3]!.includes("ETag")) {
      expect(r.stdout).toMatch(/^etag: "\d+"\r?$/im);
      expect(r.stdout).toMatch(/^x-applied-index: \d+\r?$/im);
    }
  }
  expect(await node0.value("lock")).toBe("node-a");
  const loop = spawnSync("bash", ["-euo", "pipefail", "-c", adapt(blocks.get("cas-loop")!)], { encoding: "utf8" });
  expect(loop.status).toBe(0);
  expect(loop.stdout).toContain("set at");
  expect(await node0.value("lock")).toBe("node-c");
  // Chained on the ETags the writes answer: no GET, no 412.
  const chain = spawnSync("bash", ["-euo", "pipefail", "-c", adapt(blocks.get("cas-chain")!)], { encoding: "utf8" });
  expect(chain.status).toBe(0);
  const version = /^count is 4 at version "(\d+)"$/m.exec(chain.stdout)?.[1];
  expect(version).toBeDefined();
  expect(await node0.value("count")).toBe("4");
  expect((await request("GET", node0.url("/key/count"))).headers.get("etag")).toBe(`"${version}"`);
}, 60_000);

test("versions survive a snapshot and a restart: the ETag read before still matches, a stale one still fails", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0", extraArgs: ["-snapshot-threshold", "10", "-snapshot-interval", "0"] });
  await c.waitLeader([node0], 5_000);
  expect((await node0.set({ v: "1" })).status).toBe(200);
  const old = (await request("GET", node0.url("/key/v"))).headers.get("etag")!;
  expect((await node0.set({ v: "2" })).status).toBe(200);
  const current = (await request("GET", node0.url("/key/v"))).headers.get("etag")!;
  expect(current).not.toBe(old);
  for (let i = 0; i < 30; i++) expect((await node0.set({ [`f${i}`]: "x" })).status).toBe(200);
  await node0.stop("SIGKILL");
  node0.start();
  await c.waitLeader([node0], 10_000);
  expect((await request("GET", node0.url("/key/v"))).headers.get("etag")).toBe(current);
  expect((await request("POST", node0.url("/key"), { v: "3" }, { headers: { "if-match": old } })).status).toBe(412);
  expect((await request("POST", node0.url("/key"), { v: "3" }, { headers: { "if-match": current } })).status).toBe(200);
  expect(await node0.value("v")).toBe("3");
}, 60_000);

test("a backup carries versions and Idempotency-Keys: after -restore the ETag still matches and a retry is still a replay", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0" });
  await c.waitLeader([node0], 5_000);
  const first = await request("POST", node0.url("/key"), { paid: "42" }, { headers: { "idempotency-key": "pay-42" } });
  expect(first.status).toBe(200);
  expect((await node0.set({ paid: "later" })).status).toBe(200);
  const etag = (await request("GET", node0.url("/key/paid"))).headers.get("etag")!;
  const backup = await fetch(node0.url("/backup"));
  expect(backup.status).toBe(200);
  const file = join(c.dataDirOf("node0"), "..", "state.bak");
  writeFileSync(file, new Uint8Array(await backup.arrayBuffer()));
  const restored = await c.define({ id: "restored", extraArgs: ["-restore", file] });
  restored.start();
  await c.waitLeader([restored], 10_000);
  expect((await request("GET", restored.url("/key/paid"))).headers.get("etag")).toBe(etag);
  const retry = await request("POST", restored.url("/key"), { paid: "42" }, { headers: { "idempotency-key": "pay-42" } });
  expect({ status: retry.status, replayed: retry.headers.get("idempotent-replayed") }).toEqual({ status: 200, replayed: "true" });
  expect(await restored.value("paid")).toBe("later");
  expect((await request("POST", restored.url("/key"), { paid: "43" }, { headers: { "if-match": etag } })).status).toBe(200);
}, 60_000);
