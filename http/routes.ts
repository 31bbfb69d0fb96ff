// The HTTP API's routes, defined once: hraftd's routes plus /remove and read levels (DESIGN.md
// "Store and HTTP API"). http/app.ts registers every one of them with Hono, in this order;
// http/hot_route.ts derives from the same table the fast path that answers the routes marked
// `hot` ahead of Hono. Every rejection happens before the store is called, so a rejected
// request writes nothing. With -auth, the permission a route needs (`perm`) is checked before
// its handler, by the one wrapper of security/permissions.ts; without it nothing is wrapped.

import { type Authorizer, guardRoute, type PermissionName } from "../security/permissions.ts";
import type { Caller, StoreApi } from "../store/api.ts";
import { HttpError, jsonError } from "./errors.ts";
import { deleteKey, keyResponse, ok, readKey, readKeyVersioned, versionedResponse, writeKeys } from "./key_handlers.ts";
import { backupRoutes } from "./backup_routes.ts";
import { healthRoutes } from "./health_routes.ts";
import { listRoutes } from "./list_routes.ts";
import { blockingKeyRead, isBlockingKeyRead, watchRoutes } from "./watch_routes.ts";
import { leaderRoutes } from "./leader_routes.ts";
import { metricsRoutes } from "./metrics_routes.ts";
import { uiRoutes } from "./ui_routes.ts";
import type { OpsDeps } from "./ops_deps.ts";
import type { RequestTimeouts } from "./serve.ts";
import { keyFromUrl, parseJoinBody, parseReadLevel, parseRemoveBody, readJsonBody } from "./validate.ts";

/** A method a route answers; "ALL" is every method (Hono's app.all). */
export type RouteMethod = "GET" | "POST" | "DELETE" | "ALL";

/**
 * Answers one request. `query` is the value of the route's one query parameter (Hono's
 * c.req.query(name)), undefined when the route has none or the request does not give it.
 * A handler may throw or reject: the caller turns an Error into the error response. `caller`
 * is who the permission check allowed (absent without -auth), for the store to forward.
 * `server` is the server the request came through (http/serve.ts), for a blocking read to
 * hold its connection open while it waits; wrappers hand it on.
 */
export type RouteHandler = (
  request: Request,
  query: string | undefined,
  caller?: Caller,
  server?: RequestTimeouts,
) => Response | Promise<Response>;

/** One route: where it is, what answers it, and whether the fast path takes it too. */
export interface Route {
  readonly methods: readonly RouteMethod[];
  /** A Hono path: literal segments and `:name` segments (one non-empty segment each). */
  readonly path: string;
  /** The one query parameter the handler reads, if any. */
  readonly query?: string;
  /** Answered ahead of Hono by the fast path (http/fast_fetch.ts) as well: a hot request. */
  readonly hot?: boolean;
  /** The permission a client needs (with -auth); none for routes that never reach the store. */
  readonly perm?: PermissionName;
  readonly handle: RouteHandler;
}

/** Options of the routes. */
export interface RouteOptions {
  /** Largest request body accepted; larger ones get 413. */
  readonly bodyBytesMax: number;
  /** -auth: checks each route's `perm` before its handler; absent, nothing is checked. */
  readonly auth?: Authorizer;
  /** What the operator's routes need beyond the store (http/ops_deps.ts). */
  readonly ops?: OpsDeps;
}

const jsonHeaders: Readonly<Record<string, string>> = { "content-type": "application/json" };

/** A handler answering 405 with the methods the path does allow. */
function methodNotAllowed(allow: string): RouteHandler {
  return () => jsonError(405, "method not allowed", { headers: { allow } });
}

function missingKey(): never {
  throw new HttpError(400, "missing key: use /key/<key>");
}

/**
 * The routes in the order Hono tries them: for a request, the first route whose method and
 * path match answers it (each handler answers; none passes on to the next).
 */
export function routeTable(store: StoreApi, options: RouteOptions): readonly Route[] {
  const ops = options.ops ?? {};
  const routes = [
    ...plainRoutes(store, options.bodyBytesMax),
    // The operator's surface (issue 15): paths of their own, so their place in the order is free.
    ...healthRoutes(store, ops, options.bodyBytesMax),
    ...metricsRoutes(store, ops, options.bodyBytesMax),
    ...leaderRoutes(store, ops, options.bodyBytesMax),
    ...backupRoutes(store, ops, options.bodyBytesMax),
    // The cluster page (issue 17): after every other path, and never on the fast path.
    ...uiRoutes(ops.ui, options.auth),
  ];
  const auth = options.auth;
  return auth === undefined ? routes : routes.map((route) => guardRoute(route, auth));
}

/** The table without permission checks. */
function plainRoutes(store: StoreApi, bodyBytesMax: number): readonly Route[] {
  return [
    {
      methods: ["POST"],
      path: "/key",
      hot: true,
      perm: "write",
      handle: (request, _query, caller) => writeKeys(store, request, bodyBytesMax, caller),
    },
    // GET /key lists keys in order (issue 16; http/list_routes.ts), GET /watch streams changes.
    ...listRoutes(store),
    ...watchRoutes(store),
    { methods: ["DELETE"], path: "/key", handle: missingKey },
    { methods: ["GET", "DELETE"], path: "/key/", handle: missingKey },
    { methods: ["ALL"], path: "/key", handle: methodNotAllowed("GET, HEAD, POST") },
    { methods: ["ALL"], path: "/key/", handle: methodNotAllowed("GET, HEAD, DELETE") },

    {
      methods: ["GET"],
      path: "/key/:k",
      query: "level",
      hot: true,
      perm: "read",
      handle: (request, level, caller, server) => {
        const url = request.url;
        const key = keyFromUrl(url);
        const readLevel = parseReadLevel(level);
        // With ETag and X-Applied-Index where the store keeps versions (issue 16).
        if (store.getVersioned !== undefined) {
          // ?index=&wait=: a blocking read (issue 16 item 5); a plain read pays an indexOf.
          if (isBlockingKeyRead(url, level)) return blockingKeyRead(store, key, request, caller, server);
          const now = store.peekVersioned?.(key, readLevel);
          if (now !== undefined) return versionedResponse(key, now);
          return readKeyVersioned(store, key, readLevel, caller);
        }
        // Answered without a promise where the store can (stale, and leader reads on a leader
        // whose lease holds and whose state is current): worth ~10% of the hottest read path.
        const now = store.peek?.(key, readLevel);
        if (now !== undefined) return keyResponse(key, now);
        return readKey(store, key, readLevel, caller);
      },
    },
    {
      methods: ["DELETE"],
      path: "/key/:k",
      perm: "write",
      handle: (request, _query, caller) => deleteKey(store, request, keyFromUrl(request.url), caller),
    },
    { methods: ["ALL"], path: "/key/:k", handle: methodNotAllowed("GET, HEAD, DELETE") },

    {
      methods: ["POST"],
      path: "/join",
      perm: "join",
      handle: async (request, _query, caller) => {
        const { id, addr } = parseJoinBody(await readJsonBody(request, bodyBytesMax));
        await store.join(id, addr, caller);
        return ok();
      },
    },
    { methods: ["ALL"], path: "/join", handle: methodNotAllowed("POST") },

    {
      methods: ["POST"],
      path: "/remove",
      perm: "remove",
      handle: async (request, _query, caller) => {
        const { id } = parseRemoveBody(await readJsonBody(request, bodyBytesMax));
        await store.remove(id, caller);
        return ok();
      },
    },
    { methods: ["ALL"], path: "/remove", handle: methodNotAllowed("POST") },

    {
      methods: ["GET"],
      path: "/status",
      perm: "status",
      handle: () => new Response(JSON.stringify(store.status()), { headers: jsonHeaders }),
    },
    { methods: ["ALL"], path: "/status", handle: methodNotAllowed("GET, HEAD") },
  ];
}
