// The work behind the two hot routes, GET /key/<k> and POST /key, shared by the Hono app
// (http/app.ts) and the fast path in front of it (http/fast_fetch.ts): both answer through
// these functions, so the two can only differ in how they route, never in what they answer.

import type { ReadLevel, StoreApi } from "../store/api.ts";
import { jsonError } from "./errors.ts";
import { parseSetBody, readJsonBody } from "./validate.ts";

/** Shared, never mutated: the runtimes copy init headers into each Response. */
const jsonInit: ResponseInit = { headers: { "content-type": "application/json" } };

/** 200 with an empty body: the answer to every successful write. */
export function ok(): Response {
  return new Response(null, { status: 200 });
}

/** The answer to a read: hraftd's `{"<key>": "<value>"}`, or 404 when the key is absent. */
export function keyResponse(key: string, value: string | null): Response {
  if (value === null) return jsonError(404, `key ${JSON.stringify(key)} not found`);
  // Built directly, as JSON.stringify of strings: cheaper than stringifying an object.
  return new Response(`{${JSON.stringify(key)}:${JSON.stringify(value)}}`, jsonInit);
}

/**
 * Reads `key` at `level`; whatever is thrown on the way goes to `onError` (by default it
 * rejects). One `then` with both callbacks rather than an async function or then+catch: the
 * hottest path, and each extra promise costs.
 */
export function readKey(
  store: StoreApi,
  key: string,
  level: ReadLevel,
  onError: (error: unknown) => Response | Promise<Response> = rethrow,
): Promise<Response> {
  return store.get(key, level).then((value) => {
    try {
      return keyResponse(key, value);
    } catch (error) {
      return onError(error);
    }
  }, onError);
}

function rethrow(error: unknown): never {
  throw error;
}

/** POST /key: validates the whole body before the store sees any of it; `{}` writes nothing. */
export async function writeKeys(store: StoreApi, request: Request, bodyBytesMax: number): Promise<Response> {
  const pairs = parseSetBody(await readJsonBody(request, bodyBytesMax));
  if (pairs.length > 0) await store.set(pairs);
  return ok();
}
