// Goal: with -auth, every route that reaches the store checks its permission before its
// handler, in the fast path (hot routes) and in the Hono app (cold ones) alike: 401 with
// WWW-Authenticate for missing, malformed or wrong credentials, 403 for a missing permission,
// 200 when granted, the JSON error body always, the store never called when refused, and the
// allowed user handed to the store. Routes that never reach the store need no credentials.
// Method: createFetch over a fake store that records calls and callers, and the same requests
// through the Hono app alone; a fallback spy shows which requests the fast path answered.

import { describe, expect, test } from "bun:test";
import { appRoutes, createApp } from "../../../http/app.ts";
import { createFetch, type FetchHandler, withFastPath } from "../../../http/fast_fetch.ts";
import type { Users } from "../../../security/auth_file.ts";
import { Authenticator } from "../../../security/authenticator.ts";
import { allPerms, type PermissionName, permissionBits } from "../../../security/permissions.ts";
import type { Caller, ReadLevel, StatusReport, StoreApi } from "../../../store/api.ts";
import type { ListPage, ListQuery } from "../../../store/listing.ts";

/** Records each call with the caller it came with. */
class FakeStore implements StoreApi {
  readonly calls: string[] = [];
  readonly callers: (string | null | undefined)[] = [];
  #call(call: string, caller: Caller | undefined): void {
    this.calls.push(call);
    this.callers.push(caller === undefined ? undefined : caller.user);
  }
  get(key: string, level: ReadLevel, caller?: Caller): Promise<string | null> {
    this.#call(`get ${key} ${level}`, caller);
    return Promise.resolve("v");
  }
  async set(pairs: ReadonlyArray<readonly [string, string]>, caller?: Caller): Promise<void> {
    this.#call(`set ${JSON.stringify(pairs)}`, caller);
  }
  async delete(key: string, caller?: Caller): Promise<void> {
    this.#call(`delete ${key}`, caller);
  }
  async join(id: string, addr: string, caller?: Caller): Promise<void> {
    this.#call(`join ${id} ${addr}`, caller);
  }
  async remove(id: string, caller?: Caller): Promise<void> {
    this.#call(`remove ${id}`, caller);
  }
  async list(query: ListQuery, level: ReadLevel, caller?: Caller): Promise<ListPage> {
    this.#call(`list ${query.prefix} ${level}`, caller);
    return { items: [], next: null, applied: 3 };
  }
  status(): StatusReport {
    this.#call("status", undefined);
    const me = { id: "n1", address: "localhost:12000" };
    return { me, leader: me, followers: [], state: "leader", term: 2, commit: 3, applied: 3, lastIndex: 3, lastTerm: 2, members: [] };
  }
}

const hashOf = (pw: string): string => Bun.password.hashSync(pw, { algorithm: "bcrypt", cost: 4 });
const names: PermissionName[] = ["read", "write", "join", "remove", "status"];
/** A user per permission (named after it, password "<name>-pw"), one with all, and optionally "*". */
function usersWith(anonymousPerms: number): Users {
  const list = names.map((n) => [n, { username: n, passwordHash: hashOf(`${n}-pw`), perms: permissionBits[n] }] as const);
  return { users: new Map([...list, ["root", { username: "root", passwordHash: hashOf("root-pw"), perms: allPerms }]]), anonymousPerms };
}
const plainUsers = usersWith(0);

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

/** One route that reaches the store, the permission it needs, and whether the fast path takes it. */
interface RouteCase {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  readonly perm: PermissionName;
  readonly hot: boolean;
  readonly call: string;
}
const routeCases: RouteCase[] = [
  { method: "GET", path: "/key/k1", perm: "read", hot: true, call: "get k1 linearizable" },
  { method: "POST", path: "/key", body: `{"k1":"v1"}`, perm: "write", hot: true, call: `set [["k1","v1"]]` },
  { method: "DELETE", path: "/key/k1", perm: "write", hot: false, call: "delete k1" },
  { method: "POST", path: "/join", body: `{"id":"n4","addr":"localhost:12004"}`, perm: "join", hot: false, call: "join n4 localhost:12004" },
  { method: "POST", path: "/remove", body: `{"id":"n3"}`, perm: "remove", hot: false, call: "remove n3" },
  { method: "GET", path: "/status", perm: "status", hot: false, call: "status" },
  { method: "GET", path: "/key?prefix=k", perm: "read", hot: false, call: "list k linearizable" },
];

/** The two ways in: the server's handler (fast path in front), and the Hono app alone. */
function handlers(users: Users) {
  const store = new FakeStore();
  const options = { bodyBytesMax: 1024, auth: new Authenticator(users) };
  let fellBack = 0;
  const app = createApp(store, options);
  const fast = withFastPath((request) => {
    fellBack++;
    return app.fetch(request);
  }, appRoutes(store, options));
  return { store, fast, hono: app.fetch as FetchHandler, fellBack: () => fellBack };
}

function request(c: RouteCase, authorization?: string): Request {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  return new Request(`http://127.0.0.1:32001${c.path}`, { method: c.method, headers, ...(c.body === undefined ? {} : { body: c.body }) });
}

async function expectRefused(response: Response, status: 401 | 403, pattern: RegExp): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/json");
  expect(response.headers.get("www-authenticate")).toBe(status === 401 ? 'Basic realm="hraftd"' : null);
  const body = (await response.json()) as { error: string };
  expect(body.error).toMatch(pattern);
  expect(body.error).not.toContain("-pw"); // no password ever echoed
}

for (const way of ["fast path", "Hono"] as const) {
  describe(`each permission granted and denied, through ${way}`, () => {
    for (const c of routeCases) {
      test(`${c.method} ${c.path} needs "${c.perm}"`, async () => {
        const h = handlers(plainUsers);
        const send = way === "fast path" ? h.fast : h.hono;
        await expectRefused(await send(request(c)), 401, /authentication required: this request needs the "\w+" permission/);
        await expectRefused(await send(request(c, "Bearer abc")), 401, /malformed Authorization header/);
        await expectRefused(await send(request(c, basic(c.perm, "wrong"))), 401, /^wrong user name or password$/);
        await expectRefused(await send(request(c, basic("nobody", `${c.perm}-pw`))), 401, /^wrong user name or password$/);
        for (const other of names.filter((n) => n !== c.perm)) {
          await expectRefused(await send(request(c, basic(other, `${other}-pw`))), 403, new RegExp(`user "${other}" does not have the "${c.perm}" permission`));
        }
        expect(h.store.calls).toEqual([]); // nothing refused reached the store
        for (const user of [c.perm, "root"]) {
          const response = await send(request(c, basic(user, `${user}-pw`)));
          expect(response.status).toBe(200);
        }
        expect(h.store.calls).toEqual([c.call, c.call]);
        // The store learns who asked (for the leader's check); /status has nothing to forward.
        expect(h.store.callers).toEqual(c.path === "/status" ? [undefined, undefined] : [c.perm, "root"]);
        if (way === "fast path") expect(h.fellBack() === 0).toBe(c.hot);
      });
    }
  });
}

describe("the '*' user", () => {
  test("its permissions need no credentials (even wrong ones), and the store hears an anonymous caller", async () => {
    const h = handlers(usersWith(permissionBits.read | permissionBits.status));
    for (const send of [h.fast, h.hono]) {
      expect((await send(request(routeCases[0]!))).status).toBe(200);
      expect((await send(request(routeCases[0]!, basic("write", "wrong")))).status).toBe(200);
      expect((await send(request(routeCases[5]!))).status).toBe(200);
      await expectRefused(await send(request(routeCases[1]!)), 401, /needs the "write" permission/);
    }
    expect(h.store.callers).toEqual([null, null, undefined, null, null, undefined]);
  });
});

describe("routes that never reach the store need no credentials", () => {
  test("404, 405 and the 400 for a missing key answer as without -auth", async () => {
    const h = handlers(plainUsers);
    for (const send of [h.fast, h.hono]) {
      expect((await send(new Request("http://h/nowhere"))).status).toBe(404);
      expect((await send(new Request("http://h/key", { method: "PUT" }))).status).toBe(405);
      expect((await send(new Request("http://h/status", { method: "POST" }))).status).toBe(405);
      expect((await send(new Request("http://h/key/"))).status).toBe(400);
    }
  });
});

describe("without -auth", () => {
  test("nothing is checked, and a hot read never looks at the request's headers", async () => {
    const store = new FakeStore();
    const fetch = createFetch(store, { bodyBytesMax: 1024 });
    const blind = new Request("http://127.0.0.1:32001/key/k1?level=stale");
    Object.defineProperty(blind, "headers", { get: () => { throw new Error("headers read"); } });
    expect((await fetch(blind)).status).toBe(200);
    expect(store.callers).toEqual([undefined]);
  });
});
