// Commands carried in the Raft log as application data, and their CBOR encoding. The
// decoder is the gateway: it checks the whole shape, so the state machine trusts what it gets.

import { createHash } from "node:crypto";
import { Decoder, Encoder } from "../raft/cbor.ts";
import { CommandError } from "./errors.ts";
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
  | { readonly type: "set"; readonly pairs: readonly KeyValue[] }
  | { readonly type: "delete"; readonly key: string };

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

export type Command = WriteCommand | OnceCommand;

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
      checkStamp(command.stamp);
      checkOnceId(command.id);
      value = [tagOnce, command.stamp, command.id, encodeCommand(command.write)];
      break;
    case "set": {
      const pairs = command.pairs;
      if (pairs.length === 0) throw new CommandError("set needs at least one key");
      value = new Array(1 + 2 * pairs.length);
      value[0] = tagSet;
      for (let i = 0; i < pairs.length; i++) {
        const pair = pairs[i]!;
        checkKey(pair[0]);
        if (typeof pair[1] !== "string") throw new CommandError(`value of "${pair[0]}" is not a string`);
        value[1 + 2 * i] = pair[0];
        value[2 + 2 * i] = pair[1];
      }
      break;
    }
    case "delete":
      checkKey(command.key);
      value = [tagDelete, command.key];
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
  if (tag === tagDelete) {
    if (value.length !== 2) throw new CommandError(`delete has ${value.length - 1} operands, want 1`);
    return { type: "delete", key: checkKey(value[1]) };
  }
  throw new CommandError(`unknown command tag ${String(tag)}`);
}

/**
 * The once-only form of `write`, stamped `stamp` (ms) under the scoped id `id`. Throws
 * CommandError if any part is malformed.
 */
export function onceCommand(stamp: number, id: string, write: WriteCommand): OnceCommand {
  return { type: "once", stamp: checkStamp(stamp), id: checkOnceId(id), write, digest: digestOf(encodeCommand(write)) };
}

function decodeOnce(value: readonly unknown[]): OnceCommand {
  if (value.length !== 4) throw new CommandError(`once has ${value.length - 1} operands, want 3`);
  const stamp = checkStamp(value[1]);
  const id = checkOnceId(value[2]);
  const bytes: unknown = value[3];
  if (!(bytes instanceof Uint8Array)) throw new CommandError("once: the write is not a byte string");
  const write = decodeCommand(bytes);
  if (write.type === "once") throw new CommandError("once: the write is itself a once command");
  return { type: "once", stamp, id, write, digest: digestOf(bytes) };
}

function digestOf(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64");
}

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
