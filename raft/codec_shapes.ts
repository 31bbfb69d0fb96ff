// Shape checks of decoded CBOR values: the gateway's primitives (raft/codec.ts for stored
// values, raft/message_codec.ts for messages). Each names the field it refuses, so a
// CodecError says what was wrong where. termOf, indexOf and nodeIdOf give a checked field its
// brand (raft/core/ids.ts), so a decoder cannot put a term where an index belongs.

import { type LogIndex, logIndex, type NodeId, nodeId, type Term, term } from "./core/mod.ts";

/** Thrown for any byte string that is not a well-formed encoding of the expected value. */
export class CodecError extends Error {
  override readonly name = "CodecError";
}

/** Longest node id, address or read context accepted from the outside, in characters. */
export const stringCharsMax = 4096;
/** Most members in one configuration. */
export const membersCountMax = 1024;

/** Throws the CodecError for field `what`. */
export function fail(what: string, why: string): never {
  throw new CodecError(`${what}: ${why}`);
}

/** An array, of exactly `length` items if given. */
export function arr(v: unknown, what: string, length?: number): unknown[] {
  if (!Array.isArray(v)) fail(what, "expected an array");
  if (length !== undefined && v.length !== length) fail(what, `expected ${length} items, got ${v.length}`);
  return v;
}

/** A non-negative safe integer: terms, indexes, offsets, counters. */
export function nat(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) fail(what, "expected a non-negative safe integer");
  return v;
}

/** A term (§5.1): a non-negative safe integer. */
export function termOf(v: unknown, what: string): Term {
  return term(nat(v, what));
}

/** A log index (§5.3): a non-negative safe integer. */
export function indexOf(v: unknown, what: string): LogIndex {
  return logIndex(nat(v, what));
}

/** A node id: a non-empty string of at most stringCharsMax characters. */
export function nodeIdOf(v: unknown, what: string): NodeId {
  return nodeId(str(v, what));
}

/** A safe integer >= -1, for the fields where -1 means "none" or "restart". */
export function natOrMinusOne(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < -1) fail(what, "expected a safe integer >= -1");
  return v;
}

/** A boolean. */
export function bool(v: unknown, what: string): boolean {
  if (typeof v !== "boolean") fail(what, "expected a boolean");
  return v;
}

/** A string of at most stringCharsMax characters, not empty unless allowed. */
export function str(v: unknown, what: string, allowEmpty = false): string {
  if (typeof v !== "string") fail(what, "expected a string");
  if (v.length > stringCharsMax) fail(what, `string longer than ${stringCharsMax}`);
  if (!allowEmpty && v.length === 0) fail(what, "empty string");
  return v;
}

/** Already a copy (copyBuffers); a Buffer copy is re-viewed as a plain Uint8Array. */
export function bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(what, "expected a byte string");
  return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
