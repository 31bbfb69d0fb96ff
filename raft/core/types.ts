// Plain data types shared by the whole Raft core: log positions, entries, membership,
// hard state and snapshot metadata. Names follow Figure 2 of the Raft paper.

// The three kinds of number and string the rules juggle are branded so that one cannot be
// passed where another is expected: a Term is not a LogIndex, a NodeId is not an address. The
// brand is optional ("flavoured"): a plain number or string literal still converts, so tests,
// arithmetic inside the core (index + 1) and the factory's options need no casts, while a
// value already branded as one kind is refused where another kind is wanted. Values coming
// from bytes or flags pass through the checked constructors of ids.ts (the codecs, storage
// recovery, open_node.ts) and are trusted inside.

/** A server's identity, stable across restarts (hraftd's -id). Invariant: not empty. */
export type NodeId = string & { readonly __brand?: "NodeId" };
/** A Raft term (§5.1). Invariant: a non-negative safe integer. */
export type Term = number & { readonly __brand?: "Term" };
/** A position in the log (§5.3). Index 0 is the empty position before the first entry. */
export type LogIndex = number & { readonly __brand?: "LogIndex" };

/** The position of one entry: its index and the term it was created in. */
export interface EntryId {
  readonly index: LogIndex;
  readonly term: Term;
}

/**
 * What an entry carries. `normal` holds opaque application data (a store command),
 * `noop` is appended by a new leader (§5.4.2, §8), `config` carries a whole Membership
 * (thesis §4.1: a server uses the newest configuration in its log, committed or not).
 */
export type EntryKind = "normal" | "noop" | "config";

/** One log entry. Invariant: treated as immutable once created. */
export interface Entry {
  readonly index: LogIndex;
  readonly term: Term;
  readonly kind: EntryKind;
  /** Application bytes for `normal`; empty for `noop` and `config`. */
  readonly data: Uint8Array;
  /** The new configuration; present if and only if kind is `config`. */
  readonly membership?: Membership;
}

/** A voter counts toward quorums; a learner receives the log but neither votes nor counts. */
export type Suffrage = "voter" | "learner";

/** One member of the cluster. `addr` is its advertised Raft address (opaque to the core). */
export interface Member {
  readonly id: NodeId;
  readonly addr: string;
  readonly suffrage: Suffrage;
}

/**
 * The cluster configuration. Carried whole in `config` entries and in snapshot metadata.
 * Invariant: ids are unique; members are sorted by id (deterministic iteration).
 */
export interface Membership {
  readonly members: readonly Member[];
}

/**
 * State that must be on stable storage before any message that depends on it leaves the
 * node (Figure 2, "Persistent state on all servers").
 */
export interface HardState {
  readonly currentTerm: Term;
  /** Candidate that received this server's vote in currentTerm, or null. */
  readonly votedFor: NodeId | null;
}

/** Metadata of a snapshot: the last entry it covers and the membership as of that entry. */
export interface SnapshotMeta {
  readonly lastIncludedIndex: LogIndex;
  readonly lastIncludedTerm: Term;
  readonly membership: Membership;
}

/** A complete snapshot: metadata plus the state machine's serialized bytes (opaque to the core). */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/**
 * Where a follower keeps a snapshot's bytes while its chunks arrive (thesis Figure 5.3), in
 * order; the core asks RaftConfig.snapshotReceiver for one per snapshot. The core's own keeps
 * them in memory; the driver's writes each chunk to the file the snapshot is stored in, so a
 * follower never holds the whole (289-336 MB at ten million keys) nor frees it at once.
 */
export interface SnapshotReceiver {
  /** Bytes received so far. */
  readonly size: number;
  /**
   * Appends `chunk`, whose bytes the caller never changes (a received message's own); the
   * driver's receiver keeps it until written off the loop, the core's copies it at once.
   */
  append(chunk: Uint8Array): void;
  /** Everything received, once the last chunk is in. */
  bytes(): Uint8Array;
  /** The snapshot was abandoned (a newer one, or a restart from 0): what it holds may go. */
  discard(): void;
}

/** Role of a server (§5.1), plus the PreVote phase of the thesis (§9.6). */
export type Role = "follower" | "precandidate" | "candidate" | "leader";
