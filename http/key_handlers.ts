// The work behind the key routes of http/routes.ts (GET /key/<k>, POST /key): the reads, the
// writes and the answers they give, kept apart from the table so that it stays a table.

import type { Caller, OnceWrite, ReadLevel, StoreApi, WriteOutcome } from "../store/api.ts";
import { HttpError, jsonError } from "./errors.ts";
import { parseIdempotencyKey, parseSetBody, readJsonBody } from "./validate.ts";

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

/**
 * POST /key: validates the header and the whole body before the store sees any of it; `{}`
 * writes nothing. With an Idempotency-Key, applied at most once per key (writeOnce).
 */
export async function writeKeys(store: StoreApi, request: Request, bodyBytesMax: number, caller?: Caller): Promise<Response> {
  // One header lookup is all a plain write pays for the feature.
  const rawKey = request.headers.get("idempotency-key");
  const idempotencyKey = rawKey === null ? null : parseIdempotencyKey(rawKey);
  const pairs = parseSetBody(await readJsonBody(request, bodyBytesMax));
  // `{}` writes nothing, so there is nothing to remember either.
  if (idempotencyKey !== null && pairs.length > 0) return writeOnce(store, { type: "set", pairs }, idempotencyKey, caller);
  if (pairs.length > 0) await store.set(pairs, caller);
  return ok();
}

/** DELETE /key/<k>, with an Idempotency-Key applied at most once per key. */
export async function deleteKey(store: StoreApi, request: Request, key: string, caller?: Caller): Promise<Response> {
  const rawKey = request.headers.get("idempotency-key");
  if (rawKey !== null) return writeOnce(store, { type: "delete", key }, parseIdempotencyKey(rawKey), caller);
  await store.delete(key, caller);
  return ok();
}

async function writeOnce(store: StoreApi, write: OnceWrite, idempotencyKey: string, caller: Caller | undefined): Promise<Response> {
  if (store.writeOnce === undefined) throw new HttpError(400, "this store does not take Idempotency-Key");
  return outcomeResponse(await store.writeOnce(write, idempotencyKey, caller));
}

/** The outcome of a write with an Idempotency-Key; a replay says so in Idempotent-Replayed. */
export function outcomeResponse(outcome: WriteOutcome): Response {
  const headers: Record<string, string> = {};
  if (outcome.body.length > 0) headers["content-type"] = "application/json";
  if (outcome.replayed) headers["idempotent-replayed"] = "true";
  return new Response(outcome.body.length > 0 ? outcome.body : null, { status: outcome.status, headers });
}
