// RaftConfig with every optional limit filled in, and the checks run once at creation.

import type { RaftConfig, Rng } from "./api.ts";
import type { NodeId, SnapshotMeta, SnapshotReceiver } from "./types.ts";

/** A RaftConfig with defaults applied; what the rest of the core reads. */
export interface ResolvedConfig {
  readonly id: NodeId;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly rng: Rng;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly quietAfterRestart: boolean;
  /** The lease window L (RaftConfig.leaseTicks). Invariant: 2 ≤ leaseTicks ≤ electionTicks. */
  readonly leaseTicks: number;
  readonly inflightMessagesMax: number;
  readonly appendBytesMax: number;
  readonly snapshotChunkBytes: number;
  readonly uncommittedBytesMax: number;
  readonly pendingReadsMax: number;
  /** RaftConfig.snapshotReceiver; null: the core's own, in memory. */
  readonly snapshotReceiver: ((meta: SnapshotMeta) => SnapshotReceiver) | null;
  /** A learner within this many entries of the leader's last index is promoted. */
  readonly promoteLagEntriesMax: number;
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`RaftConfig.${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * The default lease window: half the election timeout, so that followers of a leader whose
 * process died (its connections closed) may elect a successor after about half an election
 * timeout; but at least two heartbeat intervals, so that heartbeats renew a lease before it
 * lapses ((L - 1) ticks less the drift share must outlast a heartbeat interval and its reply);
 * never more than the election timeout (voters refuse for that long anyway).
 */
export function leaseTicksDefault(electionTicks: number, heartbeatTicks: number): number {
  return Math.min(electionTicks, Math.max(Math.ceil(electionTicks / 2), 2 * heartbeatTicks, 2));
}

/** Applies defaults and validates; throws RangeError on a nonsensical config. */
export function resolveConfig(config: RaftConfig): ResolvedConfig {
  if (typeof config.id !== "string" || config.id.length === 0) {
    throw new RangeError("RaftConfig.id must be a non-empty string");
  }
  const electionTicks = positiveInt("electionTicks", config.electionTicks);
  const heartbeatTicks = positiveInt("heartbeatTicks", config.heartbeatTicks);
  if (heartbeatTicks >= electionTicks) {
    throw new RangeError("RaftConfig.heartbeatTicks must be below electionTicks");
  }
  const leaseTicks = positiveInt("leaseTicks", config.leaseTicks ?? leaseTicksDefault(electionTicks, heartbeatTicks));
  if (leaseTicks < 2 || leaseTicks > electionTicks) {
    throw new RangeError(`RaftConfig.leaseTicks must be from 2 to electionTicks (${electionTicks}), got ${leaseTicks}`);
  }
  return {
    id: config.id,
    electionTicks,
    leaseTicks,
    heartbeatTicks,
    rng: config.rng,
    preVote: config.preVote ?? true,
    checkQuorum: config.checkQuorum ?? true,
    quietAfterRestart: config.quietAfterRestart ?? true,
    inflightMessagesMax: positiveInt("inflightMessagesMax", config.inflightMessagesMax ?? 256),
    appendBytesMax: positiveInt("appendBytesMax", config.appendBytesMax ?? 1024 * 1024),
    snapshotChunkBytes: positiveInt("snapshotChunkBytes", config.snapshotChunkBytes ?? 512 * 1024),
    uncommittedBytesMax: positiveInt("uncommittedBytesMax", config.uncommittedBytesMax ?? 64 * 1024 * 1024),
    pendingReadsMax: positiveInt("pendingReadsMax", config.pendingReadsMax ?? 4096),
    snapshotReceiver: config.snapshotReceiver ?? null,
    promoteLagEntriesMax: 8,
  };
}
