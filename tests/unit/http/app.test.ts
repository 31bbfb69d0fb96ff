// Goal: every route of the HTTP API answers as DESIGN.md's table says, every bad input gets its
// 4xx with a JSON error, nothing is written for a rejected request, and StoreErrors map to
// the right statuses.
// Method: app.request() against an in-memory fake StoreApi that records every call (no sockets).

import { beforeEach, describe, expect, test } from "bun:test";
import { createApp } from "../../../http/app.ts";
import type { ReadLevel, StatusReport, StoreApi } from "../../../store/api.ts";
import { StoreError } from "../../../store/errors.ts";

/** An in-memory StoreApi: a Map, a log of calls, and an optional error for the next call. */
class FakeStore implements StoreApi {
  readonly map = new Map<string, string>();
  readonly calls: string[] = [];
  failWith: StoreError | null = null;

  #maybeFail(call: string): void {
    this.calls.push(call);
    const error = this.failWith;
    if (error !== null) {
      this.failWith = null;
      throw error;
    }
  }
  async get(key: string, level: ReadLevel): Promise<string | null> {
    this.#maybeFail(`get ${key} ${level}`);
    return this.map.get(key) ?? null;
  }
  async set(pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
    this.#maybeFail(`set ${JSON.stringify(pairs)}`);
    for (const [k, v] of pairs) this.map.set(k, v);
  }
  async delete(key: string): Promise<void> {
    this.#maybeFail(`delete ${key}`);
    this.map.delete(key);
  }
  async join(id: string, addr: string): Promise<void> {
    this.#maybeFail(`join ${id} ${addr}`);
  }
  async remove(id: string): Promise<void> {
    this.#maybeFail(`remove ${id}`);
  }
  status(): StatusReport {
    this.calls.push("status");
    return {
      me: { id: "n1", address: "localhost:12000" },
      leader: { id: "n1", address: "localhost:12000" },
      followers: [{ id: "n2", address: "localhost:12001" }],
      state: "leader",
      term: 2,
      commit: 10,
      applied: 10,
      lastIndex: 10,
      lastTerm: 2,
      members: [
        { id: "n1", addr: "localhost:12000", suffrage: "voter" },
        { id: "n2", addr: "localhost:12001", suffrage: "voter" },
      ],
    };
  }
}

let store: FakeStore;
let app: ReturnType<typeof createApp>;
beforeEach(() => {
  store = new FakeStore();
  app = createApp(store, { bodyBytesMax: 1024 });
});

function post(path: string, body: RequestInit["body"], headers: Record<string, string> = {}): Promise<Response> {
  return Promise.resolve(app.request(path, { method: "POST", body, headers }));
}
async function expectError(response: Response | Promise<Response>, status: number, pattern?: RegExp) {
  const r = await response;
  expect(r.status).toBe(status);
  expect(r.headers.get("content-type")).toContain("application/json");
  const body = (await r.json()) as { error?: unknown };
  expect(typeof body.error).toBe("string");
  if (pattern) expect(body.error as string).toMatch(pattern);
  return r;
}

describe("POST /key", () => {
  test("sets every key in one call, whatever the Content-Type (curl -d sends a form type)", async () => {
    const r = await post("/key", '{"user1":"batman","user2":"robin"}', {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("");
    expect(store.calls).toEqual([`set [["user1","batman"],["user2","robin"]]`]);
  });

  test("an empty object writes nothing and answers 200 (as hraftd)", async () => {
    expect((await post("/key", "{}")).status).toBe(200);
    expect(store.calls).toEqual([]);
  });

  test("a body streamed without Content-Length is accepted", async () => {
    const stream = new Blob(['{"a":', '"1"}']).stream();
    expect((await post("/key", stream)).status).toBe(200);
    expect(store.map.get("a")).toBe("1");
  });

  const bad: Array<[string, string, RegExp]> = [
    ["malformed JSON", '{"a":', /malformed JSON/],
    ["empty body", "", /malformed JSON/],
    ["an array", '["a","b"]', /object/],
    ["a string", '"a"', /object/],
    ["null", "null", /object/],
    ["a number value", '{"a":"1","b":2}', /not a string/],
    ["a null value", '{"a":null}', /not a string/],
    ["an object value", '{"a":{"b":"c"}}', /not a string/],
    ["an empty key", '{"":"v","a":"1"}', /empty key/],
    // Issue 12, item 13: URLs drop dot segments, so these could never be read or deleted.
    ["the key \".\"", '{".":"v"}', /could never be read/],
    ["the key \"..\" next to a good one", '{"a":"1","..":"v"}', /could never be read/],
  ];
  for (const [name, body, pattern] of bad) {
    test(`400 for ${name}, nothing written`, async () => {
      await expectError(post("/key", body), 400, pattern);
      expect(store.calls).toEqual([]);
    });
  }

  test("400 for a body that is not UTF-8", async () => {
    await expectError(post("/key", new Uint8Array([0x7b, 0xff, 0x7d])), 400, /UTF-8/);
    expect(store.calls).toEqual([]);
  });

  test("413 when Content-Length is over the limit, before reading the body", async () => {
    let pulled = false;
    const body = new ReadableStream<Uint8Array>({
      pull() {
        pulled = true;
        throw new Error("the body must not be read");
      },
    }, { highWaterMark: 0 });
    await expectError(post("/key", body, { "content-length": "5000" }), 413);
    expect(pulled).toBe(false);
    expect(store.calls).toEqual([]);
  });

  test("413 when the bytes read exceed the limit though Content-Length claims less", async () => {
    const body = JSON.stringify({ k: "x".repeat(2000) });
    await expectError(post("/key", body, { "content-length": "10" }), 413);
    expect(store.calls).toEqual([]);
  });

  test("413 for a streamed body without Content-Length that passes the limit", async () => {
    const parts = ['{"k":"', "x".repeat(600), "x".repeat(600), '"}'];
    await expectError(post("/key", new Blob(parts).stream()), 413);
    expect(store.calls).toEqual([]);
  });

  test("400 for a Content-Length that is not a number", async () => {
    await expectError(post("/key", '{"a":"1"}', { "content-length": "ten" }), 400, /Content-Length/);
  });
});

describe("GET /key/<k>", () => {
  test('200 {"k":"v"}, linearizable by default', async () => {
    store.map.set("user1", "batman");
    const r = await app.request("/key/user1");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(await r.json()).toEqual({ user1: "batman" });
    expect(store.calls).toEqual(["get user1 linearizable"]);
  });

  test("404 with a JSON error when absent", async () => {
    await expectError(app.request("/key/nope"), 404, /not found/);
  });

  for (const level of ["linearizable", "leader", "stale"]) {
    test(`?level=${level} reaches the store`, async () => {
      await app.request(`/key/a?level=${level}`);
      expect(store.calls).toEqual([`get a ${level}`]);
    });
  }

  test("an unknown level is a 400 and no read happens", async () => {
    await expectError(app.request("/key/a?level=eventual"), 400, /level/);
    expect(store.calls).toEqual([]);
  });

  test("URL-encoded keys are decoded once; odd keys round-trip through JSON", async () => {
    const key = 'a/b c%d?"ключ"';
    store.map.set(key, "v");
    const r = await app.request(`/key/${encodeURIComponent(key)}`);
    expect(await r.json()).toEqual({ [key]: "v" });
    store.map.set("__proto__", "p");
    const proto = await app.request("/key/__proto__");
    expect(await proto.text()).toBe('{"__proto__":"p"}');
  });

  test("invalid percent-encoding in the key is a 400", async () => {
    await expectError(app.request("/key/%zz"), 400, /percent/);
    await expectError(app.request("/key/%E0%A4"), 400, /percent/);
    expect(store.calls).toEqual([]);
  });

  test("a missing or empty key is a 400 (DELETE /key, /key/; GET /key lists keys)", async () => {
    await expectError(app.request("/key", { method: "DELETE" }), 400, /missing key/);
    await expectError(app.request("/key/"), 400, /missing key/);
    await expectError(app.request("/key/", { method: "DELETE" }), 400, /missing key/);
    expect(store.calls).toEqual([]);
  });

  test("HEAD is served like GET, without a body", async () => {
    store.map.set("a", "1");
    const r = await app.request("/key/a", { method: "HEAD" });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("");
  });
});

describe("DELETE /key/<k>", () => {
  test("deletes the decoded key", async () => {
    store.map.set("a b", "1");
    const r = await app.request("/key/a%20b", { method: "DELETE" });
    expect(r.status).toBe(200);
    expect(store.calls).toEqual(["delete a b"]);
    expect(store.map.has("a b")).toBe(false);
  });
});

describe("POST /join and POST /remove", () => {
  test("join passes id and addr", async () => {
    const r = await post("/join", '{"id":"node1","addr":"localhost:12001"}');
    expect(r.status).toBe(200);
    expect(store.calls).toEqual(["join node1 localhost:12001"]);
  });

  const badJoins = ['{"addr":"localhost:12001"}', '{"id":"node1"}', '{"id":"","addr":"x:1"}', '{"id":1,"addr":"x:1"}', "[]", "{"];
  for (const body of badJoins) {
    test(`join ${body} is a 400 and nothing is joined`, async () => {
      await expectError(post("/join", body), 400);
      expect(store.calls).toEqual([]);
    });
  }

  // Issue 12, item 11: a join that could never work is refused before the store sees it.
  const unworkableJoins: ReadonlyArray<readonly [string, RegExp]> = [
    ['{"id":"node1","addr":":12001"}', /no host/],
    ['{"id":"node1","addr":"not an address"}', /missing port/],
    ['{"id":"node1","addr":"localhost"}', /missing port/],
    ['{"id":"node1","addr":"localhost:0"}', /port 0/],
    ['{"id":"node1","addr":"localhost:65536"}', /invalid port/],
    ['{"id":"node1","addr":"0.0.0.0:12001"}', /0\.0\.0\.0/],
    ['{"id":"node1","addr":"[::]:12001"}', /no particular host/],
    ['{"id":"node1","addr":"bad host:12001"}', /invalid host/],
    ['{"id":"node 1","addr":"localhost:12001"}', /"id".*whitespace/],
    ['{"id":"node1\\u0000","addr":"localhost:12001"}', /"id".*control/],
    [JSON.stringify({ id: "n".repeat(129), addr: "localhost:12001" }), /"id".*longer/],
  ];
  for (const [body, pattern] of unworkableJoins) {
    test(`join ${body.slice(0, 60)} is a 400 naming the problem, and nothing is joined`, async () => {
      await expectError(post("/join", body), 400, pattern);
      expect(store.calls).toEqual([]);
    });
  }

  test("join takes every form of a dialable address", async () => {
    for (const addr of ["localhost:12001", "10.0.0.2:12001", "[::1]:12001", "[fe80::1%eth0]:12001", "node-2.example.com:1"]) {
      expect((await post("/join", JSON.stringify({ id: "node2", addr }))).status).toBe(200);
    }
    expect(store.calls).toHaveLength(5);
  });

  test("remove passes the id; without one it is a 400", async () => {
    expect((await post("/remove", '{"id":"node2"}')).status).toBe(200);
    await expectError(post("/remove", "{}"), 400, /id/);
    expect(store.calls).toEqual(["remove node2"]);
  });

  test("a body over the limit is a 413", async () => {
    await expectError(post("/join", JSON.stringify({ id: "x".repeat(2000), addr: "a:1" })), 413);
    expect(store.calls).toEqual([]);
  });
});

describe("GET /status", () => {
  test("returns the store's report as JSON, with hraftd's me/leader/followers", async () => {
    const r = await app.request("/status");
    expect(r.status).toBe(200);
    const body = (await r.json()) as StatusReport;
    expect(body).toEqual(store.status());
    expect(body.leader).toEqual({ id: "n1", address: "localhost:12000" });
  });
});

describe("unknown paths and wrong methods", () => {
  test("unknown path: 404 JSON", async () => {
    await expectError(app.request("/nope"), 404);
    await expectError(app.request("/key/a/b"), 404);
    await expectError(app.request("/status/x"), 404);
  });

  const wrong: Array<[string, string, string]> = [
    ["PUT", "/key", "GET, HEAD, POST"],
    ["GET", "/join", "POST"],
    ["DELETE", "/remove", "POST"],
    ["POST", "/status", "GET, HEAD"],
    ["POST", "/key/a", "GET, HEAD, DELETE"],
    ["PATCH", "/key/a", "GET, HEAD, DELETE"],
  ];
  for (const [method, path, allow] of wrong) {
    test(`${method} ${path}: 405 with Allow: ${allow}`, async () => {
      const r = await expectError(app.request(path, { method, body: method === "GET" ? null : "{}" }), 405);
      expect(r.headers.get("allow")).toBe(allow);
      expect(store.calls).toEqual([]);
    });
  }
});

describe("StoreError mapping", () => {
  const cases: Array<[StoreError, number, RegExp, string | null]> = [
    [new StoreError("noLeader", "no leader"), 503, /no leader/, "1"],
    [new StoreError("outcomeUnknown", "gave up waiting"), 503, /outcome is unknown/, null],
    [new StoreError("timeout", "read timed out"), 503, /timed out/, "1"],
    [new StoreError("unavailable", "too many"), 503, /too many/, "1"],
    [new StoreError("invalid", "bad"), 400, /bad/, null],
    [new StoreError("notFound", "no such key"), 404, /no such key/, null],
    [new StoreError("notMember", "no such node"), 404, /no such node/, null],
  ];
  for (const [error, status, pattern, retryAfter] of cases) {
    test(`${error.code} → ${status}`, async () => {
      store.failWith = error;
      const r = await expectError(post("/key", '{"a":"1"}'), status, pattern);
      expect(r.headers.get("retry-after")).toBe(retryAfter);
    });
  }

  test("a leader hint is passed on in the body", async () => {
    store.failWith = new StoreError("noLeader", "not the leader", "localhost:11001");
    const r = await app.request("/key/a?level=leader");
    expect(await r.json()).toEqual({ error: "not the leader", leader: "localhost:11001" });
  });

  test("any other error is a 500 with a JSON body, and is reported", async () => {
    const seen: unknown[] = [];
    const reporting = createApp(
      { ...store, get: () => Promise.reject(new Error("boom")) } as unknown as StoreApi,
      { internalErrorDone: (e) => seen.push(e) },
    );
    const r = await expectError(reporting.request("/key/a"), 500, /boom/);
    expect(r.status).toBe(500);
    expect(seen).toHaveLength(1);
  });
});
