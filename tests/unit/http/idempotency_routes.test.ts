// Goal: POST /key and DELETE /key/<k> with an Idempotency-Key apply at most once and answer a
// retry with the first outcome and `Idempotent-Replayed: true`; a different request under the
// key is 422 with the JSON error; a malformed key is 400 and writes nothing; without the
// header, answers are exactly as before (no replay header, same statuses).
// Method: the real route table (Hono app and the fast path in front of it) on a one-node
// cluster of production parts (cluster_kit.ts), requests as a client sends them.

import { afterAll, expect, test } from "bun:test";
import { createFetch } from "../../../http/fast_fetch.ts";
import type { NodeId } from "../../../raft/core/mod.ts";
import { Cluster } from "../store/cluster_kit.ts";

const a = "a" as NodeId;
const k = new Cluster([a]);
k.elect(a);
afterAll(() => k.close());
const store = k.proc(a).store;
const fetchBoth = createFetch(store);

/** Sends `init` to `path` and lets the cluster work until the answer is there. */
function send(path: string, init: RequestInit = {}): Promise<Response> {
  return k.send(fetchBoth, new Request(`http://n/${path}`, init));
}

const post = (body: unknown, key?: string): RequestInit => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: key === undefined ? {} : { "idempotency-key": key },
});

test("a retried POST is applied once and answered as the first time, saying it is a replay", async () => {
  const first = await send("key", post({ x: "1" }, "order-17"));
  expect(first.status).toBe(200);
  expect(first.headers.get("idempotent-replayed")).toBeNull();
  expect(await first.text()).toBe("");
  expect((await send("key", post({ x: "2" }))).status).toBe(200);
  const retry = await send("key", post({ x: "1" }, "order-17"));
  expect(retry.status).toBe(200);
  expect(retry.headers.get("idempotent-replayed")).toBe("true");
  expect(k.proc(a).sm.get("x")).toBe("2");
});

test("a different body under the key is 422 with the JSON error, and writes nothing", async () => {
  expect((await send("key", post({ y: "1" }, "k-422"))).status).toBe(200);
  const other = await send("key", post({ y: "2" }, "k-422"));
  expect(other.status).toBe(422);
  expect(other.headers.get("content-type")).toBe("application/json");
  expect(((await other.json()) as { error: string }).error).toContain("k-422");
  expect(k.proc(a).sm.get("y")).toBe("1");
});

test("DELETE with a key: once; a retry after the key was written again does not delete it", async () => {
  await send("key", post({ z: "1" }));
  const del = await send("key/z", { method: "DELETE", headers: { "idempotency-key": "del-z" } });
  expect(del.status).toBe(200);
  await send("key", post({ z: "again" }));
  const retry = await send("key/z", { method: "DELETE", headers: { "idempotency-key": "del-z" } });
  expect(retry.status).toBe(200);
  expect(retry.headers.get("idempotent-replayed")).toBe("true");
  expect(k.proc(a).sm.get("z")).toBe("again");
});

test("a malformed Idempotency-Key is 400 with the JSON error and writes nothing", async () => {
  const before = k.proc(a).node.lastApplied;
  let checked = 0;
  for (const key of ["x".repeat(256), "caf\u00e9", "tab\there"]) {
    let response: Response;
    try {
      response = await send("key", post({ bad: "1" }, key));
    } catch {
      continue; // a value the Headers class itself refuses never reaches us
    }
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain("Idempotency-Key");
    const del = await send("key/bad", { method: "DELETE", headers: { "idempotency-key": key } });
    expect(del.status).toBe(400);
    checked++;
  }
  expect(checked).toBeGreaterThanOrEqual(2);
  expect(k.proc(a).node.lastApplied).toBe(before);
  expect(k.proc(a).sm.get("bad")).toBeUndefined();
});
