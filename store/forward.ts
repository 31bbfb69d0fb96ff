// Requests a non-leader forwards to the leader over the Raft transport, and their replies.
// Forwarding goes one hop only: a node that receives a forwarded request and is not the
// leader answers "no leader" rather than forwarding again, so requests cannot loop.
// A request id is `<incarnation>.<n>`: the asking process's incarnation (never the same in two
// processes) and a counter. The leader echoes it without looking inside; the asker takes a
// reply only for an id it is waiting on, from the address it sent the request to, so a
// restarted node cannot take a late reply meant for its previous life.

import { anonymousUser, usernameCharsMax } from "../security/auth_file.ts";
import { StoreError, type StoreErrorCode } from "./errors.ts";
import { type Condition, conditionValue, type KeyValue, parseCondition, ttlMsMax } from "./commands.ts";
import { isIdempotencyKey } from "./idempotency.ts";

/** An operation carried out on the leader on behalf of another node's client. */
export type ForwardedOp =
  // With an Idempotency-Key (tags 6 and 7 on the wire, which a build that predates them drops
  // as malformed rather than applying them without the key), the reply's value is the outcome
  // (store/idempotency.ts).
  // A condition travels in the same tags, as a fourth element (the key null if there is none).
  // With a TTL (tag 9, which an older leader drops as malformed rather than writing keys that
  // never expire): `[9, pairs, key | null, condition | null, ttlMs]`.
  | { readonly type: "set"; readonly pairs: readonly KeyValue[]; readonly idempotencyKey?: string; readonly condition?: Condition; readonly ttlMs?: number }
  | { readonly type: "delete"; readonly key: string; readonly idempotencyKey?: string; readonly condition?: Condition }
  | { readonly type: "join"; readonly id: string; readonly addr: string }
  | { readonly type: "remove"; readonly id: string }
  | { readonly type: "readLeader"; readonly key: string }
  // A leader-level read answered with its version and the leader's applied index (tag 8): the
  // reply's value is "<version|-> <applied> <value>" or null (store/versioned.ts).
  | { readonly type: "readVersioned"; readonly key: string }
  // A linearizable read of a key with a deadline (tag 10): the leader's clock decides whether
  // it has expired (store/store.ts #expiringRead); the reply's value as readVersioned's.
  | { readonly type: "readExpiring"; readonly key: string }
  // POST /leader: hand leadership to voter `id` (null: the most caught-up); replies the new leader's id.
  | { readonly type: "transfer"; readonly id: string | null };

/** Longest request id accepted on the wire. */
export const reqIdCharsMax = 128;

export interface ForwardRequest {
  readonly type: "forward";
  readonly reqId: string;
  readonly op: ForwardedOp;
  /**
   * The user the asking node authenticated (-auth), or null: no credentials, or none checked.
   * On the wire a fourth element, present only when not null, so frames from a node without
   * -auth are exactly as before and an older node's frames decode as anonymous.
   */
  readonly user: string | null;
}

export interface ForwardReply {
  readonly type: "reply";
  readonly reqId: string;
  /** Null on success. */
  readonly error: { readonly code: StoreErrorCode; readonly message: string } | null;
  /** For readLeader: the value, or null if absent. */
  readonly value: string | null;
  /**
   * For a write that wrote: the log index of its entry, the version of what it wrote (issue
   * 16: its answer carries it). On the wire a fifth element, present only then: a build that
   * predates it reads replies by their first four, and its own replies leave it out (unknown).
   */
  readonly version?: number;
}

export type StoreMessage = ForwardRequest | ForwardReply;

const errorCodes: ReadonlySet<string> = new Set<StoreErrorCode>([
  "notFound",
  "noLeader",
  "outcomeUnknown",
  "timeout",
  "invalid",
  "unavailable",
  "notMember",
  "forbidden",
]);

/** Plain CBOR-able value for the envelope. */
export function storeMessageValue(m: StoreMessage): unknown {
  if (m.type === "forward") return m.user === null ? [0, m.reqId, opValue(m.op)] : [0, m.reqId, opValue(m.op), m.user];
  const reply = [1, m.reqId, m.error === null ? null : [m.error.code, m.error.message], m.value];
  if (m.version !== undefined) reply.push(m.version);
  return reply;
}

function opValue(op: ForwardedOp): unknown[] {
  switch (op.type) {
    case "set":
      if (op.ttlMs !== undefined) {
        return [9, op.pairs.flat(), op.idempotencyKey ?? null, op.condition === undefined ? null : conditionValue(op.condition), op.ttlMs];
      }
      return op.idempotencyKey === undefined && op.condition === undefined ? [0, op.pairs.flat()] : [6, op.pairs.flat(), ...optionsValue(op)];
    case "delete":
      return op.idempotencyKey === undefined && op.condition === undefined ? [1, op.key] : [7, op.key, ...optionsValue(op)];
    case "join":
      return [2, op.id, op.addr];
    case "remove":
      return [3, op.id];
    case "readLeader":
      return [4, op.key];
    case "readVersioned":
      return [8, op.key];
    case "readExpiring":
      return [10, op.key];
    case "transfer":
      return [5, op.id];
  }
}

/** `[key]` or `[key | null, condition]`: the options of tags 6 and 7. */
function optionsValue(op: { readonly idempotencyKey?: string; readonly condition?: Condition }): unknown[] {
  return op.condition === undefined ? [op.idempotencyKey ?? null] : [op.idempotencyKey ?? null, conditionValue(op.condition)];
}

/** The options of tags 6 and 7 from `o[2]` on, or null if malformed. */
function parseOptions(o: unknown[]): { idempotencyKey?: string; condition?: Condition } | null {
  if (o.length !== 3 && o.length !== 4) return null;
  const key = o[2];
  if (key !== null && !isIdempotencyKey(key)) return null;
  const condition = o.length === 4 ? parseCondition(o[3]) : undefined;
  if (condition === null || (key === null && condition === undefined)) return null;
  return { ...(key === null ? {} : { idempotencyKey: key }), ...(condition === undefined ? {} : { condition }) };
}

function isStr(x: unknown): x is string {
  return typeof x === "string" && x.length <= 1 << 20;
}

function isReqId(x: unknown): x is string {
  return typeof x === "string" && x.length > 0 && x.length <= reqIdCharsMax;
}

/** A node id as a transfer target: non-empty, as long as a key at most (flags.ts checks real ids). */
function isNodeId(x: unknown): x is string {
  return typeof x === "string" && x.length > 0 && x.length <= 1024;
}

/** Validates a decoded store payload; returns null for anything malformed (dropped and logged). */
export function parseStoreMessage(v: unknown): StoreMessage | null {
  if (!Array.isArray(v) || !isReqId(v[1])) return null;
  const reqId = v[1];
  if (v[0] === 1) {
    const err = v[2] as unknown;
    const value = v[3] as unknown;
    if (value !== null && !isStr(value)) return null;
    const version = v[4] as unknown;
    if (version !== undefined && !(Number.isSafeInteger(version) && (version as number) > 0)) return null;
    if (err === null) return version === undefined ? { type: "reply", reqId, error: null, value } : { type: "reply", reqId, error: null, value, version: version as number };
    if (!Array.isArray(err) || !errorCodes.has(err[0]) || !isStr(err[1])) return null;
    return { type: "reply", reqId, error: { code: err[0] as StoreErrorCode, message: err[1] }, value };
  }
  if (v[0] !== 0 || !Array.isArray(v[2]) || v.length > 4) return null;
  const user = v.length === 4 ? v[3] as unknown : null;
  if (user !== null && !isUser(user)) return null;
  const op = parseOp(v[2] as unknown[]);
  return op === null ? null : { type: "forward", reqId, op, user };
}

/**
 * A user name as the users file allows it (security/auth_file.ts): never "*" (nobody logs in
 * as "*": a frame claiming it is forged or broken), no ':' and no control characters.
 */
function isUser(x: unknown): x is string {
  return typeof x === "string" && x.length > 0 && x.length <= usernameCharsMax && x !== anonymousUser &&
    !/[:\u0000-\u001f\u007f]/.test(x);
}

function parseOp(o: unknown[]): ForwardedOp | null {
  switch (o[0]) {
    case 0: {
      const pairs = parsePairs(o[1]);
      return pairs === null ? null : { type: "set", pairs };
    }
    case 1:
      return isStr(o[1]) ? { type: "delete", key: o[1] } : null;
    case 6: {
      const pairs = parsePairs(o[1]);
      const options = parseOptions(o);
      return pairs === null || options === null ? null : { type: "set", pairs, ...options };
    }
    case 7: {
      const options = parseOptions(o);
      return isStr(o[1]) && options !== null ? { type: "delete", key: o[1], ...options } : null;
    }
    case 2:
      return isStr(o[1]) && isStr(o[2]) ? { type: "join", id: o[1], addr: o[2] } : null;
    case 3:
      return isStr(o[1]) ? { type: "remove", id: o[1] } : null;
    case 4:
      return isStr(o[1]) ? { type: "readLeader", key: o[1] } : null;
    case 8:
      return isStr(o[1]) && o.length === 2 ? { type: "readVersioned", key: o[1] } : null;
    case 9:
      return parseSetTtl(o);
    case 10:
      return isStr(o[1]) && o.length === 2 ? { type: "readExpiring", key: o[1] } : null;
    case 5:
      return o.length === 2 && (o[1] === null || isNodeId(o[1])) ? { type: "transfer", id: o[1] } : null;
    default:
      return null;
  }
}

/** Tag 9: a set with a TTL, and maybe an Idempotency-Key and a condition; null if malformed. */
function parseSetTtl(o: unknown[]): ForwardedOp | null {
  if (o.length !== 5) return null;
  const pairs = parsePairs(o[1]);
  const key = o[2];
  const condition = o[3] === null ? undefined : parseCondition(o[3]);
  const ttlMs = o[4];
  if (pairs === null || (key !== null && !isIdempotencyKey(key)) || condition === null) return null;
  if (typeof ttlMs !== "number" || !Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > ttlMsMax) return null;
  return {
    type: "set",
    pairs,
    ...(key === null ? {} : { idempotencyKey: key }),
    ...(condition === undefined ? {} : { condition }),
    ttlMs,
  };
}

function parsePairs(flat: unknown): KeyValue[] | null {
  if (!Array.isArray(flat) || flat.length === 0 || flat.length % 2 !== 0) return null;
  const pairs: KeyValue[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i] as unknown;
    const val = flat[i + 1] as unknown;
    if (!isStr(k) || !isStr(val)) return null;
    pairs.push([k, val]);
  }
  return pairs;
}

/** The reply for an error thrown while serving a forwarded request. */
export function errorReply(reqId: string, e: unknown): ForwardReply {
  if (e instanceof StoreError) return { type: "reply", reqId, error: { code: e.code, message: e.message }, value: null };
  const message = e instanceof Error ? e.message : String(e);
  return { type: "reply", reqId, error: { code: "unavailable", message }, value: null };
}
