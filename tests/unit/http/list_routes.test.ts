// Goal: GET /key?prefix=&after=&limit=&level= (issue 16 item 3) answers a page of keys in key
// order with values and versions as JSON, with X-Applied-Index, at every read level on the
// leader and on a follower (a follower's linearizable and leader-level pages include every
// write acknowledged before them); pages chain by `next`; every malformed parameter is a 400
// with the JSON error before the store is asked.
// Method: the real fetch handler (fast path and Hono app) on a three-node cluster of
// production parts (cluster_kit.ts); the 400s on a store that fails the test if asked.

import { afterAll, expect, test } from "bun:test";
import { createFetch } from "../../../http/fast_fetch.ts";
import type { NodeId } from "../../../raft/core/mod.ts";
import type { StatusReport, StoreApi } from "../../../store/api.ts";
import { listLimitDefault } from "../../../store/listing.ts";
import { ledThree } from "../store/cluster_kit.ts";

const { k, a, b, c } = ledThree();
afterAll(() => k.close());

const send = (id: NodeId, path: string, init: RequestInit = {}): Promise<Response> => k.sendPath(id, path, init);
const post = (body: unknown): RequestInit => ({ method: "POST", body: JSON.stringify(body) });

interface PageJson {
  items: { key: string; value: string; version: number }[];
  next: string | null;
}

test("a page in key order with values and versions, at every level, on the leader and on a follower", async () => {
  expect((await send(a, "key", post({ "user/2": "two", "user/10": "ten", "user/1": "one", other: "x" }))).status).toBe(200);
  const version = k.proc(a).sm.versionOf("user/1")!;
  for (const id of [a, b]) {
    for (const level of ["linearizable", "leader", "stale"]) {
      const r = await send(id, `key?prefix=user%2F&level=${level}`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toContain("application/json");
      expect(Number(r.headers.get("x-applied-index"))).toBeGreaterThanOrEqual(version);
      expect((await r.json()) as PageJson).toEqual({
        items: [
          { key: "user/1", value: "one", version },
          { key: "user/10", value: "ten", version },
          { key: "user/2", value: "two", version },
        ],
        next: null,
      });
    }
  }
});

test("a follower's linearizable page includes a write acknowledged just before it", async () => {
  expect((await send(a, "key", post({ "fresh/1": "new" }))).status).toBe(200);
  // Without a listing through the read index, c could still lack the entry here.
  const r = await send(c, "key?prefix=fresh/");
  expect(((await r.json()) as PageJson).items.map((i) => i.key)).toEqual(["fresh/1"]);
});

test("pages chain by next; without a prefix every key is listed; the default limit applies", async () => {
  const pairs: Record<string, string> = {};
  for (let i = 0; i < 150; i++) pairs[`page/${String(i).padStart(3, "0")}`] = `v${i}`;
  expect((await send(a, "key", post(pairs))).status).toBe(200);
  const seen: string[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const query: string = `key?prefix=page/&limit=40${after === null ? "" : `&after=${encodeURIComponent(after)}`}`;
    const page = (await (await send(b, query)).json()) as PageJson;
    seen.push(...page.items.map((i) => i.key));
    if (page.next === null) break;
    after = page.next;
  }
  expect(seen).toEqual(Object.keys(pairs).sort());
  const all = (await (await send(a, "key")).json()) as PageJson;
  expect(all.items.length).toBe(listLimitDefault);
  expect(all.items[0]!.key).toBe("fresh/1");
  expect(all.next).toBe(all.items[listLimitDefault - 1]!.key);
});

test("malformed parameters are 400 with the JSON error, before the store is asked", async () => {
  const asked: string[] = [];
  const me = { id: "n", address: "n:1" };
  const status: StatusReport = { me, leader: me, followers: [], state: "leader", term: 1, commit: 1, applied: 1, lastIndex: 1, lastTerm: 1, members: [] };
  const store: StoreApi = {
    get: () => Promise.reject(new Error("no")),
    set: () => Promise.reject(new Error("no")),
    delete: () => Promise.reject(new Error("no")),
    join: () => Promise.reject(new Error("no")),
    remove: () => Promise.reject(new Error("no")),
    status: () => status,
    list: (query, level) => {
      asked.push(`${JSON.stringify(query)} ${level}`);
      return Promise.resolve({ items: [], next: null, applied: 1 });
    },
  };
  const fetch = createFetch(store);
  const bad: readonly [string, RegExp][] = [
    ["key?prefix=a&sort=desc", /unknown query parameter "sort"/],
    ["key?prefix=a&prefix=b", /given twice/],
    ["key?limit=", /invalid limit/],
    ["key?limit=0", /invalid limit/],
    ["key?limit=1001", /invalid limit/],
    ["key?limit=12abc", /invalid limit/],
    ["key?limit=-1", /invalid limit/],
    ["key?prefix=user/&after=item/3", /invalid after/],
    ["key?after=", /invalid after/],
    ["key?prefix=%zz", /percent-encoding/],
    ["key?level=fresh", /unknown read level/],
  ];
  for (const [path, pattern] of bad) {
    const r = await fetch(new Request(`http://n/${path}`));
    expect({ path, status: r.status }).toEqual({ path, status: 400 });
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(((await r.json()) as { error: string }).error).toMatch(pattern);
  }
  expect(asked).toEqual([]);
  const ok = await fetch(new Request("http://n/key?prefix=a+b%2Fc&after=a+b%2Fc1&limit=1000&level=stale"));
  expect(ok.status).toBe(200);
  expect(asked).toEqual([`${JSON.stringify({ prefix: "a b/c", after: "a b/c1", limit: 1000 })} stale`]);
});
