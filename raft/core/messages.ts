// Messages between Raft servers. Every message is one-way: a reply is just another
// message. Names follow the paper (Figure 2) and the thesis (PreVote §9.6, TimeoutNow §3.10,
// ReadIndex §6.4, chunked InstallSnapshot Figure 5.3).

import type { Entry, LogIndex, NodeId, SnapshotMeta, Term } from "./types.ts";

interface Envelope {
  /** Sender. */
  readonly from: NodeId;
  /** Receiver. */
  readonly to: NodeId;
  /** Sender's currentTerm (for PreVote requests: the term it would campaign in). */
  readonly term: Term;
}

/** RequestVote RPC (§5.2); `preVote` marks the PreVote round that does not bump terms. */
export interface RequestVote extends Envelope {
  readonly type: "RequestVote";
  readonly preVote: boolean;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /** Set when campaigning because of TimeoutNow: overrides leader stickiness (§3.10). */
  readonly transfer: boolean;
}

export interface RequestVoteReply extends Envelope {
  readonly type: "RequestVoteReply";
  readonly preVote: boolean;
  readonly voteGranted: boolean;
}

/** AppendEntries RPC (§5.3); with no entries it is a heartbeat. */
export interface AppendEntries extends Envelope {
  readonly type: "AppendEntries";
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly leaderCommit: LogIndex;
  /** Non-zero on heartbeats sent to confirm leadership for ReadIndex (§6.4); echoed back. */
  readonly readRound: number;
}

export interface AppendEntriesReply extends Envelope {
  readonly type: "AppendEntriesReply";
  readonly success: boolean;
  /**
   * On success: the index of the last entry known to match the leader's log. On rejection:
   * the prevLogIndex that was rejected (lets the leader ignore stale rejections).
   */
  readonly matchIndex: LogIndex;
  /** On rejection: a hint for fast backtracking (§5.3, "optimization"): where to probe next. */
  readonly conflictIndex: LogIndex;
  readonly conflictTerm: Term;
  /** Echo of AppendEntries.readRound. */
  readonly readRound: number;
}

/** One chunk of a snapshot (thesis Figure 5.3). */
export interface InstallSnapshot extends Envelope {
  readonly type: "InstallSnapshot";
  readonly meta: SnapshotMeta;
  /** Byte offset of this chunk within the snapshot data. */
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
}

export interface InstallSnapshotReply extends Envelope {
  readonly type: "InstallSnapshotReply";
  readonly lastIncludedIndex: LogIndex;
  /** Bytes of the snapshot the follower now holds (next offset wanted); -1 to restart from 0. */
  readonly nextOffset: number;
  /** True once the whole snapshot has been persisted and installed. */
  readonly done: boolean;
}

/** Sent by a leader to its chosen successor: start an election now (§3.10). */
export interface TimeoutNow extends Envelope {
  readonly type: "TimeoutNow";
}

/** A follower asks the leader for a read index on behalf of its clients (§6.4). */
export interface ReadIndexRequest extends Envelope {
  readonly type: "ReadIndex";
  readonly ctxs: readonly string[];
}

export interface ReadIndexReply extends Envelope {
  readonly type: "ReadIndexReply";
  readonly ctxs: readonly string[];
  /** The leader's confirmed commit index, or -1 if the leader could not serve the reads. */
  readonly readIndex: LogIndex;
}

/** Every message the core sends or receives. */
export type Message =
  | RequestVote
  | RequestVoteReply
  | AppendEntries
  | AppendEntriesReply
  | InstallSnapshot
  | InstallSnapshotReply
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexReply;

export type MessageType = Message["type"];
