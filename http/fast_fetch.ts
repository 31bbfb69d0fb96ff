// The server's fetch handler: the two hot routes answered directly (http/hot_route.ts picks
// them from the raw URL), everything else by the Hono app. Both go through the same handlers
// (http/key_handlers.ts) and the same error handler, so every answer is the app's answer.
// Plain fetch, nothing runtime-specific: http/serve.ts gives it to Bun.serve or Deno.serve.

import type { StoreApi } from "../store/api.ts";
import { type AppOptions, bodyBytesMaxDefault, createApp } from "./app.ts";
import { errorHandler } from "./errors.ts";
import { matchHotRoute } from "./hot_route.ts";
import { keyResponse, readKey, writeKeys } from "./key_handlers.ts";
import { keyFromUrl } from "./validate.ts";

/** A fetch handler as Bun.serve and Deno.serve take it. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** The app behind a fast path for GET /key/<k> and POST /key. */
export function createFetch(store: StoreApi, options: AppOptions = {}): FetchHandler {
  return withFastPath(createApp(store, options).fetch, store, options);
}

/** `fallback` (the Hono app's fetch) behind a fast path for GET /key/<k> and POST /key. */
export function withFastPath(fallback: FetchHandler, store: StoreApi, options: AppOptions = {}): FetchHandler {
  const bodyBytesMax = options.bodyBytesMax ?? bodyBytesMaxDefault;
  const toResponse = errorHandler(options.internalErrorDone);
  // As Hono does: an Error becomes an error response, anything else thrown is rethrown
  // (and the runtime answers 500 itself).
  const fail = (error: unknown): Response => {
    if (error instanceof Error) return toResponse(error);
    throw error;
  };
  return (request) => {
    const url = request.url;
    const hot = matchHotRoute(request.method, url);
    if (hot === null) return fallback(request);
    try {
      if (hot.route === "write") return writeKeys(store, request, bodyBytesMax).catch(fail);
      const key = keyFromUrl(url);
      // Answered without a promise where the store can (stale, and leader reads on a leader
      // whose lease holds and whose state is current): worth ~10% of the hottest read path.
      const now = store.peek?.(key, hot.level);
      if (now !== undefined) return keyResponse(key, now);
      return readKey(store, key, hot.level, fail);
    } catch (error) {
      // A bad key (400), or a store that threw instead of rejecting. The app's handlers are
      // async, so there a non-Error comes out as a rejected promise: the same here.
      return error instanceof Error ? toResponse(error) : Promise.reject(error);
    }
  };
}
