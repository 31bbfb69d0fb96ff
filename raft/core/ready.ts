// The Ready value: everything the driver must do next, with durability ordering written
// into the type (persist, then send the after-persist messages, apply, then advance()).

import type { Message } from "./messages.ts";
import type { Entry, HardState, LogIndex, NodeId, Role, Snapshot, Term } from "./types.ts";

/** A read that may be served once the state machine has applied `readIndex` (§6.4). */
export interface ReadState {
  readonly ctx: string;
  readonly readIndex: LogIndex;
}

/** Volatile state worth reporting (logged on change, shown by /status). */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: Term;
  /** Removed from the cluster (see RaftStatus.removed). */
  readonly removed: boolean;
}

/**
 * One batch of work for the driver. The driver carries it out in this order:
 *  1. Persist, durably (fdatasync): `snapshot` (if any; it replaces the whole stored log,
 *     every stored entry is dropped, since the core only installs one it cannot match), then
 *     `entries` (first truncating every stored entry with index >= entries[0].index), then
 *     `hardState` (if any).
 *  2. Send `messages` (these may leave before step 1 completes) and, only after step 1 is
 *     durable, `messagesAfterPersist` (votes, append acks: "persist before you speak").
 *  3. Restore the state machine from `snapshot` (if any), then apply `committed` in order.
 *  4. Serve `readStates` once applied >= readIndex; fail `droppedReads`.
 *  5. Call `advance(ready)`.
 * At most one Ready is outstanding: `ready()` must not be called again before `advance()`.
 */
export interface Ready {
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Read contexts that cannot be served here (no leader, lost leadership): answer 503. */
  readonly droppedReads: readonly string[];
  /** Present when role, leader, term or removal changed since the last Ready. */
  readonly softState: SoftState | null;
}
