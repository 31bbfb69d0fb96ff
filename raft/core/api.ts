// The contract between the pure Raft core and whoever drives it (raft/node.ts, the
// simulator in tests/sim, and unit tests). The implementation lives in core.ts.

import type { Message } from "./messages.ts";
import type { Ready, ReadState } from "./ready.ts";
import type {
  Entry,
  EntryId,
  HardState,
  LogIndex,
  Member,
  Membership,
  NodeId,
  Role,
  Snapshot,
  SnapshotMeta,
  SnapshotReceiver,
  Term,
} from "./types.ts";

/** A seeded source of randomness; the only one the core may use. */
export interface Rng {
  /** A uniformly distributed integer in [0, n). */
  int(n: number): number;
}

/** Limits and timing, all in ticks or counts; units last in the name. */
export interface RaftConfig {
  readonly id: NodeId;
  /** Minimum election timeout; each timeout is drawn uniformly from [min, 2*min). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly rng: Rng;
  /** PreVote (thesis §9.6) and CheckQuorum (§6.2): on by default. */
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /**
   * A voter restarted with state grants no (pre)vote for its first election timeout (on by
   * default): leader leases count on it (raft/lease.ts), so without it no lease is granted.
   */
  readonly quietAfterRestart?: boolean;
  /**
   * The lease window L, in ticks (raft/lease.ts): every voter refuses (pre)votes for at least L
   * ticks after its last word from a leader, so a leader may serve lease reads for (L - 1)
   * ticks less a drift share after a round it sent. By default half of electionTicks, at least
   * two heartbeat intervals (config.ts); from 2 to electionTicks.
   */
  readonly leaseTicks?: number;
  /** Pipelined AppendEntries in flight per follower before it is paused. */
  readonly inflightMessagesMax?: number;
  /** Upper bound on entry bytes in one AppendEntries. */
  readonly appendBytesMax?: number;
  /** Bytes per InstallSnapshot chunk. */
  readonly snapshotChunkBytes?: number;
  /**
   * A follower's store for each snapshot it receives (see SnapshotReceiver); by default a
   * buffer in memory. The driver gives one that writes through to the snapshot's file.
   */
  readonly snapshotReceiver?: (meta: SnapshotMeta) => SnapshotReceiver;
  /** Proposals refused while this many uncommitted bytes are outstanding on the leader. */
  readonly uncommittedBytesMax?: number;
  /** Pending ReadIndex contexts on one node. */
  readonly pendingReadsMax?: number;
}

/** What storage held when the node started (empty for a brand-new node). */
export interface InitialState {
  readonly hardState: HardState;
  /** Newest snapshot, or null. */
  readonly snapshot: Snapshot | null;
  /** Entries after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
  /**
   * Membership for a node whose log and snapshot are empty: given when bootstrapping a new
   * cluster (the first node), null for a node that waits to be added by a leader.
   */
  readonly bootstrap: Membership | null;
}

/** A request to change membership by one server (thesis §4.1). */
export type ConfChange =
  | { readonly type: "addLearner"; readonly id: NodeId; readonly addr: string }
  | { readonly type: "promote"; readonly id: NodeId }
  | { readonly type: "remove"; readonly id: NodeId };

/** Outcome of a proposal: where the entry will sit if it commits, or why it was refused. */
export type ProposeResult =
  | { readonly ok: true; readonly id: EntryId }
  | { readonly ok: false; readonly reason: "notLeader" | "transferring" | "busy" | "confChangeInFlight" | "invalid"; readonly leader: NodeId | null };

/** A snapshot of the core's state for /status and for checkers. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly leader: NodeId | null;
  readonly votedFor: NodeId | null;
  readonly commitIndex: LogIndex;
  readonly lastApplied: LogIndex;
  readonly lastLogIndex: LogIndex;
  /** Term of the last entry (or of the snapshot when the log is empty): with lastLogIndex, how up to date this log is (§5.4.1). */
  readonly lastLogTerm: Term;
  readonly snapshotIndex: LogIndex;
  readonly members: readonly Member[];
  /**
   * This server saw a configuration that listed it and the one in force no longer does: it
   * was removed. It never campaigns; a server not yet added (no configuration lists it yet)
   * is not removed.
   */
  readonly removed: boolean;
}

/** The pure Raft state machine. Every method is synchronous and deterministic. */
export interface RaftCore {
  /** One unit of logical time: drives election timeouts, heartbeats and CheckQuorum. */
  tick(): void;
  /** Handle a message from a peer. Malformed or misdirected messages are ignored. */
  step(msg: Message): void;
  /** Append application data if leader (§5.3). */
  propose(data: Uint8Array): ProposeResult;
  /** Propose a single-server membership change (thesis §4.1). */
  proposeConfChange(change: ConfChange): ProposeResult;
  /** Ask for a linearizable read index for `ctx` (§6.4); the answer comes in a Ready. */
  readIndex(ctx: string): void;
  /**
   * The transport saw the connection from `from` close (its process has most likely ended).
   * If `from` is this follower's leader, it refuses (pre)votes only for the lease window
   * (leaseTicks) after its last word from `from`, not the whole election timeout, and campaigns
   * as soon as the other voters, who saw the same close, may grant; any message from `from`
   * cancels both. No vote is granted inside any leader's lease.
   */
  leaderDisconnected(from: NodeId): void;
  /** The lease window L in ticks (RaftConfig.leaseTicks): what the driver's lease is timed by. */
  leaseTicks(): number;
  /**
   * The newest heartbeat round this node started (leader: one per tick and per ReadIndex
   * batch); every AppendEntries sent from now on carries it, and acks echo it.
   */
  readRound(): number;
  /**
   * Leader: the newest round of its term a majority of voters acknowledged (itself included);
   * 0 if none, if not leader, without CheckQuorum, or once a transfer began (raft/lease.ts);
   * Infinity when it alone is a majority (the lease never lapses).
   */
  quorumRound(): number;
  /** Hand leadership to `id` (thesis §3.10). Returns false if not possible now. */
  transferLeadership(id: NodeId): boolean;
  /** True if ready() has something to do. */
  hasReady(): boolean;
  ready(): Ready;
  /** The driver finished carrying out `ready` (persisted, sent, applied). */
  advance(ready: Ready): void;
  /**
   * Committed entries no Ready has handed out yet, handed out now and counted as applied: at
   * most `entriesMax`, cut after `bytesMax` bytes (at least one if any). For a leader whose
   * Ready is out while its own fdatasync runs, or done with none out, whose followers' replies
   * commit entries meanwhile (thesis §10.2.1): the caller applies them at once, in order, and
   * must have applied every committed entry handed out before (the outstanding Ready's included).
   */
  takeCommitted(entriesMax: number, bytesMax: number): readonly Entry[];
  /**
   * Reads confirmed since the last Ready (§6.4: a majority acknowledged a round begun after
   * they arrived), handed out now instead of in the next Ready. For a leader, whose state
   * machine is whole between turns: the caller serves each once it has applied its read index.
   */
  takeReadStates(): readonly ReadState[];
  /**
   * While a leader's Ready is outstanding (its own fdatasync running): AppendEntries for the
   * one entry proposed since, to each follower that holds everything it was sent, for the
   * caller to send now rather than after that sync and the next Ready (thesis §10.2.1: a
   * leader may send entries before its own disk holds them; it counts itself toward commit
   * only once advance() reports them durable). Nothing when more than one entry waits: a
   * batch forming under load leaves with the next Ready, one AppendEntries per follower.
   */
  takeLoneAppends(): readonly Message[];
  /**
   * The application wrote a snapshot covering the log up to `index` (≤ lastApplied).
   * The core keeps `data` to send to slow followers and discards entries up to
   * `index - trailingEntries` (§7).
   */
  snapshotTaken(index: LogIndex, data: Uint8Array, trailingEntries: number): void;
  status(): RaftStatus;
  /** status().role === "leader", without building a status (a store asks it on every request). */
  isLeader(): boolean;
  /** Entries currently held in memory (after the compaction point), for checkers. */
  entries(): readonly Entry[];
}

export type { Message, Ready };
