// Goal (issue 16 item 5): a blocking read waits as long as it is asked, up to the documented
// maximum (blockingWaitMaxMs), although the server closes a connection that sends nothing for
// its idle timeout (idleTimeoutSeconds) and a blocking read sends nothing until it answers:
// - GET /key/<k>?index=N&wait=30s and the same on a listing, with the change made 11 s later
//   (past the 10 s idle timeout), answer with that change, on a connection still open;
// - once answered, the connection is again closed when idle (the hold was for the wait only);
// - a wait longer than the maximum is cut to it, and the answer says so (X-Wait-Max);
// - serve() hands the handler the server's timeouts over HTTPS too (its listener wraps the
//   handler for certificate rotation), and a request held there past the idle timeout with
//   the timeout lifted is answered.
// Method: a real node in this process (server.ts's startNode: real core, store, HTTP server on
// loopback, -inmem) and real clients: fetch, and a raw socket to see the server close it; for
// HTTPS, serve() itself with certificates made with openssl at test time. The waits of 11-12 s
// run concurrently.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFlags } from "../../../flags.ts";
import { idleTimeoutSeconds, type RequestTimeouts, serve, type ServerHandle } from "../../../http/serve.ts";
import { blockingWaitMaxMs } from "../../../http/watch_routes.ts";
import type { Logger } from "../../../raft/host.ts";
import { type RunningNode, startNode } from "../../../server.ts";
import { makeCa } from "../../support/certs.ts";
import { freePort } from "../../support/cluster.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
let root: string;
let node: RunningNode;
let base: string;
let port: number;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "hraftd-blocking-"));
  port = await freePort();
  const out = parseFlags(["-id", "n1", "-inmem", "-haddr", `127.0.0.1:${port}`, "-raddr", `127.0.0.1:${await freePort()}`, join(root, "n1")], "test");
  if (out.kind !== "run") throw new Error(out.stderr);
  node = await startNode(out.config, quiet);
  for (let i = 0; i < 300 && node.store.status().state !== "leader"; i++) await Bun.sleep(10);
  base = `http://127.0.0.1:${port}`;
});
const servers: ServerHandle[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await node.stop();
  rmSync(root, { recursive: true, force: true });
});

async function write(pairs: Record<string, string>): Promise<number> {
  const r = await fetch(`${base}/key`, { method: "POST", body: JSON.stringify(pairs) });
  expect(r.status).toBe(200);
  const read = await fetch(`${base}/key/${encodeURIComponent(Object.keys(pairs)[0]!)}`);
  return Number(read.headers.get("x-applied-index"));
}

test.concurrent("a wait of 30s answers a change made 11 s later, past the server's 10 s idle timeout", async () => {
  const index = await write({ "bw1/x": "1" });
  const keyRead = fetch(`${base}/key/bw1%2Fx?index=${index}&wait=30s`);
  const listing = fetch(`${base}/key?prefix=bw1/&index=${index}&wait=30s`);
  await Bun.sleep(11_000);
  await write({ "bw1/x": "2" });
  const [k, l] = await Promise.all([keyRead, listing]);
  expect(k.status).toBe(200);
  expect(await k.json()).toEqual({ "bw1/x": "2" });
  expect(Number(k.headers.get("x-applied-index"))).toBeGreaterThan(index);
  expect(k.headers.get("x-wait-max")).toBeNull();
  expect(l.status).toBe(200);
  expect(((await l.json()) as { items: { key: string; value: string }[] }).items).toEqual([{ key: "bw1/x", value: "2", version: expect.any(Number) } as never]);
}, 30_000);

test.concurrent("once a blocking read has answered, its idle connection is closed by the server as any other", async () => {
  const index = await write({ "bw2/y": "1" });
  const socket = connect(port, "127.0.0.1");
  let answer = "";
  socket.on("data", (d) => (answer += d.toString()));
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.write(`GET /key/bw2%2Fy?index=${index}&wait=1s HTTP/1.1\r\nHost: n\r\n\r\n`);
  // Resolves only if the server closes the connection (the test's timeout fails it otherwise).
  await closed;
  expect(answer).toStartWith("HTTP/1.1 200");
  expect(answer).toContain(`{"bw2/y":"1"}`);
}, 30_000);

test.concurrent("a wait over the maximum is cut to it, and the answer says so", async () => {
  const index = await write({ "bw3/z": "1" });
  const over = `${blockingWaitMaxMs / 60_000 + 1}m`;
  const keyRead = fetch(`${base}/key/bw3%2Fz?index=${index}&wait=${over}`);
  const listing = fetch(`${base}/key?prefix=bw3/z&index=${index}&wait=${over}`);
  await Bun.sleep(200);
  await write({ "bw3/z": "2" });
  for (const r of await Promise.all([keyRead, listing])) {
    expect(r.status).toBe(200);
    expect(r.headers.get("x-wait-max")).toBe(`${blockingWaitMaxMs / 1000}s`);
  }
  const within = fetch(`${base}/key/bw3%2Fz?index=${index}&wait=1m`);
  expect((await within).headers.get("x-wait-max")).toBeNull();
}, 30_000);

/** Answers after `?hold=<ms>`, lifting the idle timeout meanwhile as a blocking read does. */
const holding = async (request: Request, server?: RequestTimeouts): Promise<Response> => {
  const hold = Number(new URL(request.url).searchParams.get("hold") ?? "0");
  if (server === undefined) return new Response("no timeouts", { status: 500 });
  server.timeout(request, 0);
  await Bun.sleep(hold);
  server.timeout(request, idleTimeoutSeconds);
  return new Response(`held ${hold}`);
};

test.concurrent("over HTTPS serve() hands the handler the server's timeouts; a request held past the idle timeout is answered", async () => {
  const ca = makeCa("timeouts");
  const leaf = ca.issue("server", { dns: ["localhost"], ips: ["127.0.0.1"] });
  const s = await serve({ hostname: "127.0.0.1", port: 0, fetch: holding, tls: { cert: leaf.certPem(), key: leaf.keyPem(), verifyClient: false } });
  servers.push(s);
  const tls = { tls: { ca: ca.certPem() } };
  expect(await (await fetch(`https://127.0.0.1:${s.port}/?hold=0`, tls)).text()).toBe("held 0");
  const holdMs = (idleTimeoutSeconds + 1) * 1000;
  expect(await (await fetch(`https://127.0.0.1:${s.port}/?hold=${holdMs}`, tls)).text()).toBe(`held ${holdMs}`);
}, 30_000);
