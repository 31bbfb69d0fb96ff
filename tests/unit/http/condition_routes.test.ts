// Goal: HTTP's conditional requests on the key routes (issue 16 item 2): GET answers
// `ETag: "<version>"` (the log index of the key's last write) and `X-Applied-Index`; POST and
// DELETE honour `If-Match: "<version>"` (and `*`) and `If-None-Match: *`, answering 412 with
// the current versions when the condition fails and writing nothing; a multi-key POST with a
// condition is all or nothing; malformed conditions are 400 and write nothing.
// Method: the real fetch handler (fast path and Hono app) on a one-node cluster of production
// parts (cluster_kit.ts), requests as a client sends them.

import { afterAll, expect, test } from "bun:test";
import { createFetch } from "../../../http/fast_fetch.ts";
import type { NodeId } from "../../../raft/core/mod.ts";
import { Cluster } from "../store/cluster_kit.ts";

const a = "a" as NodeId;
const k = new Cluster([a]);
k.elect(a);
afterAll(() => k.close());
const fetchBoth = createFetch(k.proc(a).store);

function send(path: string, init: RequestInit = {}): Promise<Response> {
  return k.send(fetchBoth, new Request(`http://n/${path}`, init));
}
const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({ method: "POST", body: JSON.stringify(body), headers });

test("GET answers the key's version as ETag and the applied index; a 404 has the applied index", async () => {
  expect((await send("key", post({ g: "1" }))).status).toBe(200);
  const version = k.proc(a).sm.versionOf("g")!;
  expect(version).toBeGreaterThan(0);
  for (const level of ["linearizable", "leader", "stale"]) {
    const r = await send(`key/g?level=${level}`);
    expect(r.status).toBe(200);
    expect(r.headers.get("etag")).toBe(`"${version}"`);
    expect(Number(r.headers.get("x-applied-index"))).toBeGreaterThanOrEqual(version);
    expect(await r.json()).toEqual({ g: "1" });
  }
  const missing = await send("key/nothing");
  expect(missing.status).toBe(404);
  expect(missing.headers.get("etag")).toBeNull();
  expect(Number(missing.headers.get("x-applied-index"))).toBeGreaterThanOrEqual(version);
});

test("If-None-Match: * creates only; If-Match takes back GET's ETag; 412 carries the current versions", async () => {
  expect((await send("key", post({ c: "1" }, { "if-none-match": "*" }))).status).toBe(200);
  const taken = await send("key", post({ c: "2" }, { "if-none-match": "*" }));
  expect(taken.status).toBe(412);
  const etag = (await send("key/c")).headers.get("etag")!;
  expect(await taken.json()).toEqual({ error: expect.stringContaining("precondition failed"), versions: { c: Number(etag.slice(1, -1)) } });
  expect((await send("key", post({ c: "3" }, { "if-match": etag }))).status).toBe(200);
  const stale = await send("key", post({ c: "4" }, { "if-match": etag }));
  expect(stale.status).toBe(412);
  expect(k.proc(a).sm.get("c")).toBe("3");
  expect((await send("key", post({ nope: "1" }, { "if-match": "*" }))).status).toBe(412);
  expect(k.proc(a).sm.get("nope")).toBeUndefined();
});

test("a multi-key POST with a condition is all or nothing", async () => {
  expect((await send("key", post({ m1: "1" }))).status).toBe(200);
  const r = await send("key", post({ m2: "new", m1: "over" }, { "if-none-match": "*" }));
  expect(r.status).toBe(412);
  expect(((await r.json()) as { versions: unknown }).versions).toEqual({ m2: null, m1: k.proc(a).sm.versionOf("m1") });
  expect([k.proc(a).sm.get("m1"), k.proc(a).sm.get("m2")]).toEqual(["1", undefined]);
});

test("DELETE honours If-Match", async () => {
  expect((await send("key", post({ d: "1" }))).status).toBe(200);
  const etag = (await send("key/d")).headers.get("etag")!;
  expect((await send("key/d", { method: "DELETE", headers: { "if-match": '"1"' } })).status).toBe(412);
  expect((await send("key/d", { method: "DELETE", headers: { "if-match": `"7", ${etag}` } })).status).toBe(200);
  expect(k.proc(a).sm.get("d")).toBeUndefined();
});

test("malformed conditions are 400 with the JSON error and write nothing", async () => {
  const before = k.proc(a).node.lastApplied;
  const bad: Array<Record<string, string>> = [
    { "if-match": "5" },
    { "if-match": 'W/"5"' },
    { "if-match": '"-1"' },
    { "if-match": '"1", ' },
    { "if-match": Array.from({ length: 17 }, (_, i) => `"${i}"`).join(", ") },
    { "if-none-match": '"5"' },
    { "if-match": '"5"', "if-none-match": "*" },
  ];
  for (const headers of bad) {
    const r = await send("key", post({ bad: "1" }, headers));
    expect({ headers, status: r.status }).toEqual({ headers, status: 400 });
    expect(((await r.json()) as { error: string }).error.length).toBeGreaterThan(0);
    expect((await send("key/bad", { method: "DELETE", headers })).status).toBe(400);
  }
  expect(k.proc(a).node.lastApplied).toBe(before);
});
