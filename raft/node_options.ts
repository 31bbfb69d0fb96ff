// What a RaftNode (raft/node.ts) is built from: the durable storage and state machine it
// drives, the events it reports to its owner (the Store), and its options with their defaults.

import type {
  Entry,
  HardState,
  LogIndex,
  Message,
  RaftCore,
  Snapshot,
  SnapshotMeta,
  SoftState,
} from "./core/mod.ts";
import type { Clock, Logger, Scheduler, Timers } from "./host.ts";
import type { LeaseOptions } from "./lease.ts";
import type { RequestCounts } from "./requests.ts";
import type { SnapshotBytes } from "./snapshot_bytes.ts";

/** Durable storage as the driver uses it: everything written is on disk when a call returns. */
export interface RaftStorage {
  /** Persist one Ready's durable part (snapshot, then entries, then hard state) and sync. */
  persist(hardState: HardState | null, snapshot: Snapshot | null, entries: readonly Entry[]): void;
  /**
   * Optional: persist entries alone (no hard state, no snapshot) and call `done` once they
   * are durable, leaving the event loop free meanwhile; may call `done` before returning.
   */
  persistEntriesAsync?(entries: readonly Entry[], done: (error: Error | null) => void): void;
  /**
   * Optional: persist() of a Ready holding a snapshot from the leader, over several turns of
   * the event loop (the snapshot written in slices, fsyncs off the loop); settles once all
   * of it is durable. Without it the driver calls persist(), which blocks for the whole write.
   */
  persistSnapshotAsync?(hardState: HardState | null, snapshot: Snapshot, entries: readonly Entry[]): Promise<void>;
  /**
   * Store a snapshot taken locally, durably, then drop whole log segments at or below
   * `compactIndex`. May take several turns of the event loop. Pieces are written in order,
   * never joined (see snapshot_bytes.ts).
   */
  saveSnapshot(meta: SnapshotMeta, data: SnapshotBytes, compactIndex: LogIndex): Promise<void>;
  /** Optional: a saved snapshot's state backed by its file, not memory (null if unavailable). */
  mapSnapshot?(meta: SnapshotMeta): Uint8Array | null;
}

/** The replicated state machine (the key-value store), deterministic in what it applies. */
export interface StateMachine {
  /** Apply one committed entry and return its result (for the client that proposed it). */
  apply(entry: Entry): unknown;
  /**
   * Serialize the whole state as of the last applied entry. The state is captured when the
   * call is made; the encoding may finish later, so a large map does not stall the loop.
   * Pieces in order where the encoding is chunked (the bytes are their concatenation).
   */
  snapshot(): Promise<SnapshotBytes>;
  /** Replace the whole state with a snapshot's. */
  restore(data: Uint8Array): void;
  /**
   * Optional: restore() over several turns of the event loop, the current state kept until
   * the new one is complete. The driver applies nothing until it settles.
   */
  restoreAsync?(data: Uint8Array): Promise<void>;
}

/** What the driver tells its owner (the Store) as it happens. */
export interface NodeEvents {
  /** An entry was applied; `result` is what StateMachine.apply returned. */
  applied(entry: Entry, result: unknown): void;
  /** Role, leader or term changed. */
  softState(state: SoftState): void;
  /** The state machine was replaced by a snapshot received from the leader. */
  restored(meta: SnapshotMeta): void;
}

/** How the driver reaches its peers (by node id; the owner maps ids to addresses). */
export type SendFn = (msg: Message) => void;

/** Options of a RaftNode; snapshot thresholds are in entries. */
export interface RaftNodeOptions {
  readonly core: RaftCore;
  readonly storage: RaftStorage;
  readonly stateMachine: StateMachine;
  readonly send: SendFn;
  /** Push sent messages to the network now (before a blocking sync); optional. */
  readonly flush?: () => void;
  readonly events: NodeEvents;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  /** Take a snapshot once this many entries have been applied since the last one. */
  readonly snapshotThresholdEntries: number;
  /** Entries kept in the log behind a snapshot, for followers that are a little behind. */
  readonly snapshotTrailingEntries: number;
  /**
   * Ticks to wait after a snapshot before the next, each wait drawn from [t, 2t) (hashicorp's
   * SnapshotInterval); a log past snapshot_policy.ts's byte bound ends it. 0 or absent: none.
   */
  readonly snapshotIntervalTicks?: number;
  /** Uniform random 32-bit integers for that jitter (the simulator's are seeded); none: no jitter. */
  readonly random?: () => number;
  /**
   * Where the state machine starts: the meta of the snapshot it was restored from, or index 0
   * with the bootstrap (or empty) membership.
   */
  readonly start: SnapshotMeta;
  /** Size of the snapshot the state machine was restored from (0 if none). */
  readonly startSnapshotBytes?: number;
  /** How client requests wait; every field has a default. */
  readonly requests?: RequestOptions;
  /** Called once if the node stops on an error (the process should exit: crash, don't limp). */
  readonly onFatal?: (error: unknown) => void;
  /** The clock and timing of the leader's lease (raft/lease.ts); without it, no lease reads. */
  readonly lease?: LeaseOptions;
  /**
   * A leader syncs a Ready of one entry of at most this many bytes of data on the event loop,
   * as a follower does, when no other proposal or read waits (one client writing); absent or
   * 0: every leader sync goes off the loop. See RaftNode.isLoneWrite.
   */
  readonly loneSyncOnLoopBytesMax?: number;
  /**
   * Times the syncs run on the event loop: one found slow sends the next ones off the loop for
   * a while (raft/loop_sync.ts). Absent: never timed.
   */
  readonly syncClock?: Clock;
}

/**
 * open_node.ts's bound for loneSyncOnLoopBytesMax: a small write's command is ~40 bytes; an
 * fdatasync of one such record is a few hundred µs here, the loop's longest hold for it.
 */
export const loneSyncOnLoopBytesMaxDefault = 4096;

/** How propose() and read() wait. */
export interface RequestOptions {
  /** Timers of request timeouts (the host's by default; the simulator's under simulation). */
  readonly timers?: Timers;
  /** How long a proposal or read may wait before it fails ("unknown" / "timeout"). */
  readonly timeoutMs?: number;
  /**
   * This process's incarnation, never the same in two processes: every read context carries
   * it, so a reply to an earlier process's read matches nothing here (default: 64 random bits).
   */
  readonly incarnation?: string;
  /** Reads waiting at once; one more fails at once ("full"). */
  readonly readsWaitingMax?: number;
  /** Where the driver counts its requests (pending, failed, ReadIndex rounds) for the metrics. */
  readonly counts?: RequestCounts;
}

/**
 * Default bound on waiting reads. Each holds ~0.6 KB plus its HTTP request and connection;
 * unbounded, a leader that stayed silent for the request timeout let a node grow past a
 * gigabyte (issue 12, item 14).
 */
export const readsWaitingMaxDefault = 16_384;

/** Default wait of a request before its outcome is declared unknown (reads: timed out). */
export const requestTimeoutMsDefault = 10_000;

/** 64 random bits as hex: a process incarnation when the owner gives none. */
export function randomIncarnation(): string {
  return [...crypto.getRandomValues(new Uint32Array(2))].map((n) => n.toString(16).padStart(8, "0")).join("");
}
