// The fast path's router, derived from the route table (http/routes.ts) rather than written
// beside it: it tries the table's routes in Hono's order on the raw URL, with a few indexOf
// calls, and says "hot" only when the first route that matches is one marked hot. Measured
// under wrk (bench/router_bench.ts): Hono's dispatch (Context, compose, router, getPath,
// query parsing) costs a stale read about a quarter of its throughput; this does not.
//
// It only ever names a route where Hono would pick that very route with the very same query
// value; anything it is not sure of (HEAD, '#', '%' in a literal segment, query strings
// other than `name=<plain value>`, odd hosts) gets null and goes to the app.
// tests/unit/http/fast_fetch.test.ts checks this against the app on a table of odd URLs.

import type { Route } from "./routes.ts";

/** One segment of a route's path: literal text, or a `:name` parameter (null). */
type Segment = string | null;

/** A route as the matcher tries it: its segments, or "any" for a path it cannot read. */
interface Candidate {
  readonly route: Route;
  readonly segments: readonly Segment[] | "any";
}

/** Picks the hot route a request takes, or null when the Hono app must decide. */
export type HotMatcher = (method: string, url: string) => Route | null;

/**
 * The candidates of one method, and room for the bounds of a URL's path segments: at most as
 * many as the longest candidate has (a path with more matches none of them).
 */
interface MethodTable {
  readonly candidates: readonly Candidate[];
  /** bounds[2i], bounds[2i + 1]: where segment i of the URL being matched starts and ends. */
  readonly bounds: Int32Array;
  readonly segmentsMax: number;
}

/**
 * The matcher for `routes` (in Hono's order). Throws if a hot route could be shadowed by an
 * earlier route in a way the raw URL cannot show (see `shadowedOnDecode`).
 */
export function hotMatcher(routes: readonly Route[]): HotMatcher {
  const byMethod = new Map<string, MethodTable>();
  const methods = new Set(routes.filter((r) => r.hot === true).flatMap((r) => r.methods));
  for (const method of methods) {
    if (method === "ALL") throw new Error(`hot route: ALL is not a method a request has`);
    const candidates = routes
      .filter((r) => r.methods.includes(method) || r.methods.includes("ALL"))
      .map((route): Candidate => ({ route, segments: segmentsOf(route.path) }));
    // Routes after the last hot one never make a request hot: leave them to Hono.
    let last = candidates.length - 1;
    while (candidates[last]!.route.hot !== true) last--;
    const tried = candidates.slice(0, last + 1);
    checkShadows(method, tried);
    const segmentsMax = Math.max(...tried.map((c) => (c.segments === "any" ? 0 : c.segments.length)));
    byMethod.set(method, { candidates: tried, bounds: new Int32Array(2 * segmentsMax), segmentsMax });
  }
  return (method, url) => {
    const table = byMethod.get(method);
    return table === undefined ? null : matchUrl(table, url);
  };
}

/** The first candidate matching `url`, if it is hot and the query is plain; else null. */
function matchUrl(table: MethodTable, url: string): Route | null {
  // Where Hono's getPath starts the path: the first "/" after "scheme://".
  const pathStart = url.indexOf("/", url.indexOf(":") + 4);
  if (pathStart < 0) return null;
  // Hono ends the path at '?' or '#', and looks for the query from index 8 on; a URL whose
  // '?' or '#' is not simply "path?query" is rare enough to leave to the app.
  if (url.includes("#")) return null;
  const queryStart = url.indexOf("?");
  if (queryStart >= 0 && (queryStart < 8 || queryStart < pathStart)) return null;
  const pathEnd = queryStart < 0 ? url.length : queryStart;
  // The path's segments, found once for all candidates (each "/" starts one): a candidate
  // with another number of segments is passed over without looking at its text.
  const bounds = table.bounds;
  let count = 0;
  for (let at = pathStart; at < pathEnd; count++) {
    if (count === table.segmentsMax) return null;
    const slash = url.indexOf("/", at + 1);
    const end = slash < 0 || slash > pathEnd ? pathEnd : slash;
    bounds[2 * count] = at + 1;
    bounds[2 * count + 1] = end;
    at = end;
  }
  const candidates = table.candidates;
  for (let c = 0; c < candidates.length; c++) {
    const { route, segments } = candidates[c]!;
    if (segments === "any") return null;
    if (segments.length !== count || !matchSegments(segments, url, bounds)) continue;
    if (route.hot !== true) return null;
    if (queryStart < 0 || route.query === undefined) return route;
    return isPlainQuery(url, queryStart + 1, route.query) ? route : null;
  }
  return null;
}

/**
 * Whether the raw path's segments (their bounds in url, as many as `segments`) match. Percent-
 * escapes in a parameter are fine: Hono decodes with decodeURI, which never yields '/', so its
 * router matches the same segment; a literal matches only as written (an escaped literal goes
 * to the app).
 */
function matchSegments(segments: readonly Segment[], url: string, bounds: Int32Array): boolean {
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as Segment;
    const start = bounds[2 * i]!;
    const end = bounds[2 * i + 1]!;
    if (segment === null ? end === start : end - start !== segment.length || !url.startsWith(segment, start)) return false;
  }
  return true;
}

/**
 * Whether the whole query url[start..] is `name=<value>` with a value of unreserved characters
 * only (RFC 3986 §2.3): then Hono's c.req.query(name) is that value as written, with nothing
 * to decode. Compared in place: no string is allocated for a query that is not plain.
 */
function isPlainQuery(url: string, start: number, name: string): boolean {
  if (!url.startsWith(name, start) || url.charCodeAt(start + name.length) !== 61 /* = */) return false;
  for (let i = start + name.length + 1; i < url.length; i++) {
    const c = url.charCodeAt(i);
    const unreserved = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
      c === 45 /* - */ || c === 46 /* . */ || c === 95 /* _ */ || c === 126 /* ~ */;
    if (!unreserved) return false;
  }
  return true;
}

/** The value of the query parameter `name` in a URL the matcher took: absent, or plain. */
export function hotQuery(url: string, name: string): string | undefined {
  const queryStart = url.indexOf("?");
  return queryStart < 0 ? undefined : url.slice(queryStart + name.length + 2);
}

/** The segments of a Hono path, or "any" for syntax this matcher does not read. */
function segmentsOf(path: string): readonly Segment[] | "any" {
  if (!path.startsWith("/")) return "any";
  const segments: Segment[] = [];
  for (const part of path.slice(1).split("/")) {
    if (/^:[A-Za-z0-9_]+$/.test(part)) segments.push(null);
    else if (/^[A-Za-z0-9._~-]*$/.test(part)) segments.push(part);
    else return "any"; // wildcards, optional or regexp parameters, escapes
  }
  return segments;
}

/**
 * Trying routes on the raw path is Hono's order on its decoded path, except where an earlier
 * route has a literal segment and a hot route a parameter at the same place: `/key/%61` would
 * be the hot route's here and the literal `/key/a` route's in Hono. Such a table is refused.
 */
function checkShadows(method: string, candidates: readonly Candidate[]): void {
  candidates.forEach((hot, i) => {
    if (hot.route.hot !== true || hot.segments === "any") return;
    for (const earlier of candidates.slice(0, i)) {
      if (shadowedOnDecode(earlier.segments, hot.segments)) {
        throw new Error(`hot route ${method} ${hot.route.path}: the earlier ${earlier.route.path} may take its requests once decoded`);
      }
    }
  });
}

function shadowedOnDecode(earlier: readonly Segment[] | "any", hot: readonly Segment[]): boolean {
  if (earlier === "any" || earlier.length !== hot.length) return false;
  let literalOverParameter = false;
  for (let i = 0; i < hot.length; i++) {
    const [e, h] = [earlier[i]!, hot[i]];
    if (e !== null && h !== null && e !== h) return false;
    if (e !== null && h === null) {
      if (e === "") return false; // a parameter is never empty
      literalOverParameter = true;
    }
  }
  return literalOverParameter;
}
