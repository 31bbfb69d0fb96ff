// The server's fetch handler: the hot routes of the route table (http/routes.ts) answered
// directly, picked from the raw URL by the matcher derived from that same table
// (http/hot_route.ts), everything else by the Hono app built from it. Both run the same route
// handlers and the same error handler, so every answer is the app's answer.
// Plain fetch, nothing runtime-specific: http/serve.ts gives it to Bun.serve or Deno.serve.

import type { StoreApi } from "../store/api.ts";
import { type AppOptions, appRoutes, createApp } from "./app.ts";
import { errorHandler } from "./errors.ts";
import { hotMatcher, hotQuery } from "./hot_route.ts";
import type { Route } from "./routes.ts";
import type { RequestTimeouts } from "./serve.ts";

/** A fetch handler as http/serve.ts takes it: `server` is Bun's, for a blocking read's wait. */
export type FetchHandler = (request: Request, server?: RequestTimeouts) => Response | Promise<Response>;

/** The app behind a fast path for its hot routes (GET /key/<k>, POST /key). */
export function createFetch(store: StoreApi, options: AppOptions = {}): FetchHandler {
  const routes = appRoutes(store, options);
  return withFastPath(createApp(store, options, routes).fetch, routes, options);
}

/** `fallback` (the Hono app's fetch) behind a fast path for the hot ones of its `routes`. */
export function withFastPath(fallback: FetchHandler, routes: readonly Route[], options: AppOptions = {}): FetchHandler {
  const match = hotMatcher(routes);
  const toResponse = errorHandler(options.internalErrorDone);
  // As Hono does: an Error becomes an error response, anything else thrown is rethrown
  // (and the runtime answers 500 itself).
  const fail = (error: unknown): Response => {
    if (error instanceof Error) return toResponse(error);
    throw error;
  };
  return (request, server) => {
    const url = request.url;
    const route = match(request.method, url);
    // Hono keeps its second argument as the context's env (http/app.ts hands it on).
    if (route === null) return fallback(request, server);
    try {
      const answer = route.handle(request, route.query === undefined ? undefined : hotQuery(url, route.query), undefined, server);
      return answer instanceof Promise ? answer.catch(fail) : answer;
    } catch (error) {
      // A bad key (400), or a store that threw instead of rejecting. The app's handlers run
      // inside Hono's async compose, so there a non-Error comes out as a rejected promise.
      return error instanceof Error ? toResponse(error) : Promise.reject(error);
    }
  };
}
