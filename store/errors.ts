// Typed errors of the store layer: StoreError (what a client request failed with, mapped to
// HTTP statuses in http/errors.ts), CommandError (bytes that are not a valid command) and
// SnapshotError (bytes that are not a valid state machine snapshot).

/**
 * Why a store operation failed.
 * - notFound: the key (or member) does not exist.
 * - noLeader: no leader is known right now; retrying later may succeed.
 * - outcomeUnknown: a write may or may not have been applied (it was handed to Raft, then
 *   we lost track of it). Never retried silently, since a retry could apply it twice.
 * - timeout: an operation that is safe to repeat (a read, a write never proposed) took too long.
 * - invalid: the request itself is wrong; repeating it will not help.
 * - unavailable: this node cannot take the request now (too many pending, shutting down).
 * - notMember: the node named in a remove is not in the cluster.
 * - forbidden: the leader refused a forwarded request for lack of a permission (-auth).
 */
export type StoreErrorCode =
  | "notFound"
  | "noLeader"
  | "outcomeUnknown"
  | "timeout"
  | "invalid"
  | "unavailable"
  | "notMember"
  | "forbidden";

/** A failed store operation; `leader` is a hint (the leader's id or address) when known. */
export class StoreError extends Error {
  override readonly name = "StoreError";
  readonly code: StoreErrorCode;
  readonly leader: string | null;

  constructor(code: StoreErrorCode, message: string, leader: string | null = null) {
    super(message);
    this.code = code;
    this.leader = leader;
  }
}

/** True if `e` is a StoreError (optionally with the given code). */
export function isStoreError(e: unknown, code?: StoreErrorCode): e is StoreError {
  return e instanceof StoreError && (code === undefined || e.code === code);
}

/** Bytes that do not decode to a well-formed Command (see store/commands.ts). */
export class CommandError extends Error {
  override readonly name = "CommandError";
}

/** Bytes that do not decode to a well-formed key-value snapshot (see store/state_machine.ts). */
export class SnapshotError extends Error {
  override readonly name = "SnapshotError";
}
