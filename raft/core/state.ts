// The state of one Raft server as the rule files see it (election.ts, replication.ts,
// membership.ts, read_index.ts, snapshot.ts, transfer.ts, ready_builder.ts, step.ts). The rule
// files import only this type, never core.ts or each other: core.ts implements it, and it and
// step.ts are the places that chain one rule's consequences into another's (a commit's, a
// tick's, a reply's).
// Fields a rule never reassigns are readonly here; role, term and leader change only through
// the become* transitions.

import type { ResolvedConfig } from "./config.ts";
import type { RaftLog } from "./log.ts";
import type { ConfigHistory } from "./membership_state.ts";
import type { Message } from "./messages.ts";
import type { Progress } from "./progress.ts";
import type { ReadQueue } from "./read_queue.ts";
import type { ReadState, Ready, SoftState } from "./ready.ts";
import type { Entry, HardState, LogIndex, NodeId, Role, Snapshot, SnapshotMeta, SnapshotReceiver, Term } from "./types.ts";

/**
 * A snapshot being received, chunk by chunk, each copied in place at its offset as it arrives
 * (snapshot.ts). Invariant: size = the bytes received = buffer.byteLength.
 */
export interface IncomingSnapshot {
  readonly meta: SnapshotMeta;
  /** Holds the chunks received so far (RaftConfig.snapshotReceiver, else in memory). */
  readonly receiver: SnapshotReceiver;
}

export interface RaftState {
  readonly cfg: ResolvedConfig;
  readonly id: NodeId;
  /** Figure 2 persistent state; the term moves only through the become* transitions. */
  readonly term: Term;
  votedFor: NodeId | null;
  readonly role: Role;
  /** The leader of `term` as far as we know. Invariant: role leader ⇒ leader === id. */
  readonly leader: NodeId | null;
  readonly log: RaftLog;
  readonly config: ConfigHistory;
  /** Newest snapshot held (sent to followers that fell behind the log's first index). */
  snapshot: Snapshot | null;

  electionElapsed: number;
  heartbeatElapsed: number;
  /** Ticks left of the quiet period after start in which no (pre)vote is granted (inLease). */
  startTicksLeft: number;
  readonly randomizedElectionTimeout: number;
  /** The leader whose connection closed (leaderDisconnected), until a message from it arrives. */
  goneLeader: NodeId | null;
  /** While goneLeader is our leader: campaign at this electionElapsed (election.ts). */
  goneLeaderTimeout: number;
  /** Votes received in the current (pre)election, voters only count. */
  readonly votes: Map<NodeId, boolean>;
  /** Leader only: one Progress per member other than self (and per departing server), sorted by id. */
  readonly progress: Map<NodeId, Progress>;
  /**
   * Leader only: servers no longer in the configuration that are still sent the log, with
   * the index of the configuration that leaves them out; dropped once they hold it.
   */
  readonly departing: Map<NodeId, LogIndex>;
  /** Leader only: index of the newest config entry it appended (in flight while > commit). */
  pendingConfIndex: LogIndex;
  /** Leader only: data bytes appended but not yet committed (flow control). */
  uncommittedBytes: number;
  /** Leader only: target of a leadership transfer in progress (thesis §3.10). */
  transferee: NodeId | null;
  transferElapsed: number;
  readonly reads: ReadQueue;
  incoming: IncomingSnapshot | null;

  // Outbox, drained by ready() (ready_builder.ts swaps the lists).
  msgs: Message[];
  msgsAfterPersist: Message[];
  readStates: ReadState[];
  droppedReads: string[];
  snapshotToInstall: Snapshot | null;
  /** Set when followers may need an append (new entries or a new commit index). */
  needBroadcast: boolean;
  /** Leader only: followers that replied since the last flush, whose pipe it refills (replication.ts). */
  readonly pipesDue: Set<NodeId>;
  /**
   * Set by a tick when a follower has not heard the commit index: only then does a commit
   * alone earn a heartbeat. Under load the next AppendEntries carries it anyway; an immediate
   * heartbeat per commit would double the messages of every write (and their acks).
   */
  commitNoticeDue: boolean;
  /** Set by a leader's tick: the next flush sends spare followers what they lack (replication.ts, isSpare). */
  sparesDue: boolean;
  /** With sparesDue: spares take committed entries only (their own tick, not a stuck commit). */
  sparesCommittedOnly: boolean;
  /** The last log index at the leader's previous tick (tickSpares: has a commit waited a tick?). */
  lastAtSpareTick: LogIndex;
  /** The commit index at the leader's previous tick (tickSpares: did a commit move since?). */
  commitAtSpareTick: LogIndex;
  /** Leader ticks since spares were last due (tickSpares). */
  spareTicksElapsed: number;
  prevHard: HardState;
  prevSoft: SoftState;
  /** The Ready handed out and not yet advanced. */
  outstanding: Ready | null;

  /** Queues `m`; after-persist messages leave only once this Ready's state is durable. */
  send(m: Message, afterPersist: boolean): void;
  /** A voter of the current configuration may campaign; learners and outsiders never do. */
  isPromotable(): boolean;
  /** This server was a member and the configuration in force no longer lists it (thesis §4.2.2). */
  isRemoved(): boolean;
  becomeFollower(term: Term, leader: NodeId | null): void;
  becomePreCandidate(): void;
  becomeCandidate(): void;
  becomeLeader(): void;
  /** Leader: appends its own entries; followers get them at the next flush, batched. */
  appendAsLeader(entries: readonly Entry[]): void;
  /** Records config entries among `entries` with index ≥ `from` (after an append). */
  noteConfigs(entries: readonly Entry[], from: LogIndex): void;
  /** The configuration in force changed (appended, truncated or installed). */
  onMembershipChanged(): void;
}
