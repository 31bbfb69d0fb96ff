// Recognises the two hot requests, GET /key/<k> with a plain ?level= and POST /key, from the
// raw URL with a few indexOf calls, so they can skip Hono's dispatch. Measured under wrk with
// 64 connections: the dispatch (Context, compose, router, getPath, query parsing) added about
// 8 µs of server CPU to a stale read that costs 20 µs without it; the bare server takes 15.
//
// It only ever says "hot" where Hono would pick the very same handler with the very same
// level; anything it is not sure of (HEAD, '#', '%' in the route word, other query strings,
// odd hosts) gets null and goes to the app. tests/unit/http/fast_fetch.test.ts checks this
// against the app on a table of odd URLs.

import type { ReadLevel } from "../store/api.ts";

/** A request the fast path answers itself. */
export type HotRoute =
  | { readonly route: "read"; readonly level: ReadLevel }
  | { readonly route: "write" };

const writeRoute: HotRoute = { route: "write" };

/** A read with no query string: Hono's c.req.query("level") is undefined, the default level. */
const defaultRead: HotRoute = { route: "read", level: "linearizable" };

/** The whole query strings that name a level; Hono's c.req.query("level") gives the same. */
const levelQueries: ReadonlyArray<readonly [string, HotRoute]> = (["stale", "linearizable", "leader"] as const).map(
  (level) => [`level=${level}`, { route: "read", level }] as const,
);

/** The hot route `url` takes with `method`, or null when the Hono app must decide. */
export function matchHotRoute(method: string, url: string): HotRoute | null {
  if (method !== "GET" && method !== "POST") return null;
  // Where Hono's getPath starts the path: the first "/" after "scheme://".
  const pathStart = url.indexOf("/", url.indexOf(":") + 4);
  if (pathStart < 0 || !url.startsWith("/key", pathStart)) return null;
  // Hono ends the path at '?' or '#', and looks for the query from index 8 on; a URL whose
  // '?' or '#' is not simply "path?query" is rare enough to leave to the app.
  if (url.includes("#")) return null;
  const queryStart = url.indexOf("?", 8);
  if (queryStart >= 0 && queryStart < pathStart) return null;
  const pathEnd = queryStart < 0 ? url.length : queryStart;

  if (method === "POST") return pathEnd === pathStart + 4 ? writeRoute : null;

  // GET /key/<one non-empty segment>. Percent-escapes in the segment are fine: Hono decodes
  // with decodeURI, which never yields '/', so its router matches /key/:k just as we do,
  // and the handler decodes the key from the raw URL in both cases (keyFromUrl).
  const keyStart = pathStart + 5;
  if (pathEnd <= keyStart || url.charCodeAt(pathStart + 4) !== 47 /* / */) return null;
  const slash = url.indexOf("/", keyStart);
  if (slash >= 0 && slash < pathEnd) return null;
  if (queryStart < 0) return defaultRead;
  return levelQuery(url, queryStart + 1);
}

/** The read whose whole query string, from `start` to the end of `url`, names a level. */
function levelQuery(url: string, start: number): HotRoute | null {
  // Compared in place, not sliced out: no string allocated on the hot path.
  for (const [query, route] of levelQueries) {
    if (url.length - start === query.length && url.startsWith(query, start)) return route;
  }
  return null;
}
