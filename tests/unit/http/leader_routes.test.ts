// Goal (issue 15, item 5): the leader routes over HTTP. GET /leader names the leader (id, Raft
// address, term) on every node, and its HTTP address only where the node asked is the leader
// (the only HTTP address a node knows is its own). POST /leader steps the leader down: to the
// voter named, or without a body to the most caught-up voter; 200 with the new leader once it
// is known, sent to the leader or to a follower; 400 for a body or an id that cannot be used
// (nothing is transferred); 405 for other methods.
// Method: createFetch (fast path and Hono app, as served) over the Stores of production nodes
// joined by tests/unit/store/cluster_kit.ts's in-memory wire of real frames.

import { afterEach, expect, test } from "bun:test";
import { createFetch, type FetchHandler } from "../../../http/fast_fetch.ts";
import type { NodeId } from "../../../raft/core/mod.ts";
import { Cluster, track } from "../store/cluster_kit.ts";

const ids = ["a", "b", "c"] as NodeId[];
let cluster: Cluster | null = null;
afterEach(() => {
  cluster?.close();
  cluster = null;
});

/** Three voters, "a" leading; one fetch per node, each knowing only its own HTTP address. */
async function threeNodes(): Promise<{ k: Cluster; http: Record<string, FetchHandler> }> {
  const k = new Cluster(ids);
  cluster = k;
  k.elect("a" as NodeId);
  k.tick(["a" as NodeId], 4);
  await k.settle();
  const http: Record<string, FetchHandler> = {};
  for (const id of ids) {
    http[id] = createFetch(k.proc(id).store, { bodyBytesMax: 1024, ops: { httpAddr: `${id}.example:11000` } });
  }
  return { k, http };
}

/** Sends one request while the cluster runs, until it is answered. */
async function call(k: Cluster, fetch: FetchHandler, method: string, path: string, body?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const init: RequestInit = body === undefined ? { method } : { method, body };
  const reply = track(Promise.resolve(fetch(new Request(`http://node${path}`, init))));
  for (let i = 0; i < 100 && !reply.settled; i++) await k.settle();
  if (reply.error !== undefined) throw reply.error;
  const res = reply.value as Response;
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test("GET /leader: the leader's id, Raft address and term everywhere; its HTTP address from the leader itself", async () => {
  const { k, http } = await threeNodes();
  const term = k.proc("a" as NodeId).node.status().term;
  expect(await call(k, http["a"]!, "GET", "/leader")).toEqual({
    status: 200,
    json: { id: "a", address: "a:12000", httpAddress: "a.example:11000", term, self: true },
  });
  expect(await call(k, http["b"]!, "GET", "/leader")).toEqual({ status: 200, json: { id: "a", address: "a:12000", term, self: false } });
});

test("POST /leader with an id, sent to a follower: 200 once the named voter leads", async () => {
  const { k, http } = await threeNodes();
  const res = await call(k, http["b"]!, "POST", "/leader", `{"id":"c"}`);
  expect(res.status).toBe(200);
  expect(res.json["id"]).toBe("c");
  expect(k.leader()).toBe("c" as NodeId);
  expect((await call(k, http["a"]!, "GET", "/leader")).json["id"]).toBe("c");
});

test("POST /leader without a body, to the leader: 200 naming the new leader, with its addresses", async () => {
  const { k, http } = await threeNodes();
  const res = await call(k, http["a"]!, "POST", "/leader");
  expect(res.status).toBe(200);
  const now = k.leader();
  expect(now === "b" || now === "c").toBe(true);
  expect(res.json).toMatchObject({ id: now, address: `${now}:12000`, self: false });
  // An empty object is the same request.
  const again = await call(k, http[now!]!, "POST", "/leader", "{}");
  expect(again.status).toBe(200);
  expect(again.json["id"]).not.toBe(now);
});

test("POST /leader refuses what cannot be done with 400, and nothing moves", async () => {
  const { k, http } = await threeNodes();
  const cases: [string, string][] = [
    [`{"id":"nobody"}`, "not a member"],
    [`{"id":7}`, `"id" must be a string`],
    [`{"id":""}`, "node id is empty"],
    [`[1]`, "must be a JSON object"],
    [`{"id":`, "not valid JSON"],
  ];
  for (const [body, says] of cases) {
    for (const node of ["a", "b"]) {
      const res = await call(k, http[node]!, "POST", "/leader", body);
      expect(res.status).toBe(400);
      expect(String(res.json["error"])).toContain(says);
    }
  }
  expect(k.leader()).toBe("a" as NodeId);
  expect((await call(k, http["a"]!, "DELETE", "/leader")).status).toBe(405);
});
