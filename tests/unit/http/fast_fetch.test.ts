// Goal: the fast path in front of the Hono app (http/fast_fetch.ts, http/hot_route.ts) answers
// every request exactly as the app alone does (status, headers, body, store calls, errors
// reported), and takes the requests it is meant to take and no others.
// Method: a table of raw URLs (odd keys, percent-encoding, query variants, trailing slashes,
// methods, hosts as Bun.serve really hands them over, e.g. with '#' kept or no scheme at all)
// and of store failures, each run once through createApp(...).fetch and once through the
// fast path, on two identical fake stores; plus one check over real sockets.

import { describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { appRoutes, createApp } from "../../../http/app.ts";
import { createFetch, type FetchHandler, withFastPath } from "../../../http/fast_fetch.ts";
import { serve } from "../../../http/serve.ts";
import type { ReadLevel, StatusReport, StoreApi } from "../../../store/api.ts";
import { StoreError } from "../../../store/errors.ts";

/** How a failing store.get fails: by throwing at the call, or by a rejected promise. */
type FailureMode = "throw" | "reject";

/** A store that records its calls; `fail`, when given, throws at every call. */
class FakeStore implements StoreApi {
  readonly map = new Map<string, string>([
    ["r-1", "value-0123456789"],
    ["a/b", "slash"],
    ["%", "percent"],
    ["ключ", "unicode"],
    ["..", "dots"],
    ["__proto__", "proto"],
    ["a\nb", "newline"],
  ]);
  readonly calls: string[] = [];
  constructor(
    readonly fail: ((call: string) => void) | null = null,
    readonly mode: FailureMode = "reject",
  ) {}

  #call(call: string): void {
    this.calls.push(call);
    this.fail?.(call);
  }
  get(key: string, level: ReadLevel): Promise<string | null> {
    // Not async, so that a failure can also be a synchronous throw (mode "throw").
    try {
      this.#call(`get ${key} ${level}`);
    } catch (e) {
      if (this.mode === "throw") throw e;
      return Promise.reject(e);
    }
    return Promise.resolve(this.map.get(key) ?? null);
  }
  async set(pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
    this.#call(`set ${JSON.stringify(pairs)}`);
    for (const [k, v] of pairs) this.map.set(k, v);
  }
  async delete(key: string): Promise<void> {
    this.#call(`delete ${key}`);
    this.map.delete(key);
  }
  async join(id: string, addr: string): Promise<void> {
    this.#call(`join ${id} ${addr}`);
  }
  async remove(id: string): Promise<void> {
    this.#call(`remove ${id}`);
  }
  status(): StatusReport {
    this.calls.push("status");
    const me = { id: "n1", address: "localhost:12000" };
    return { me, leader: me, followers: [], state: "leader", term: 2, commit: 3, applied: 3, lastIndex: 3, lastTerm: 2, members: [] };
  }
}

/** A Request whose url is exactly `raw`, as a server may hand it over (WHATWG parsing would normalise it). */
function rawRequest(raw: string, init: RequestInit): Request {
  const request = new Request("http://placeholder/", init);
  Object.defineProperty(request, "url", { value: raw });
  return request;
}

/** One request of the table: `fast` says whether the fast path must take it. */
interface Case {
  readonly method?: string;
  readonly url: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  readonly fast: boolean;
}

const h = "http://127.0.0.1:32001";
const get = (path: string, fast: boolean): Case => ({ url: h + path, fast });
const cases: Case[] = [
  // The hot reads.
  get("/key/r-1", true),
  get("/key/r-1?level=stale", true),
  get("/key/r-1?level=leader", true),
  get("/key/r-1?level=linearizable", true),
  get("/key/missing?level=stale", true),
  get("/key/__proto__", true),
  // Odd keys, percent-encoding included: keyFromUrl decodes them in both.
  get("/key/a%2Fb", true),
  get("/key/a%2fb?level=stale", true),
  get("/key/%25", true),
  get("/key/%2525", true),
  get("/key/%D0%BA%D0%BB%D1%8E%D1%87", true),
  get("/key/a%0Ab", true),
  get("/key/%zz", true),
  get("/key/%E0%A4", true),
  get("/key/a%", true),
  get("/key/..", true),
  get("/key/%2e%2e", true),
  get("/key/a:b@c;d=e,f", true),
  get("/key/r-1%3Flevel=stale", true),
  // A plain `level=<value>` is the route's query, good or bad: the handler answers a bad one.
  get("/key/r-1?level=", true),
  get("/key/r-1?level=STALE", true),
  get("/key/r-1?level=eventual", true),
  get("/key/%zz?level=eventual", true),
  // Query variants the fast path leaves to the app.
  get("/key/r-1?", false),
  get("/key/r-1?level", false),
  get("/key/r-1?level=stale&x=1", false),
  get("/key/r-1?x=1&level=stale", false),
  get("/key/r-1?level=stale&level=leader", false),
  get("/key/r-1?level=st%61le", false),
  get("/key/r-1?level=stale%20", false),
  get("/key/r-1?%6Cevel=stale", false),
  get("/key/r-1?level=stale?", false),
  get("/key/r-1?level=stale+", false),
  get("/key/r-1?levelx=stale", false),
  // Paths the fast path leaves to the app.
  get("/key/r-1/", false),
  get("/key/a/b", false),
  get("/key/", false),
  get("/key//", false),
  get("/key", false),
  get("/key?level=stale", false),
  get("//key/r-1", false),
  get("/keyx/r-1", false),
  get("/KEY/r-1", false),
  get("/%6Bey/r-1", false),
  get("/ke%79/r-1", false),
  get("/", false),
  get("/status", false),
  get("/nope", false),
  // '#' kept in the url (Bun.serve keeps it), hosts of every shape, no scheme at all.
  get("/key/r-1#x", false),
  get("/key/r-1?level=stale#x", false),
  get("/key/r-1#?level=stale", false),
  { url: "http://[::1]:32001/key/r-1?level=stale", fast: true },
  { url: "https://h/key/r-1", fast: true },
  { url: "http://h/key/key/r-1", fast: false },
  { url: "/key/r-1", fast: false },
  { url: "/key/key/r-1", fast: true },
  { url: "/key/key/r-1?level=stale", fast: true },
  { url: "http://a?b/key/r-1?level=stale", fast: false },
  // Other methods on the same paths.
  { method: "HEAD", url: `${h}/key/r-1`, fast: false },
  { method: "HEAD", url: `${h}/key/r-1?level=stale`, fast: false },
  { method: "DELETE", url: `${h}/key/r-1`, fast: false },
  { method: "PUT", url: `${h}/key/r-1`, body: "{}", fast: false },
  { method: "OPTIONS", url: `${h}/key/r-1?level=stale`, fast: false },
  { method: "GET", url: `${h}/key`, fast: false },
  { method: "PUT", url: `${h}/key`, body: "{}", fast: false },
  // The hot write, good and bad.
  { method: "POST", url: `${h}/key`, body: '{"k1":"v1","k2":"v2"}', fast: true },
  { method: "POST", url: `${h}/key?x=1`, body: '{"k1":"v1"}', fast: true },
  { method: "POST", url: `${h}/key`, body: "{}", fast: true },
  { method: "POST", url: `${h}/key`, body: '{"a":', fast: true },
  { method: "POST", url: `${h}/key`, body: '{"a":1}', fast: true },
  { method: "POST", url: `${h}/key`, body: '{"":"v"}', fast: true },
  { method: "POST", url: `${h}/key`, body: "[]", fast: true },
  { method: "POST", url: `${h}/key`, body: JSON.stringify({ k: "x".repeat(2000) }), fast: true },
  { method: "POST", url: `${h}/key`, body: '{"a":"1"}', headers: { "content-length": "ten" }, fast: true },
  { method: "POST", url: `${h}/key`, body: '{"a":"1"}', headers: { "content-length": "5000" }, fast: true },
  { method: "POST", url: `${h}/key/`, body: '{"a":"1"}', fast: false },
  { method: "POST", url: `${h}/key/r-1`, body: '{"a":"1"}', fast: false },
  { method: "POST", url: `${h}/ke%79`, body: '{"a":"1"}', fast: false },
  { method: "POST", url: `${h}/keys`, body: '{"a":"1"}', fast: false },
  { method: "POST", url: `${h}/key#x`, body: '{"a":"1"}', fast: false },
  { method: "POST", url: `${h}/join`, body: '{"id":"n2","addr":"localhost:12001"}', fast: false },
];

/** Everything a client could observe of one answer, plus what the store saw. */
interface Outcome {
  readonly status?: number;
  readonly headers?: Array<[string, string]>;
  readonly body?: string;
  readonly rejected?: string;
  readonly calls: string[];
  readonly reported: string[];
}

/** A store that also answers stale and leader reads at once (store.peek), as Store does. */
class PeekingStore extends FakeStore {
  peek(key: string, level: ReadLevel): string | null | undefined {
    if (level === "linearizable") return undefined;
    this.calls.push(`get ${key} ${level}`);
    return this.map.get(key) ?? null;
  }
}

/** Which handler a request goes through: the app alone, or the fast path in front of it. */
type Variant = "app" | "fast" | "fast+peek";

/** Runs one case on a fresh store: what came out, and whether the request reached the app. */
async function run(variant: Variant, c: Case, fail: ((call: string) => void) | null = null, mode?: FailureMode) {
  const store = variant === "fast+peek" ? new PeekingStore(fail, mode) : new FakeStore(fail, mode);
  const reported: string[] = [];
  const options = { bodyBytesMax: 1024, internalErrorDone: (e: unknown) => reported.push(String(e)) };
  const app = createApp(store, options);
  let reachedApp = false;
  const handler: FetchHandler = variant === "app" ? app.fetch : withFastPath((r) => {
    reachedApp = true;
    return app.fetch(r);
  }, appRoutes(store, options), options);
  const method = c.method ?? "GET";
  const request = rawRequest(c.url, { method, body: c.body ?? null, headers: c.headers ?? {} });
  let outcome: Outcome;
  try {
    const r = await handler(request);
    const headers = [...r.headers.entries()].sort(([a], [b]) => a.localeCompare(b));
    outcome = { status: r.status, headers, body: await r.text(), calls: store.calls, reported };
  } catch (e) {
    outcome = { rejected: String(e), calls: store.calls, reported };
  }
  return { outcome, reachedApp };
}

function describeCase(c: Case): string {
  return `${c.method ?? "GET"} ${JSON.stringify(c.url)}${c.body === undefined ? "" : ` ${c.body.slice(0, 30)}`}`;
}

describe("the fast path answers as the app does", () => {
  for (const c of cases) {
    test(`${describeCase(c)} (${c.fast ? "fast path" : "to the app"})`, async () => {
      const app = await run("app", c);
      const fast = await run("fast", c);
      expect(fast.outcome).toEqual(app.outcome);
      expect(fast.reachedApp).toBe(!c.fast);
      // Answered synchronously from store.peek where it can: still the app's answer.
      const peeked = await run("fast+peek", c);
      expect(peeked.outcome).toEqual(app.outcome);
    });
  }
});

describe("store failures come out the same through either", () => {
  const failures: Array<[string, (call: string) => void]> = [
    ["noLeader with a leader hint", () => {
      throw new StoreError("noLeader", "not the leader", "localhost:11001");
    }],
    ["timeout", () => {
      throw new StoreError("timeout", "read timed out");
    }],
    ["outcomeUnknown", () => {
      throw new StoreError("outcomeUnknown", "gave up");
    }],
    ["an internal error (500, reported)", () => {
      throw new Error("boom");
    }],
    ["a thrown non-Error (rejects, as Hono does)", () => {
      throw "not an Error";
    }],
  ];
  const targets: Case[] = [
    get("/key/r-1", true),
    get("/key/r-1?level=stale", true),
    { method: "POST", url: `${h}/key`, body: '{"k":"v"}', fast: true },
    get("/key/r-1?level=stale&x=1", false),
  ];
  for (const [name, fail] of failures) {
    for (const c of targets) {
      for (const mode of ["reject", "throw"] as const) {
        test(`${name} (${mode}) on ${describeCase(c)}`, async () => {
          const app = await run("app", c, fail, mode);
          const fast = await run("fast", c, fail, mode);
          expect(fast.outcome).toEqual(app.outcome);
          expect(fast.reachedApp).toBe(!c.fast);
          expect(app.outcome.status).not.toBe(200);
        });
      }
    }
  }
});

describe("over real sockets", () => {
  /** Sends one raw HTTP/1.1 request and returns the raw answer without its Date header. */
  function exchange(port: number, head: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => socket.write(`${head}\r\nConnection: close\r\n\r\n`));
      let data = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (data += chunk));
      socket.on("close", () => resolve(data.replace(/^date: .*\r\n/im, "")));
      socket.on("error", reject);
    });
  }

  test("raw request targets get the same bytes from createFetch as from the app", async () => {
    const appServer = await serve({ hostname: "127.0.0.1", port: 0, fetch: createApp(new FakeStore()).fetch });
    const fastServer = await serve({ hostname: "127.0.0.1", port: 0, fetch: createFetch(new FakeStore()) });
    try {
      const targets = [
        "/key/r-1?level=stale",
        "/key/r-1",
        "/key/nope",
        "/key/r-1#frag",
        "/key/r-1?level=stale#frag",
        "/key/..",
        "/key/../status",
        "/key/%2e%2e",
        "/key/ключ",
        "/key/%zz",
        "/key/r-1/",
        "/key/r-1?level=",
        "http://other:1/key/r-1?level=stale",
      ];
      for (const target of targets) {
        for (const host of ["h:1", "a/b"]) {
          const head = `GET ${target} HTTP/1.1\r\nHost: ${host}`;
          const fromApp = await exchange(appServer.port, head);
          expect(fromApp).toMatch(/^HTTP\/1\.1 \d{3} /);
          expect({ head, answer: await exchange(fastServer.port, head) }).toEqual({ head, answer: fromApp });
        }
      }
    } finally {
      await appServer.close();
      await fastServer.close();
    }
  });
});
