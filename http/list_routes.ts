// GET /key?prefix=p&after=k&limit=n&level=l (issue 16 item 3): a page of keys in key order
// with their values and versions, from the state at one applied index (X-Applied-Index).
// With `index=N` (and `wait=`), a blocking listing (item 5, http/watch_routes.ts): answered
// once a key with the prefix changes after index N, or when the wait ends.
// Every parameter is checked before the store is asked: an unknown or repeated one, an empty
// or oversized limit, a cursor that does not start with the prefix are 400. Not a hot route:
// a listing is rare next to single-key requests, and Hono's dispatch is nothing next to a page.

import { listLimitDefault, listLimitMax, listPageJson, type ListQuery } from "../store/listing.ts";
import type { ReadLevel, StoreApi } from "../store/api.ts";
import { HttpError, jsonError } from "./errors.ts";
import type { Route } from "./routes.ts";
import { queryParams } from "./query_params.ts";
import { parseReadLevel } from "./validate.ts";
import { type Blocking, blockingOf, waitHeld, withWaitCut } from "./watch_routes.ts";

/** The query parameters GET /key takes. */
const listParams: ReadonlySet<string> = new Set(["prefix", "after", "limit", "level", "index", "wait"]);

/** The listing route; http/routes.ts puts it ahead of GET /key's "missing key" answer. */
export function listRoutes(store: StoreApi): readonly Route[] {
  return [
    {
      methods: ["GET"],
      path: "/key",
      perm: "read",
      handle: async (request, _query, caller, server) => {
        const { query, level, blocking } = parseListQuery(request.url);
        if (store.list === undefined) return jsonError(501, "this store cannot list keys");
        if (blocking !== null) await waitHeld(store, query.prefix, false, blocking, request, server);
        const page = await store.list(query, level, caller);
        const response = new Response(listPageJson(page), {
          headers: { "content-type": "application/json", "x-applied-index": String(page.applied) },
        });
        return withWaitCut(response, blocking);
      },
    },
  ];
}

/** The listing's parameters from the raw URL, each checked (HttpError 400). */
export function parseListQuery(url: string): { query: ListQuery; level: ReadLevel; blocking: Blocking | null } {
  const params = queryParams(url, listParams);
  const prefix = params.get("prefix") ?? "";
  const rawAfter = params.get("after");
  if (rawAfter !== undefined && (rawAfter.length === 0 || !rawAfter.startsWith(prefix))) {
    throw new HttpError(
      400,
      `invalid after ${JSON.stringify(rawAfter)}: pass the "next" of the previous page of the same listing (a key starting with the prefix ${JSON.stringify(prefix)})`,
    );
  }
  return {
    query: { prefix, after: rawAfter ?? null, limit: parseLimit(params.get("limit")) },
    level: parseReadLevel(params.get("level")),
    blocking: blockingOf(params),
  };
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return listLimitDefault;
  const limit = /^[1-9]\d{0,6}$/.test(raw) ? Number(raw) : NaN;
  if (!(limit <= listLimitMax)) {
    throw new HttpError(400, `invalid limit ${JSON.stringify(raw)}: a whole number from 1 to ${listLimitMax} (default ${listLimitDefault})`);
  }
  return limit;
}
