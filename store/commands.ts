// Commands carried in the Raft log as application data, and their CBOR encoding. The
// decoder is the gateway: it checks the whole shape, so the state machine trusts what it gets.

import { createHash } from "node:crypto";
import { Decoder, Encoder } from "../raft/cbor.ts";
import { CommandError } from "./errors.ts";
import { decodeConditionalSet, encodeConditionalSet } from "./condition_codec.ts";
import { decodeOnceEnvelope, encodeOnceEnvelope } from "./once_codec.ts";
import { decodePlainSet, encodePlainSet } from "./plain_set.ts";
import { unreachable } from "../unreachable.ts";

/** A key and the value it is set to. */
export type KeyValue = readonly [key: string, value: string];

/**
 * What one log entry asks the key-value state machine to do.
 * `set` writes one or many keys atomically (one POST /key is one entry, unlike hraftd,
 * which applies one entry per key); `delete` removes one key (absent is fine).
 * Invariant: keys are non-empty strings, values are strings, `pairs` is non-empty.
 */
export type WriteCommand =
  | { readonly type: "set"; readonly pairs: readonly KeyValue[]; readonly condition?: Condition; readonly ttl?: Ttl }
  | { readonly type: "delete"; readonly key: string; readonly condition?: Condition };

/**
 * Expiring keys (issue 16, POST /key?ttl=): every key of the set gets the deadline
 * `max(log clock, stamp) + ms` in log time (store/expiry.ts). `stamp` is the proposing leader's
 * wall-clock time (ms), as a once command's: it moves the log clock, so the deadline counts
 * from when the leader took the write, and every replica computes the same deadline.
 */
export interface Ttl {
  readonly stamp: number;
  readonly ms: number;
}

/** Longest TTL: one year. Longer is almost certainly a mistake (a unit typed wrong). */
export const ttlMsMax = 365 * 24 * 60 * 60 * 1000;

/**
 * The leader's expiry of keys past their deadline (store/expiry_loop.ts): `stamp` is its
 * wall-clock time, and each key is deleted only if, when the entry applies, its deadline is
 * at most the log clock (moved by `stamp`) and it is still at `version` (a write in between,
 * a refresh above all, wins). Decided from the log alone: the same on every replica.
 */
export interface ExpireCommand {
  readonly type: "expire";
  readonly stamp: number;
  readonly keys: readonly (readonly [key: string, version: number])[];
}

/**
 * A precondition on every key a write names (HTTP's conditional requests, RFC 9110 §13),
 * checked by the state machine when it applies the entry, never on a possibly stale copy:
 * `match` (If-Match: "<v>", …): the key exists with one of `versions`; `exists` (If-Match: *);
 * `absent` (If-None-Match: *). If any key fails it, nothing is written (412).
 */
export type Condition =
  | { readonly type: "match"; readonly versions: readonly number[] }
  | { readonly type: "exists" }
  | { readonly type: "absent" };

/** Most versions one If-Match may list. */
export const conditionVersionsMax = 16;

/**
 * A write applied at most once per `id` (an Idempotency-Key, scoped to its user: thesis §6.3's
 * client sessions, one request per id). `stamp` is the proposing leader's wall-clock time in
 * ms, the only time the state machine ever sees (store/sessions.ts: the log clock). `digest`
 * is SHA-256 (base64) of the encoded `write`, computed from the log's bytes on every replica,
 * so a different request under the same id is told apart identically everywhere.
 */
export interface OnceCommand {
  readonly type: "once";
  readonly stamp: number;
  readonly id: string;
  readonly write: WriteCommand;
  readonly digest: string;
}

export type Command = WriteCommand | OnceCommand | ExpireCommand;

/** Longest scoped id: a user name (security/auth_file.ts allows 64 characters), ':' and a 255-character key. */
export const onceIdCharsMax = 512;

/** Largest encoded command accepted; far above the HTTP body limit (1 MiB by default). */
export const commandBytesMax = 16 * 1024 * 1024;

// Wire tags: the first element of the CBOR array. Small integers keep entries compact.
const tagSet = 1;
const tagDelete = 2;
// `[3, stamp, id, write]`, `write` the bytes of a set or delete command: a new tag, so a build
// that predates it refuses the entry as an unknown command (a deterministic no-op) rather than
// applying it without its once-only check.
const tagOnce = 3;
// `[4, condition, k1, v1, …]` and `[5, condition, key]`: a set or delete with a Condition.
const tagSetIf = 4;
const tagDeleteIf = 5;
// `[6, stamp, ttlMs, condition | null, k1, v1, …]`: a set with a TTL (and maybe a condition).
// `[7, stamp, k1, version1, …]`: an expiry. New tags: a build that predates them refuses them
// as unknown commands (a deterministic no-op) rather than writing keys that never expire.
const tagSetTtl = 6;
const tagExpire = 7;

const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false });

/**
 * Encodes a command as a CBOR array: `[1, k1, v1, k2, v2, …]` for set, `[2, key]` for delete.
 * Throws CommandError if the command breaks its invariants, so nothing malformed is proposed.
 */
export function encodeCommand(command: Command): Uint8Array {
  let value: unknown[];
  switch (command.type) {
    case "once":
      return encodeOnceCommand(command.stamp, command.id, command.write);
    case "expire": {
      checkStamp(command.stamp);
      if (command.keys.length === 0) throw new CommandError("expire needs at least one key");
      value = new Array(2 + 2 * command.keys.length);
      value[0] = tagExpire;
      value[1] = command.stamp;
      for (let i = 0; i < command.keys.length; i++) {
        const [key, version] = command.keys[i]!;
        value[2 + 2 * i] = checkKey(key);
        value[3 + 2 * i] = checkVersion(version);
      }
      break;
    }
    case "set": {
      const pairs = command.pairs;
      if (pairs.length === 0) throw new CommandError("set needs at least one key");
      if (command.ttl !== undefined) {
        value = [tagSetTtl, checkStamp(command.ttl.stamp), checkTtlMs(command.ttl.ms), command.condition === undefined ? null : conditionValue(command.condition)];
        for (const pair of pairs) {
          checkKey(pair[0]);
          if (typeof pair[1] !== "string") throw new CommandError(`value of "${pair[0]}" is not a string`);
          value.push(pair[0], pair[1]);
        }
        break;
      }
      // The commonest commands, written directly (the same bytes); anything else below.
      const direct = command.condition === undefined ? encodePlainSet(pairs) : encodeConditionalSet(command.condition, pairs);
      if (direct !== null) return direct;
      // Without a condition, exactly the bytes of before; with one, its own tag and a slot for it.
      const at = command.condition === undefined ? 1 : 2;
      value = new Array(at + 2 * pairs.length);
      value[0] = tagSet;
      if (command.condition !== undefined) {
        value[0] = tagSetIf;
        value[1] = conditionValue(command.condition);
      }
      for (let i = 0; i < pairs.length; i++) {
        const pair = pairs[i]!;
        checkKey(pair[0]);
        if (typeof pair[1] !== "string") throw new CommandError(`value of "${pair[0]}" is not a string`);
        value[at + 2 * i] = pair[0];
        value[at + 1 + 2 * i] = pair[1];
      }
      break;
    }
    case "delete":
      checkKey(command.key);
      value = command.condition === undefined ? [tagDelete, command.key] : [tagDeleteIf, conditionValue(command.condition), command.key];
      break;
    default:
      return unreachable(command);
  }
  const encoded = encoder.encode(value);
  if (encoded.length > commandBytesMax) {
    throw new CommandError(`command of ${encoded.length} bytes exceeds ${commandBytesMax}`);
  }
  // cbor-x returns a view into its working buffer, which all its encoders share and which
  // grows to the largest thing encoded (a snapshot chunk: ~2 MB). The entry lives on in the
  // Raft log, so it gets its own exact-size copy rather than pinning that buffer (measured:
  // 11k log entries held 27 MB of such buffers at a million keys).
  return new Uint8Array(encoded);
}

/**
 * Decodes and validates one command. Throws CommandError for anything that is not exactly
 * a well-formed command (bad CBOR, trailing bytes, wrong tag, arity, types, empty key).
 */
export function decodeCommand(bytes: Uint8Array): Command {
  if (bytes.length > commandBytesMax) {
    throw new CommandError(`command of ${bytes.length} bytes exceeds ${commandBytesMax}`);
  }
  const plain = decodePlainSet(bytes);
  if (plain !== null) return plain;
  const conditional = decodeConditionalSet(bytes);
  if (conditional !== null) return conditional;
  const envelope = decodeOnceEnvelope(bytes);
  if (envelope !== null) return onceOf(envelope.stamp, envelope.id, envelope.write);
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (e) {
    throw new CommandError(`command is not valid CBOR: ${(e as Error).message}`);
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw new CommandError("command is not a non-empty CBOR array");
  }
  const tag: unknown = value[0];
  if (tag === tagSet) return decodeSet(value);
  if (tag === tagOnce) return decodeOnce(value);
  if (tag === tagSetIf) {
    if (value.length < 2) throw new CommandError("conditional set has no condition");
    const condition = parseCondition(value[1]);
    if (condition === null) throw new CommandError("conditional set: malformed condition");
    const set = decodeSet([tagSet, ...value.slice(2)]) as Extract<WriteCommand, { type: "set" }>;
    return { type: "set", pairs: set.pairs, condition };
  }
  if (tag === tagDeleteIf) {
    if (value.length !== 3) throw new CommandError(`conditional delete has ${value.length - 1} operands, want 2`);
    const condition = parseCondition(value[1]);
    if (condition === null) throw new CommandError("conditional delete: malformed condition");
    return { type: "delete", key: checkKey(value[2]), condition };
  }
  if (tag === tagDelete) {
    if (value.length !== 2) throw new CommandError(`delete has ${value.length - 1} operands, want 1`);
    return { type: "delete", key: checkKey(value[1]) };
  }
  if (tag === tagSetTtl) return decodeSetTtl(value);
  if (tag === tagExpire) return decodeExpire(value);
  throw new CommandError(`unknown command tag ${String(tag)}`);
}

/**
 * The once-only form of `write`, stamped `stamp` (ms) under the scoped id `id`. Throws
 * CommandError if any part is malformed.
 */
export function onceCommand(stamp: number, id: string, write: WriteCommand): OnceCommand {
  return { type: "once", stamp: checkStamp(stamp), id: checkOnceId(id), write, digest: writeDigest(write, encodeCommand(write)) };
}

/**
 * encodeCommand(onceCommand(stamp, id, write)) without computing the digest, which only the
 * decoder's counts (every replica computes it from the log's bytes): the leader's write path.
 */
export function encodeOnceCommand(stamp: number, id: string, write: WriteCommand): Uint8Array {
  checkStamp(stamp);
  checkOnceId(id);
  const writeBytes = encodeCommand(write);
  // Written directly (the same bytes) unless the id is not ASCII.
  const direct = encodeOnceEnvelope(stamp, id, writeBytes);
  if (direct !== null) {
    if (direct.length > commandBytesMax) throw new CommandError(`command of ${direct.length} bytes exceeds ${commandBytesMax}`);
    return direct;
  }
  const encoded = encoder.encode([tagOnce, stamp, id, writeBytes]);
  if (encoded.length > commandBytesMax) throw new CommandError(`command of ${encoded.length} bytes exceeds ${commandBytesMax}`);
  return new Uint8Array(encoded);
}

function decodeOnce(value: readonly unknown[]): OnceCommand {
  if (value.length !== 4) throw new CommandError(`once has ${value.length - 1} operands, want 3`);
  return onceOf(value[1], value[2], value[3]);
}

/** A once command from its envelope's parts (once_codec.ts's or cbor-x's), each checked. */
function onceOf(stampPart: unknown, idPart: unknown, bytes: unknown): OnceCommand {
  const stamp = checkStamp(stampPart);
  const id = checkOnceId(idPart);
  if (!(bytes instanceof Uint8Array)) throw new CommandError("once: the write is not a byte string");
  const write = decodeCommand(bytes);
  if (write.type === "once") throw new CommandError("once: the write is itself a once command");
  if (write.type === "expire") throw new CommandError("once: the write is an expiry");
  return { type: "once", stamp, id, write, digest: writeDigest(write, bytes) };
}

/**
 * What tells two requests under one id apart: the digest of the write's bytes, except that a
 * TTL's stamp (the leader's time when it took that attempt) is left out, so a retry of a write
 * with a TTL is the same request. A different TTL is a different request.
 */
function writeDigest(write: WriteCommand, bytes: Uint8Array): string {
  if (write.type !== "set" || write.ttl === undefined) return writeBytesDigest(bytes);
  return writeBytesDigest(encodeCommand({ ...write, ttl: { stamp: 0, ms: write.ttl.ms } }));
}

/** A Condition as plain CBOR-able data: `[0, v…]` match, `[1]` absent, `[2]` exists (log entries and forwarded requests). */
export function conditionValue(condition: Condition): unknown[] {
  switch (condition.type) {
    case "match":
      return [0, ...condition.versions];
    case "absent":
      return [1];
    case "exists":
      return [2];
    default:
      return unreachable(condition);
  }
}

/** The Condition of conditionValue's data, or null if it is not one. */
export function parseCondition(x: unknown): Condition | null {
  if (!Array.isArray(x) || x.length === 0) return null;
  if (x[0] === 1 && x.length === 1) return { type: "absent" };
  if (x[0] === 2 && x.length === 1) return { type: "exists" };
  if (x[0] !== 0 || x.length < 2 || x.length > 1 + conditionVersionsMax) return null;
  const versions = x.slice(1) as unknown[];
  if (!versions.every((v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0)) return null;
  return { type: "match", versions: versions as number[] };
}

/**
 * SHA-256 of `bytes`, base64: the digest of a write without a TTL (writeDigest), as a once
 * command's apply from bytes (KvStateMachine.apply) takes it for a plain set. Bun's one-shot
 * hash where there is one: node:crypto's createHash builds a Hash object per call, ~2 µs of
 * a keyed write's apply on every replica (profiled at the leader under wrk); the digest is
 * the same either way.
 */
export function writeBytesDigest(bytes: Uint8Array): string {
  if (bunSha256 !== undefined) return bunSha256.hash(bytes, "base64");
  return createHash("sha256").update(bytes).digest("base64");
}

const bunSha256 = (globalThis as { Bun?: typeof Bun }).Bun?.SHA256;

function checkStamp(stamp: unknown): number {
  if (typeof stamp !== "number" || !Number.isSafeInteger(stamp) || stamp < 0) {
    throw new CommandError(`stamp ${String(stamp)} is not a non-negative integer`);
  }
  return stamp;
}

function checkOnceId(id: unknown): string {
  if (typeof id !== "string" || id.length === 0 || id.length > onceIdCharsMax) {
    throw new CommandError(`once id is not a string of 1 to ${onceIdCharsMax} characters`);
  }
  return id;
}

function decodeSetTtl(value: readonly unknown[]): WriteCommand {
  if (value.length < 6) throw new CommandError(`set with a TTL has ${value.length - 1} operands, want at least 5`);
  const ttl: Ttl = { stamp: checkStamp(value[1]), ms: checkTtlMs(value[2]) };
  const condition = value[3] === null ? undefined : parseCondition(value[3]);
  if (condition === null) throw new CommandError("set with a TTL: malformed condition");
  const set = decodeSet([tagSet, ...value.slice(4)]) as Extract<WriteCommand, { type: "set" }>;
  return condition === undefined ? { type: "set", pairs: set.pairs, ttl } : { type: "set", pairs: set.pairs, condition, ttl };
}

function decodeExpire(value: readonly unknown[]): ExpireCommand {
  if (value.length < 4 || value.length % 2 !== 0) {
    throw new CommandError(`expire has ${value.length - 1} operands, want a stamp and key-version pairs`);
  }
  const stamp = checkStamp(value[1]);
  const keys: Array<readonly [string, number]> = [];
  for (let i = 2; i < value.length; i += 2) keys.push([checkKey(value[i]), checkVersion(value[i + 1])]);
  return { type: "expire", stamp, keys };
}

function checkTtlMs(ms: unknown): number {
  if (typeof ms !== "number" || !Number.isSafeInteger(ms) || ms < 1 || ms > ttlMsMax) {
    throw new CommandError(`TTL ${String(ms)} is not a whole number of milliseconds from 1 to ${ttlMsMax}`);
  }
  return ms;
}

function checkVersion(version: unknown): number {
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 0) {
    throw new CommandError(`version ${String(version)} is not a non-negative integer`);
  }
  return version;
}

function decodeSet(value: readonly unknown[]): Command {
  if (value.length < 3 || value.length % 2 === 0) {
    throw new CommandError(`set has ${value.length - 1} operands, want a positive even number`);
  }
  const pairs: KeyValue[] = new Array((value.length - 1) / 2);
  for (let i = 1, j = 0; i < value.length; i += 2, j++) {
    const key = checkKey(value[i]);
    const v: unknown = value[i + 1];
    if (typeof v !== "string") throw new CommandError(`value of "${key}" is not a string`);
    pairs[j] = [key, v];
  }
  return { type: "set", pairs };
}

function checkKey(key: unknown): string {
  if (typeof key !== "string") throw new CommandError("key is not a string");
  if (key.length === 0) throw new CommandError("key is empty");
  return key;
}
