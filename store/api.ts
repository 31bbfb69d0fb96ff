// The store as the HTTP layer sees it: the consumer-owned interface (hraftd declares its
// Store interface in http/; ours lives here and http/ imports it), plus the /status shape.

/**
 * How fresh a read must be.
 * - linearizable: ReadIndex (§6.4): served once this node has applied up to an index the
 *   leader confirmed with a majority; reflects every write acknowledged before the read.
 * - leader: the leader's local map, no round trip; may miss a write only if a newer leader
 *   exists that this one has not heard of yet.
 * - stale: the answering node's local map, as hraftd's Get does.
 */
export type ReadLevel = "linearizable" | "leader" | "stale";

/** Every read level, for validating `?level=`. */
export const readLevels: readonly ReadLevel[] = ["linearizable", "leader", "stale"];

/** A server as hraftd's /status names it (JSON fields `id` and `address`). */
export interface NodeRef {
  readonly id: string;
  readonly address: string;
}

/** One cluster member with its vote right ("voter" or "learner"). */
export interface MemberStatus {
  readonly id: string;
  readonly addr: string;
  readonly suffrage: "voter" | "learner";
}

/**
 * The /status body. `me`, `leader` and `followers` have hraftd's shape: `leader` is
 * `{id: "", address: ""}` when no leader is known, and `followers` lists every member whose
 * id differs from the leader's (all members when there is none). The rest goes further.
 */
export interface StatusReport {
  readonly me: NodeRef;
  readonly leader: NodeRef;
  readonly followers: readonly NodeRef[];
  /**
   * Raft role of this node: "follower", "precandidate", "candidate" or "leader"; "removed"
   * once a configuration that listed it was replaced by one that does not (it then neither
   * campaigns nor serves clients).
   */
  readonly state: string;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  /**
   * Term of the last log entry. With lastIndex it says how up to date this node's log is
   * (Raft §5.4.1: the higher last term wins, then the longer log): the survivor to recover
   * from after losing a majority (README "Recovery from lost quorum").
   */
  readonly lastTerm: number;
  readonly members: readonly MemberStatus[];
  /** The build's version text (main.ts versionText), when the node was given one. */
  readonly version?: string;
  /** Seconds since the process started, on the monotonic clock. */
  readonly uptime?: number;
  /** This node's own readiness: the checks of GET /readyz, without `sync`. */
  readonly health?: HealthReport;
}

/** One readiness check: passed, or failed with why. */
export interface HealthCheck {
  readonly ok: boolean;
  readonly reason?: string;
}

/**
 * The node's readiness checks, by name, in the order /readyz lists them: `leader` (a leader
 * is known), `storage` (no storage or invariant failure stopped the node), `member` (this
 * node is in the cluster's configuration: not removed, not waiting to be added). `ready` is
 * true when every check passed.
 */
export interface HealthReport {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, HealthCheck>>;
}

/** The leader as a node knows it (GET /leader). */
export interface LeaderReport {
  readonly id: string;
  /** Its Raft address, from the membership. */
  readonly raftAddr: string;
  /** True when the node asked is the leader. */
  readonly isSelf: boolean;
  /** The term this node is in. */
  readonly term: number;
}

/**
 * Who asked for a request, as the HTTP layer authenticated it (-auth): `user` is the user
 * name, or null for a client allowed by the "*" user's permissions. A forwarded request
 * carries it to the leader. Absent when authentication is off.
 */
export interface Caller {
  readonly user: string | null;
}

/**
 * The whole state at one applied index, frozen copy-on-write while writes go on, for GET
 * /backup (store/backup.ts writes it). `release` once read, or the overlay keeps growing.
 */
export interface BackupState {
  /** Index of the last entry applied to this state. */
  readonly index: number;
  /** Term of that entry. */
  readonly term: number;
  /** The node that captured it. */
  readonly nodeId: string;
  /** Number of pairs. */
  readonly size: number;
  entries(): Iterator<[string, string]>;
  /** Optional: the pairs with each key's version (a version-2 backup, store/backup.ts). */
  entriesVersioned?(): Iterator<[string, string, number]>;
  /** Optional: the once-only table of the same state (with entriesVersioned). */
  readonly sessions?: { readonly logClock: number; readonly entries: readonly SessionEntry[] };
  /** Optional: keys with a deadline (log-time ms) in the same state (a version-3 backup, issue 16). */
  readonly deadlines?: readonly (readonly [string, number])[];
  release(): void;
}

import type { Condition } from "./commands.ts";
import type { ListPage, ListQuery } from "./listing.ts";
import type { WatchResult, WatchSink } from "./watches.ts";
import type { SessionEntry } from "./sessions.ts";

/**
 * A key's value read with its version and the state it was read from (GET's ETag and
 * X-Applied-Index): all three from one state, read in one synchronous step.
 */
export interface VersionedValue {
  /** The value, or null if the key is absent. */
  readonly value: string | null;
  /** The log index of the key's last write (0: written before versions were kept); null if absent. */
  readonly version: number | null;
  /** The applied index of the state read: the answering node's own, or the leader's for a forwarded read. */
  readonly applied: number;
}

/** A write with a precondition, an Idempotency-Key, or both (writeWith). */
export type KeyWrite =
  | {
    readonly type: "set";
    readonly pairs: ReadonlyArray<readonly [string, string]>;
    readonly condition?: Condition;
    /** Every key expires this many ms after the leader takes the write (issue 16, POST /key?ttl=); absent: never. */
    readonly ttlMs?: number;
  }
  | { readonly type: "delete"; readonly key: string; readonly condition?: Condition };

/** What a write may carry besides its keys: an Idempotency-Key. */
export interface WriteOptions {
  readonly idempotencyKey?: string;
}

/**
 * What a write with an Idempotency-Key or a condition produced: the status and body its client
 * is answered, and whether they are the stored outcome of an earlier request with the same key
 * (a replay: nothing was written now). 422 when the key was first used for a different
 * request; 412 when the condition failed (nothing written).
 */
export interface WriteOutcome {
  readonly status: number;
  readonly body: string;
  readonly replayed: boolean;
  /**
   * The log index of the entry that wrote, the version of every key it wrote; absent when
   * nothing was written now (412, 422, a replay) or it is not known (the write was forwarded
   * to a leader that predates it).
   */
  readonly version?: number;
}

/**
 * What the HTTP layer needs from the store. Methods reject with StoreError (store/errors.ts)
 * for every expected failure; http/errors.ts maps each code to a status. The optional last
 * argument of the methods that may forward is the caller, for the leader's permission check.
 */
export interface StoreApi {
  /** The value of `key`, or null if absent, read at `level`. */
  get(key: string, level: ReadLevel, caller?: Caller): Promise<string | null>;
  /**
   * Optional: the value of `key` (null if absent) if it can be read at `level` right now,
   * without waiting or forwarding (stale: always; leader: when this node leads), else
   * undefined (call get). Never throws. Lets the HTTP layer answer without a promise.
   */
  peek?(key: string, level: ReadLevel): string | null | undefined;
  /** Optional: get() with the key's version and the applied index of the state read. */
  getVersioned?(key: string, level: ReadLevel, caller?: Caller): Promise<VersionedValue>;
  /**
   * Optional: getVersioned() handing its outcome to `answer` in the step that reads it; the
   * promise settles with what `answer` returns (rejects with what it throws). One promise a
   * read where getVersioned(...).then(answer) takes two (a linearizable read's hot path).
   */
  readVersioned?<T>(key: string, level: ReadLevel, caller: Caller | undefined, answer: (key: string, v: VersionedValue) => T): Promise<T>;
  /** Optional: peek() with the key's version and the applied index of the state read. */
  peekVersioned?(key: string, level: ReadLevel): VersionedValue | undefined;
  /**
   * Optional: a page of keys in key order with values and versions (GET /key?prefix=, issue
   * 16), at `level`, from the state at one applied index (the page's `applied`).
   */
  list?(query: ListQuery, level: ReadLevel, caller?: Caller): Promise<ListPage>;
  /**
   * Optional: the changes of keys starting with `prefix` after log index `after` (null: from
   * now) sent to `sink` (GET /watch, issue 16 item 5); `gone` when they are no longer kept.
   */
  watch?(prefix: string, after: number | null, sink: WatchSink): WatchResult;
  /**
   * Optional: resolves once a key starting with `prefix` (with `exact`, that key) changes at an
   * index above `index`, or after `waitMs`, or at once if this node cannot tell (blocking reads),
   * or when `signal` aborts (the client left).
   */
  waitForChange?(prefix: string, exact: boolean, index: number, waitMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * Sets all pairs in one log entry (atomically); resolves once applied, with the entry's log
   * index (the version of every key it set) where known.
   */
  set(pairs: ReadonlyArray<readonly [string, string]>, caller?: Caller): Promise<number | void>;
  /** Deletes `key` (absent is fine); resolves once applied, with the entry's log index where known. */
  delete(key: string, caller?: Caller): Promise<number | void>;
  /**
   * Optional: `write` with its condition checked at apply, and with an Idempotency-Key applied
   * at most once per key (scoped to the caller's user) while the key is remembered
   * (store/sessions.ts); a repeat resolves with the first outcome.
   */
  writeWith?(write: KeyWrite, options: WriteOptions, caller?: Caller): Promise<WriteOutcome>;
  /** Adds node `id` reachable at Raft address `addr` (hraftd's join semantics). */
  join(id: string, addr: string, caller?: Caller): Promise<void>;
  /** Removes node `id` from the cluster. */
  remove(id: string, caller?: Caller): Promise<void>;
  /** This node's view of the cluster; JSON-able. */
  status(): StatusReport;
  /** Optional: the leader this node knows of (GET /leader); StoreError "noLeader" if none. */
  leader?(): LeaderReport;
  /**
   * Optional: hands leadership to voter `id`, or with null to the most caught-up voter
   * (POST /leader; forwarded to the leader from a follower). Resolves with the new leader's
   * id once it is known; StoreError "invalid" for a target that cannot lead, "timeout" or
   * "noLeader" when the transfer did not complete.
   */
  transferLeadership?(id: string | null, caller?: Caller): Promise<string>;
  /**
   * Optional: the state at a linearizable point for a backup: a ReadIndex round first, then
   * the map captured at an applied index at least the read index (on any node).
   */
  backup?(): Promise<BackupState>;
  /** Optional: the readiness checks (/readyz, /status); absent, /readyz has none to run. */
  health?(): HealthReport;
  /**
   * Optional: resolves once this node has applied everything the leader had committed when
   * it was called (one ReadIndex round, §6.4); rejects with StoreError if it cannot within
   * `timeoutMs` (code "timeout") or at all (no leader, removed, shutting down).
   */
  syncWithLeader?(timeoutMs: number): Promise<void>;
}
