// The work behind the key routes of http/routes.ts (GET /key/<k>, POST /key): the reads, the
// writes and the answers they give, kept apart from the table so that it stays a table.

import type { Caller, KeyWrite, ReadLevel, StoreApi, VersionedValue, WriteOptions, WriteOutcome } from "../store/api.ts";
import { HttpError, jsonError } from "./errors.ts";
import { ReadHeaders } from "./read_headers.ts";
import { parseCondition, parseIdempotencyKey, parseSetBody, parseWriteQuery, readJsonBody } from "./validate.ts";

/** Shared, never mutated: the runtimes copy init headers into each Response. */
const jsonInit: ResponseInit = { headers: { "content-type": "application/json" } };

/** 200 with an empty body: the answer to every successful write. */
export function ok(): Response {
  // 200 is the default: no init object to read (~50 ns a write, measured).
  return new Response(null);
}

/** The answer to a read: hraftd's `{"<key>": "<value>"}`, or 404 when the key is absent. */
export function keyResponse(key: string, value: string | null): Response {
  if (value === null) return jsonError(404, `key ${JSON.stringify(key)} not found`);
  // Built directly, as JSON.stringify of strings: cheaper than stringifying an object.
  return new Response(`{${JSON.stringify(key)}:${JSON.stringify(value)}}`, jsonInit);
}

/**
 * The answer to a read with its version: `ETag: "<version>"` (If-Match takes it back) and
 * `X-Applied-Index`, the applied index of the state the value was read from; 404 has the latter.
 */
export function versionedResponse(key: string, v: VersionedValue, headers: ReadHeaders = readHeaders): Response {
  if (v.value === null) return jsonError(404, `key ${JSON.stringify(key)} not found`, { headers: { "x-applied-index": String(v.applied) } });
  return new Response(`{${JSON.stringify(key)}:${JSON.stringify(v.value)}}`, headers.init(v.version ?? 0, v.applied));
}

/** The process's read headers (./read_headers.ts): every node in it answers from one table. */
export const readHeaders = new ReadHeaders();

/** Reads `key` at `level` with its version (see versionedResponse). */
export function readKeyVersioned(store: StoreApi, key: string, level: ReadLevel, caller?: Caller): Promise<Response> {
  if (store.readVersioned !== undefined) return store.readVersioned(key, level, caller, answerVersioned);
  return store.getVersioned!(key, level, caller).then((v) => versionedResponse(key, v));
}

/** versionedResponse with the process's headers, as readVersioned calls it back. */
const answerVersioned = (key: string, v: VersionedValue): Response => versionedResponse(key, v);

/** Reads `key` at `level`: one `then`, no async function (a hot path; each promise costs). */
export function readKey(store: StoreApi, key: string, level: ReadLevel, caller?: Caller): Promise<Response> {
  return store.get(key, level, caller).then((value) => keyResponse(key, value));
}

/**
 * POST /key: validates the header and the whole body before the store sees any of it; `{}`
 * writes nothing. With an Idempotency-Key, applied at most once per key (writeOnce).
 */
export function writeKeys(store: StoreApi, request: Request, bodyBytesMax: number, caller?: Caller): Promise<Response> {
  // Three header lookups (~40 ns each) and a look for '?' are all a plain write pays for these features.
  const headers = request.headers;
  const rawKey = headers.get("idempotency-key");
  const ifMatch = headers.get("if-match");
  const ifNoneMatch = headers.get("if-none-match");
  const url = request.url;
  const queryAt = url.indexOf("?");
  if (rawKey !== null || ifMatch !== null || ifNoneMatch !== null || queryAt >= 0) {
    // The commonest of these, an Idempotency-Key or a condition with no query, as plain
    // writes go: a chain of thens.
    if (queryAt < 0) return writeKeysThen(store, request, bodyBytesMax, caller, rawKey, ifMatch, ifNoneMatch);
    return writeKeysWith(store, request, bodyBytesMax, caller, rawKey, ifMatch, ifNoneMatch, url.slice(queryAt + 1));
  }
  // A chain of `then`s, no async function: the commonest request pays for no extra promise.
  return readJsonBody(request, bodyBytesMax).then((body) => {
    const pairs = parseSetBody(body);
    // A plain write answers as hraftd does, without its version: any header at all moves Bun's
    // answer off its fastest path (about 2 µs of CPU a write, measured; see README).
    return pairs.length > 0 ? store.set(pairs, caller).then(ok) : ok();
  });
}

/**
 * POST /key with an Idempotency-Key, a condition or both, and no query: writeKeysWith's checks
 * in its order (the condition, the key, then the body; `{}` writes nothing), without its async
 * function and awaits (each a promise and a hop more per write than a plain write pays).
 */
function writeKeysThen(
  store: StoreApi,
  request: Request,
  bodyBytesMax: number,
  caller: Caller | undefined,
  rawKey: string | null,
  ifMatch: string | null,
  ifNoneMatch: string | null,
): Promise<Response> {
  const condition = parseCondition(ifMatch, ifNoneMatch);
  const options = rawKey === null ? noOptions : { idempotencyKey: parseIdempotencyKey(rawKey) };
  return readJsonBody(request, bodyBytesMax).then((body) => {
    const pairs = parseSetBody(body);
    if (pairs.length === 0) return ok();
    return writeWith(store, condition === null ? { type: "set", pairs } : { type: "set", pairs, condition }, options, caller);
  });
}

/**
 * POST /key with a query, and maybe an Idempotency-Key or a condition: each checked before the
 * body is read (?ttl= first, any other parameter refused), then the body; `{}` writes nothing, so
 * there is nothing to remember or to check either. The write is one object literal per shape
 * (spreads of optional parts cost ~0.1 µs each).
 */
async function writeKeysWith(
  store: StoreApi,
  request: Request,
  bodyBytesMax: number,
  caller: Caller | undefined,
  rawKey: string | null,
  ifMatch: string | null,
  ifNoneMatch: string | null,
  query: string | null,
): Promise<Response> {
  const ttlMs = query === null ? undefined : parseWriteQuery(query).ttlMs;
  const condition = parseCondition(ifMatch, ifNoneMatch);
  const options = rawKey === null ? noOptions : { idempotencyKey: parseIdempotencyKey(rawKey) };
  const pairs = parseSetBody(await readJsonBody(request, bodyBytesMax));
  if (pairs.length === 0) return ok();
  const write: KeyWrite = condition === null
    ? ttlMs === undefined ? { type: "set", pairs } : { type: "set", pairs, ttlMs }
    : ttlMs === undefined
    ? { type: "set", pairs, condition }
    : { type: "set", pairs, condition, ttlMs };
  return writeWith(store, write, options, caller);
}

/** The options of a write without an Idempotency-Key (never changed). */
const noOptions: WriteOptions = Object.freeze({});

/** DELETE /key/<k>, with an Idempotency-Key applied at most once per key, and a condition. */
export async function deleteKey(store: StoreApi, request: Request, key: string, caller?: Caller): Promise<Response> {
  const headers = request.headers;
  const rawKey = headers.get("idempotency-key");
  const ifMatch = headers.get("if-match");
  const ifNoneMatch = headers.get("if-none-match");
  if (rawKey !== null || ifMatch !== null || ifNoneMatch !== null) {
    const options = writeOptionsOf(rawKey, ifMatch, ifNoneMatch);
    return writeWith(store, { type: "delete", key, ...options.condition }, options.write, caller);
  }
  await store.delete(key, caller);
  return ok();
}

/** The headers' options, each checked (400 before anything is written). */
function writeOptionsOf(
  rawKey: string | null,
  ifMatch: string | null,
  ifNoneMatch: string | null,
): { write: WriteOptions; condition: Pick<KeyWrite, "condition"> } {
  const condition = parseCondition(ifMatch, ifNoneMatch);
  return {
    write: rawKey === null ? {} : { idempotencyKey: parseIdempotencyKey(rawKey) },
    condition: condition === null ? {} : { condition },
  };
}

/** The store's outcome of `write` as the answer; one `then`, no async function. */
function writeWith(store: StoreApi, write: KeyWrite, options: WriteOptions, caller: Caller | undefined): Promise<Response> {
  if (store.writeWith === undefined) return Promise.reject(new HttpError(400, "this store does not take Idempotency-Key, If-Match, If-None-Match or ?ttl="));
  return store.writeWith(write, options, caller).then(write.type === "set" && write.pairs.length === 1 ? oneKeyResponse : manyKeysResponse);
}

function oneKeyResponse(outcome: WriteOutcome): Response {
  return outcomeResponse(outcome, true);
}

function manyKeysResponse(outcome: WriteOutcome): Response {
  return outcomeResponse(outcome, false);
}

/**
 * The outcome of a write with an Idempotency-Key, a condition or a TTL; a replay says so in
 * Idempotent-Replayed. One that wrote answers the version it wrote (its entry's log index) in
 * `X-Applied-Index`, as reads name the state they read (a blocking read or a watch from it
 * sees what comes after this write), and for a POST of one key as the key's new `ETag`, which
 * the next If-Match takes back without a GET. A POST of several keys answers no ETag (an ETag
 * names one key; each of them has this version), nor does a DELETE (a deleted key has no
 * version to match).
 */
export function outcomeResponse(outcome: WriteOutcome, isOneKey = false): Response {
  if (outcome.body.length === 0 && !outcome.replayed && outcome.version !== undefined) {
    // The commonest outcome, a write that wrote: a Response copies a Headers object whole, in
    // less than it converts an object's headers one by one; each answer gets its own copy, so
    // the one object is set afresh for every answer.
    const version = String(outcome.version);
    if (isOneKey) {
      versionHeadersOneKey.set("x-applied-index", version);
      versionHeadersOneKey.set("etag", `"${version}"`);
      return new Response(null, { status: outcome.status, headers: versionHeadersOneKey });
    }
    versionHeaders.set("x-applied-index", version);
    return new Response(null, { status: outcome.status, headers: versionHeaders });
  }
  const headers: Record<string, string> = {};
  if (outcome.body.length > 0) headers["content-type"] = "application/json";
  if (outcome.replayed) headers["idempotent-replayed"] = "true";
  if (outcome.version !== undefined) {
    headers["x-applied-index"] = String(outcome.version);
    if (isOneKey) headers.etag = `"${outcome.version}"`;
  }
  return new Response(outcome.body.length > 0 ? outcome.body : null, { status: outcome.status, headers });
}

/** outcomeResponse's headers of a write that wrote, set for each answer (Responses copy them). */
const versionHeadersOneKey = new Headers();
const versionHeaders = new Headers();
