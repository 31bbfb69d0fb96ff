// Goal: the fast path's router is derived from the route table (http/routes.ts), not written
// beside it: it takes a request exactly when the table's first matching route, in Hono's
// order, is one marked hot, and it refuses a table it could misread.
// Method: hotMatcher over the real table and over small made-up tables.

import { describe, expect, test } from "bun:test";
import { appRoutes } from "../../../http/app.ts";
import { hotMatcher, hotQuery } from "../../../http/hot_route.ts";
import type { Route, RouteMethod } from "../../../http/routes.ts";
import type { StoreApi } from "../../../store/api.ts";

const h = "http://127.0.0.1:1";
const answer = () => new Response("x");
function route(methods: RouteMethod[], path: string, hot = false, query?: string): Route {
  return { methods, path, hot, handle: answer, ...(query === undefined ? {} : { query }) };
}

describe("on the real table", () => {
  const routes = appRoutes({} as StoreApi);
  const match = hotMatcher(routes);
  const read = routes.find((r) => r.path === "/key/:k" && r.methods.includes("GET"))!;
  const write = routes.find((r) => r.path === "/key" && r.methods.includes("POST"))!;

  test("the hot routes are the table's GET /key/:k and POST /key", () => {
    expect(routes.filter((r) => r.hot === true)).toEqual([write, read]);
    expect(match("GET", `${h}/key/a`)).toBe(read);
    expect(match("GET", `${h}/key/a?level=stale`)).toBe(read);
    expect(match("POST", `${h}/key`)).toBe(write);
  });

  test("every other route, method or odd URL goes to Hono", () => {
    for (const [method, url] of [
      ["DELETE", `${h}/key/a`],
      ["HEAD", `${h}/key/a`],
      ["PUT", `${h}/key`],
      ["GET", `${h}/key`],
      ["GET", `${h}/key/`],
      ["GET", `${h}/status`],
      ["POST", `${h}/join`],
      ["GET", `${h}/key/a#f`],
      ["GET", `${h}/key/a?level=stale&x=1`],
    ] as const) {
      expect({ method, url, route: match(method, url) }).toEqual({ method, url, route: null });
    }
  });

  test("hotQuery gives the plain value the matcher accepted", () => {
    expect(hotQuery(`${h}/key/a`, "level")).toBeUndefined();
    expect(hotQuery(`${h}/key/a?level=stale`, "level")).toBe("stale");
    expect(hotQuery(`${h}/key/a?level=`, "level")).toBe("");
  });
});

describe("derived from whatever table it is given", () => {
  test("a route marked hot is taken; the same route unmarked is not", () => {
    const status = route(["GET"], "/status", true);
    expect(hotMatcher([status])("GET", `${h}/status`)).toBe(status);
    expect(hotMatcher([route(["GET"], "/status")])("GET", `${h}/status`)).toBeNull();
  });

  test("the first matching route decides, as in Hono", () => {
    const hot = route(["GET"], "/a/:x", true);
    const earlier = route(["ALL"], "/a/:y");
    expect(hotMatcher([earlier, hot])("GET", `${h}/a/1`)).toBeNull();
    expect(hotMatcher([hot, earlier])("GET", `${h}/a/1`)).toBe(hot);
    // An earlier route for another method does not count.
    expect(hotMatcher([route(["POST"], "/a/:y"), hot])("GET", `${h}/a/1`)).toBe(hot);
  });

  test("an earlier path it cannot read sends everything after it to Hono", () => {
    const hot = route(["GET"], "/a/:x", true);
    const match = hotMatcher([route(["GET"], "/b/*"), hot]);
    expect(match("GET", `${h}/a/1`)).toBeNull();
  });

  test("literal segments match as written; parameters match one non-empty segment", () => {
    const hot = route(["GET"], "/a/:x/b", true);
    const match = hotMatcher([hot]);
    expect(match("GET", `${h}/a/%2F/b`)).toBe(hot);
    expect(match("GET", `${h}/a//b`)).toBeNull();
    expect(match("GET", `${h}/a/1/2/b`)).toBeNull();
    expect(match("GET", `${h}/%61/1/b`)).toBeNull();
    expect(match("GET", `${h}/a/1/b/`)).toBeNull();
  });

  test("a route without a query parameter takes any query; one with takes only name=<plain>", () => {
    const plain = route(["GET"], "/p", true);
    const withQuery = route(["GET"], "/q", true, "n");
    const match = hotMatcher([plain, withQuery]);
    expect(match("GET", `${h}/p?anything=1&b`)).toBe(plain);
    expect(match("GET", `${h}/q?n=A-z_0.~`)).toBe(withQuery);
    expect(match("GET", `${h}/q?n=%41`)).toBeNull();
    expect(match("GET", `${h}/q?m=1`)).toBeNull();
  });

  test("a table where an earlier literal could take a hot route's request once decoded is refused", () => {
    expect(() => hotMatcher([route(["GET"], "/a/b"), route(["GET"], "/a/:x", true)])).toThrow(/may take its requests/);
    expect(() => hotMatcher([route(["ALL"], "/a/b"), route(["GET"], "/a/:x", true)])).toThrow(/may take its requests/);
    // Told apart on the raw URL: different lengths, different literals, a parameter first.
    expect(() => hotMatcher([route(["GET"], "/a/"), route(["GET"], "/b/:x"), route(["GET"], "/a/:x", true)])).not.toThrow();
    expect(() => hotMatcher([route(["GET"], "/a/:y"), route(["GET"], "/a/b", true)])).not.toThrow();
  });
});
