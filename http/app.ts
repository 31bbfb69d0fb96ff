// The HTTP API as a Hono app: the routes of http/routes.ts registered in their order, plus the
// JSON 404 and the error handler. A function from Request to Response over a StoreApi, with
// no listening; http/serve.ts puts it on a socket.

import { type Context, Hono } from "hono";
import type { Authorizer } from "../security/permissions.ts";
import type { OpsDeps } from "./ops_deps.ts";
import type { StoreApi } from "../store/api.ts";
import { errorHandler, jsonError } from "./errors.ts";
import { type Route, routeTable } from "./routes.ts";
import type { RequestTimeouts } from "./serve.ts";

/** Options of createApp. */
export interface AppOptions {
  /** Largest request body accepted; larger ones get 413. */
  readonly bodyBytesMax?: number;
  /** Called with every error that becomes a 500 (a bug, not bad input), e.g. to log it. */
  readonly internalErrorDone?: (error: unknown) => void;
  /**
   * -auth: each route's permission checked before its handler (security/authenticator.ts's
   * Authenticator). Absent: no check, and the handlers are exactly those of the plain table.
   */
  readonly auth?: Authorizer;
  /** What the operator's routes need beyond the store (http/ops_deps.ts). */
  readonly ops?: OpsDeps;
}

/** Default request body limit: 1 MiB. */
export const bodyBytesMaxDefault = 1024 * 1024;

/** The route table for `options` (the app and the fast path share one). */
export function appRoutes(store: StoreApi, options: AppOptions = {}): readonly Route[] {
  const bodyBytesMax = options.bodyBytesMax ?? bodyBytesMaxDefault;
  const routes = routeTable(store, {
    bodyBytesMax,
    ...(options.auth === undefined ? {} : { auth: options.auth }),
    ...(options.ops === undefined ? {} : { ops: options.ops }),
  });
  // With metrics, every route is counted and timed (outside the permission check, so 401
  // and 403 count too); the fast path and the app run these same wrapped handlers.
  const http = options.ops?.metrics?.http;
  if (http === undefined) return routes;
  const toResponse = errorHandler(options.internalErrorDone);
  return routes.map((route) => http.instrument(route, toResponse));
}

/** The server's per-request timeouts, if the app was called with them (tests call it without). */
function timeoutsOf(env: unknown): RequestTimeouts | undefined {
  return typeof (env as Partial<RequestTimeouts> | undefined)?.timeout === "function" ? (env as RequestTimeouts) : undefined;
}

/** Builds the app from `routes` (by default the table of http/routes.ts for `store`). */
export function createApp(
  store: StoreApi,
  options: AppOptions = {},
  routes: readonly Route[] = appRoutes(store, options),
): Hono {
  const app = new Hono();
  for (const route of routes) {
    const name = route.query;
    // c.env: what the app's fetch was called with beside the request (http/serve.ts: Bun's server).
    const handler = (c: Context) => route.handle(c.req.raw, name === undefined ? undefined : c.req.query(name), undefined, timeoutsOf(c.env));
    for (const method of route.methods) {
      if (method === "ALL") app.all(route.path, handler);
      else app.on(method, route.path, handler);
    }
  }
  const http = options.ops?.metrics?.http;
  app.notFound((c) => {
    http?.unmatched(c.req.method);
    return jsonError(404, `no such path: ${c.req.path}`);
  });
  app.onError(errorHandler(options.internalErrorDone));
  return app;
}
