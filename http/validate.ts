// Request validation, before anything reaches the store: body size, UTF-8 and JSON (parsed
// once), body shapes for /key, /join and /remove, the key in the path, and ?level=.

import type { ReadLevel } from "../store/api.ts";
import { idempotencyKeyCharsMax, isIdempotencyKey } from "../store/idempotency.ts";
import { type Condition, conditionVersionsMax, ttlMsMax } from "../store/commands.ts";
import { memberAddressProblem } from "../address.ts";
import { HttpError } from "./errors.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads the request body as bytes, refusing more than `bodyBytesMax` (413). A declared
 * Content-Length is checked before reading; the bytes actually read are checked too, and a
 * body without a length is read as a stream and abandoned as soon as it passes the limit.
 */
export async function readBody(request: Request, bodyBytesMax: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (!/^\d{1,16}$/.test(declared)) throw new HttpError(400, "invalid Content-Length");
    if (Number(declared) > bodyBytesMax) throw tooLarge(bodyBytesMax);
    // Runtimes frame an HTTP/1.1 body by its Content-Length, so this read is bounded.
    // bytes() hands over the Uint8Array itself (arrayBuffer() needs a view made of it).
    const bytes = await request.bytes();
    if (bytes.byteLength > bodyBytesMax) throw tooLarge(bodyBytesMax);
    return bytes;
  }
  if (request.body === null) return new Uint8Array(0);
  return readStream(request.body, bodyBytesMax);
}

async function readStream(body: ReadableStream<Uint8Array>, bodyBytesMax: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > bodyBytesMax) {
      void reader.cancel().catch(() => {});
      throw tooLarge(bodyBytesMax);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function tooLarge(bodyBytesMax: number): HttpError {
  return new HttpError(413, `request body exceeds ${bodyBytesMax} bytes`);
}

/**
 * Reads and parses a JSON body, whatever its Content-Type: `curl -d` labels JSON as a form,
 * and hraftd's documented commands rely on that. Malformed UTF-8 or JSON is a 400.
 */
export function readJsonBody(request: Request, bodyBytesMax: number): Promise<unknown> {
  // One `then`, no async function: every write's body passes here (each promise costs).
  return readBody(request, bodyBytesMax).then(parseJsonBytes);
}

/** The JSON value of a body's bytes; malformed UTF-8 or JSON is a 400. */
function parseJsonBytes(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new HttpError(400, "request body is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `malformed JSON: ${(e as Error).message}`);
  }
}

function requireObject(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, `${what} must be a JSON object`);
  }
  return body as Record<string, unknown>;
}

/**
 * The pairs of a POST /key body `{"k":"v",…}`: every key non-empty, every value a string.
 * An empty object gives no pairs (hraftd answers it with 200 and writes nothing).
 */
export function parseSetBody(body: unknown): Array<readonly [string, string]> {
  const object = requireObject(body, "body");
  const pairs: Array<readonly [string, string]> = [];
  for (const key in object) {
    const value = object[key];
    if (key.length === 0) throw new HttpError(400, "empty key");
    if (key === "." || key === "..") throw new HttpError(400, dotKeyMessage(key));
    if (typeof value !== "string") throw new HttpError(400, `value of key ${JSON.stringify(key)} is not a string`);
    pairs.push([key, value]);
  }
  return pairs;
}

/**
 * "." and ".." are dot segments: every client and runtime removes them from a URL path
 * (RFC 3986 §5.2.4), percent-encoded or not, so /key/.. never reaches the route and such a
 * key could be written but never read or deleted. Refused on write instead.
 */
function dotKeyMessage(key: string): string {
  return `key ${JSON.stringify(key)} is not allowed: URLs drop "." and ".." path segments, so it could never be read or deleted`;
}

function requireString(object: Record<string, unknown>, field: string): string {
  const value = object[field];
  if (typeof value !== "string" || value.length === 0) {
    throw new HttpError(400, `"${field}" must be a non-empty string`);
  }
  return value;
}

/** Longest node id accepted (UTF-16 code units): ids appear in every log line and status. */
export const nodeIdLengthMax = 128;

/**
 * Why `id` cannot be a node id, or null if it can: 1 to 128 characters, none of them
 * whitespace or control characters (an id is a name in logs, /status and commands, where a
 * space or a newline would be misread). The same rule for -id and for POST /join.
 */
export function nodeIdProblem(id: string): string | null {
  if (id.length === 0) return "node id is empty";
  if (id.length > nodeIdLengthMax) return `node id longer than ${nodeIdLengthMax} characters`;
  if (/[\s\p{Cc}]/u.test(id)) return `node id ${JSON.stringify(id)} contains whitespace or a control character`;
  return null;
}

/**
 * The node of a POST /join body `{"id": …, "addr": …}` (hraftd's shape). The id must be a
 * valid node id and the address one other nodes can dial (host:port, a host, not port 0):
 * a join that could never work is refused before anything is proposed.
 */
export function parseJoinBody(body: unknown): { id: string; addr: string } {
  const object = requireObject(body, "join body");
  const id = requireString(object, "id");
  const addr = requireString(object, "addr");
  const idProblem = nodeIdProblem(id);
  if (idProblem !== null) throw new HttpError(400, `invalid "id": ${idProblem}`);
  const addrProblem = memberAddressProblem(addr);
  if (addrProblem !== null) throw new HttpError(400, `invalid "addr" (the node's Raft address, host:port): ${addrProblem}`);
  return { id, addr };
}

/** The node of a POST /remove body `{"id": …}`. */
export function parseRemoveBody(body: unknown): { id: string } {
  return { id: requireString(requireObject(body, "remove body"), "id") };
}

/**
 * The key of `/key/<key>` from the raw URL, percent-decoded exactly once. Invalid
 * percent-encoding or an empty key is a 400 (the router's lenient decoding would let
 * `%zz` through as a literal key).
 */
export function keyFromUrl(url: string): string {
  // The route matched "/key/<segment>", so the path starts at the first "/" after "//".
  const pathStart = url.indexOf("/", url.indexOf("//") + 2);
  const keyStart = pathStart + "/key/".length;
  let keyEnd = url.length;
  for (let i = keyStart; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) {
      keyEnd = i;
      break;
    }
  }
  const raw = url.slice(keyStart, keyEnd);
  let key = raw;
  if (raw.includes("%")) {
    try {
      key = decodeURIComponent(raw);
    } catch {
      throw new HttpError(400, "key is not valid percent-encoding");
    }
  }
  if (key.length === 0) throw new HttpError(400, "empty key");
  return key;
}

/** `?level=`: linearizable (the default), leader or stale; anything else is a 400. */
export function parseReadLevel(raw: string | undefined): ReadLevel {
  if (raw === undefined || raw === "linearizable") return "linearizable";
  if (raw === "leader" || raw === "stale") return raw;
  throw new HttpError(400, `unknown read level ${JSON.stringify(raw)}: use linearizable, leader or stale`);
}

/** The Idempotency-Key header's value: 1 to 255 printable ASCII characters, else a 400. */
export function parseIdempotencyKey(raw: string): string {
  const length = raw.length;
  if (isIdempotencyKey(raw)) return raw;
  throw new HttpError(
    400,
    `invalid Idempotency-Key: it must be 1 to ${idempotencyKeyCharsMax} printable ASCII characters (space to "~"), got ${length} characters`,
  );
}

/**
 * The precondition of a write from `If-Match` and `If-None-Match` (RFC 9110 §13.1), or null
 * when neither is sent. If-Match takes `*` (the key exists) or a list of up to 16 strong ETags
 * `"<version>"`; If-None-Match on a write takes only `*` (create only). Both at once, weak
 * ETags and anything else are a 400.
 */
export function parseCondition(ifMatch: string | null, ifNoneMatch: string | null): Condition | null {
  if (ifMatch === null && ifNoneMatch === null) return null;
  if (ifMatch !== null && ifNoneMatch !== null) throw new HttpError(400, "send If-Match or If-None-Match, not both");
  if (ifNoneMatch !== null) {
    if (ifNoneMatch.trim() === "*") return { type: "absent" };
    throw new HttpError(400, `invalid If-None-Match ${JSON.stringify(ifNoneMatch)}: on a write only * (create only) is supported`);
  }
  const raw = ifMatch!.trim();
  if (raw === "*") return { type: "exists" };
  const parts = raw.split(",").map((p) => p.trim());
  if (parts.length > conditionVersionsMax) throw new HttpError(400, `If-Match lists more than ${conditionVersionsMax} versions`);
  const versions: number[] = [];
  for (const part of parts) {
    const m = /^"(0|[1-9]\d{0,15})"$/.exec(part);
    const version = m === null ? NaN : Number(m[1]);
    if (!Number.isSafeInteger(version)) {
      throw new HttpError(400, `invalid If-Match ${JSON.stringify(ifMatch)}: use * or quoted versions as GET's ETag gives them, e.g. "42"`);
    }
    versions.push(version);
  }
  return { type: "match", versions };
}

/** The longest TTL in words, for errors (store/commands.ts ttlMsMax: 365 days). */
const ttlMaxText = "8760h (365 days)";

/** Milliseconds per unit of a TTL: Go's duration units from ms up (finer ones would round to 0). */
const ttlUnitMs: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A TTL as Go's time.ParseDuration writes it, from milliseconds up: one or more numbers with
 * a unit, `30s`, `1.5h`, `1h30m`, `500ms`. Whole milliseconds from 1 ms to 8760 h; a bare
 * number (no unit), zero, negative, fractional milliseconds or longer is a 400.
 */
export function parseTtl(raw: string): number {
  const bad = (why: string): HttpError =>
    new HttpError(400, `invalid ttl ${JSON.stringify(raw)}: ${why}; use a duration such as 30s, 5m, 1h30m or 500ms, from 1ms to ${ttlMaxText}`);
  if (raw.length === 0 || raw.length > 64) throw bad("not a duration");
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(raw)) throw bad(/^[\d.]+$/.test(raw) ? "a unit is needed" : "not a duration");
  let ms = 0;
  for (const m of raw.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * ttlUnitMs[m[2]!]!;
  if (ms <= 0) throw bad("it must be positive");
  if (!Number.isInteger(Math.round(ms * 1e6) / 1e6)) throw bad("it must be whole milliseconds");
  if (ms > ttlMsMax) throw bad("it is longer than the longest");
  return Math.round(ms);
}

/**
 * The query of POST /key: only `ttl` (issue 16: the written keys expire after it), at most
 * once. Any other parameter is a 400, so a misspelt one never writes keys that do not expire.
 */
export function parseWriteQuery(query: string): { ttlMs?: number } {
  let ttlMs: number | undefined;
  for (const [name, value] of new URLSearchParams(query)) {
    if (name !== "ttl") throw new HttpError(400, `unknown query parameter ${JSON.stringify(name)} on POST /key: the only one is ttl`);
    if (ttlMs !== undefined) throw new HttpError(400, "ttl given more than once");
    ttlMs = parseTtl(value);
  }
  return ttlMs === undefined ? {} : { ttlMs };
}
