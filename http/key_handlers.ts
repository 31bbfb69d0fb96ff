// The work behind the key routes of http/routes.ts (GET /key/<k>, POST /key): the reads, the
// writes and the answers they give, kept apart from the table so that it stays a table.

import type { Caller, ReadLevel, StoreApi } from "../store/api.ts";
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

/** Reads `key` at `level`: one `then`, no async function (a hot path; each promise costs). */
export function readKey(store: StoreApi, key: string, level: ReadLevel, caller?: Caller): Promise<Response> {
  return store.get(key, level, caller).then((value) => keyResponse(key, value));
}

/** POST /key: validates the whole body before the store sees any of it; `{}` writes nothing. */
export async function writeKeys(store: StoreApi, request: Request, bodyBytesMax: number, caller?: Caller): Promise<Response> {
  const pairs = parseSetBody(await readJsonBody(request, bodyBytesMax));
  if (pairs.length > 0) await store.set(pairs, caller);
  return ok();
}
