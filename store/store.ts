// The Store facade: what the HTTP layer calls. Writes become log entries (proposed here if
// leader, otherwise forwarded to the leader), reads are served at the requested level, and
// every request completes exactly once, with "outcome unknown" when we lost track of a write.
// The driver (raft/node.ts) completes proposals and reads; the store decides where a request
// goes and what its answer means to a client. Forwarding is in ./forwarder.ts, the leader's
// joins and removals in ./membership_changes.ts.

import type { Entry, NodeId, SoftState } from "../raft/core/mod.ts";
import type { Clock, Timers } from "../raft/host.ts";
import { type RaftNode, RequestError } from "../raft/node.ts";
import { realClock, realTimers, realWallClock } from "../raft/real_time.ts";
import { type PermissionName, type Perms, permissionBits } from "../security/permissions.ts";
import type {
  BackupState,
  Caller,
  HealthCheck,
  HealthReport,
  KeyWrite,
  LeaderReport,
  ReadLevel,
  StatusReport,
  StoreApi,
  VersionedValue,
  WriteOptions,
  WriteOutcome,
} from "./api.ts";
import { type Condition, encodeCommand, encodeOnceCommand, type KeyValue, type WriteCommand } from "./commands.ts";
import { outcomeValue, parseOutcomeValue, scopedId } from "./idempotency.ts";
import { parseVersionedValue, versionedValue } from "./versioned.ts";
import { isStoreError, StoreError } from "./errors.ts";
import type { ListPage, ListQuery } from "./listing.ts";
import { type WatchResult, Watches, type WatchSink } from "./watches.ts";
import type { ForwardedOp, ForwardReply, StoreMessage } from "./forward.ts";
import { Forwarder, type ServedWrite } from "./forwarder.ts";
import { ExpiryLoop } from "./expiry_loop.ts";
import { type ElectionTiming, electionTimingDefault, Leadership } from "./leadership.ts";
import { MembershipChanges } from "./membership_changes.ts";
import { rethrow, storeErrorOf } from "./request_errors.ts";
import type { KvStateMachine } from "./state_machine.ts";

// Set only by the chaos suite's deliberately broken build (`bun build --define
// HRAFTD_UNSAFE_LOCAL_READS=true`), to prove that its checker catches stale reads. Release
// builds never define it, and from source it is undeclared, so `typeof` keeps it false.
declare const HRAFTD_UNSAFE_LOCAL_READS: boolean | undefined;
const isUnsafeLocalReads = typeof HRAFTD_UNSAFE_LOCAL_READS !== "undefined" && HRAFTD_UNSAFE_LOCAL_READS === true;

/** How the leader checks the permission of a request another node forwarded to it (-auth). */
export interface ForwardedAuth {
  /** The permissions of `user` (null: no credentials) in this node's users file, "*"'s included. */
  permsOf(user: string | null): Perms;
  /**
   * True when the Raft transport authenticates its peers (node TLS): only then is the user a
   * forwarded request names trusted. Otherwise any process that reaches the Raft port could
   * claim any user, so the request gets the permissions of the "*" user.
   */
  readonly peersAuthenticated: boolean;
}

/** The permission each forwarded operation needs: that of the route it came from. */
const forwardedPermission: Readonly<Record<ForwardedOp["type"], PermissionName>> = {
  set: "write",
  delete: "write",
  join: "join",
  remove: "remove",
  readLeader: "read",
  readVersioned: "read",
  readExpiring: "read",
  transfer: "remove",
};

/** Options of a Store. */
export interface StoreOptions {
  readonly id: NodeId;
  /** This node's advertised Raft address. */
  readonly raftAddr: string;
  /**
   * This process's incarnation: never the same in two processes (64 random bits from the
   * factory's random source). Every read context and forwarded request id carries it, so no
   * reply meant for an earlier process of this node matches anything this one waits for.
   */
  readonly incarnation: string;
  /** Timers of the request timeouts: the host's by default, the simulator's under simulation. */
  readonly timers?: Timers;
  /** Monotonic time for deadlines (joins): the host's by default, simulated time under simulation. */
  readonly clock?: Clock;
  /**
   * Wall-clock time (ms since 1970) stamped into once-only writes this node proposes as the
   * leader (store/sessions.ts: the log clock). Not the monotonic clock: stamps of different
   * leaders must be comparable. Default the host's; `clock` when only that is given (tests).
   */
  readonly wallClock?: Clock;
  readonly stateMachine: KvStateMachine;
  /** Sends a store message to the node advertising `addr`; false if it was dropped unsent. */
  readonly sendTo: (addr: string, msg: StoreMessage) => boolean;
  /** How long a request may wait for Raft before it is answered 503. */
  readonly requestTimeoutMs: number;
  /** Pause between attempts of a membership change refused because another is in flight. */
  readonly confChangeRetryMs?: number;
  /**
   * How long a join waits for the new member to catch up and be promoted before it answers
   * that the member is still a learner; default half of requestTimeoutMs.
   */
  readonly joinCatchUpMs?: number;
  /** -auth: the leader checks forwarded requests' permissions; absent, it serves them all. */
  readonly auth?: ForwardedAuth;
  /** Raft's election timing: how long leadership handoffs may take (default hraftd's). */
  readonly election?: ElectionTiming;
  /** The build's version text, reported by /status. */
  readonly version?: string;
  /** When the process started on `clock` (ms), for /status's uptime; default construction. */
  readonly startedAtMs?: number;
}

/** A write as #write takes it; with an Idempotency-Key it is proposed as a once command. */
type WriteOp =
  | { type: "set"; pairs: readonly KeyValue[]; idempotencyKey?: string; condition?: Condition; ttlMs?: number }
  | { type: "delete"; key: string; idempotencyKey?: string; condition?: Condition };

/** The store of one node; `attach` connects it to its RaftNode. */
export class Store implements StoreApi {
  readonly #o: StoreOptions;
  #node: RaftNode | null = null;
  /** Requests forwarded to the leader, and those served for other nodes. */
  readonly #forwarder: Forwarder;
  /** Joins and removals carried out here as the leader. */
  readonly #changes: MembershipChanges;
  /** The leader forwarded requests currently go to. */
  #forwardLeader: string | null = null;
  /** This node was removed from the cluster (from the driver's softState): clients are refused. */
  #removed = false;
  /** GET and POST /leader, the handoff at shutdown, and waits for a leader change (./leadership.ts). */
  readonly #leadership: Leadership;
  readonly #timers: Timers;
  readonly #clock: Clock;
  readonly #wallClock: Clock;
  readonly #startedAtMs: number;
  /** Watches and blocking reads (issue 16 item 5) on the state machine's change feed. */
  readonly #watches: Watches;
  /** The leader's expiry of keys past their deadline (issue 16, TTL); idle on a follower. */
  readonly #expiry: ExpiryLoop;

  constructor(options: StoreOptions) {
    if (typeof options.incarnation !== "string" || options.incarnation.length === 0 || options.incarnation.length > 64) {
      throw new RangeError("StoreOptions.incarnation must be a non-empty string of at most 64 characters");
    }
    this.#o = options;
    const timers = options.timers ?? realTimers;
    this.#timers = timers;
    this.#clock = options.clock ?? realClock;
    this.#wallClock = options.wallClock ?? options.clock ?? realWallClock;
    this.#startedAtMs = options.startedAtMs ?? this.#clock.now();
    this.#watches = new Watches({ feed: options.stateMachine.changes, applied: () => this.#node?.lastApplied ?? 0, timers });
    this.#forwarder = new Forwarder({
      incarnation: options.incarnation,
      sendTo: options.sendTo,
      requestTimeoutMs: options.requestTimeoutMs,
      timers,
      clock: options.clock ?? realClock,
    });
    this.#changes = new MembershipChanges({
      raft: () => this.#raft,
      clock: options.clock ?? realClock,
      timers,
      requestTimeoutMs: options.requestTimeoutMs,
      confChangeRetryMs: options.confChangeRetryMs,
      joinCatchUpMs: options.joinCatchUpMs,
    });
    this.#leadership = new Leadership({
      raft: () => this.#raft,
      timers,
      clock: options.clock ?? realClock,
      timing: options.election ?? electionTimingDefault,
    });
    this.#expiry = new ExpiryLoop({
      stateMachine: options.stateMachine,
      timers,
      wallClock: this.#wallClock,
      isLeader: () => this.#node !== null && !this.#removed && this.#node.isLeader(),
      propose: (data) => {
        try {
          return this.#raft.propose(data);
        } catch (e) {
          return Promise.reject(e);
        }
      },
    });
  }

  attach(node: RaftNode): void {
    this.#node = node;
  }

  get #raft(): RaftNode {
    if (this.#node === null) throw new StoreError("unavailable", "node is starting");
    if (this.#removed) throw this.#removedError();
    return this.#node;
  }

  /**
   * A removed node answers 503 rather than serving: its state no longer advances, so a read
   * would be stale without bound and a forwarded write would depend on a cluster it has left.
   * 503 (not 4xx: the request itself is fine) sends clients and load balancers to another node.
   */
  #removedError(): StoreError {
    const leader = this.#forwardLeader;
    const hint = leader === null ? "" : ` (last leader known here: ${leader})`;
    return new StoreError(
      "unavailable",
      `this node (${this.#o.id}) was removed from the cluster and is no longer a member: send requests to a member${hint}, or add this node back with POST /join`,
      leader,
    );
  }

  // ---- StoreApi ----

  get(key: string, level: ReadLevel, caller?: Caller): Promise<string | null> {
    if (level === "linearizable" && !isUnsafeLocalReads) {
      return this.#linearizable(key, caller, (k) => this.#o.stateMachine.get(k) ?? null, (v) => v.value);
    }
    return this.#get(key, level, caller);
  }

  async #get(key: string, level: ReadLevel, caller?: Caller): Promise<string | null> {
    if (this.#removed) throw this.#removedError();
    switch (level) {
      case "stale":
        return this.#visible(key);
      case "leader":
        if (this.#isLeader()) return this.#leaderRead(key);
        return this.#forward({ type: "readLeader", key }, caller);
      case "linearizable":
        // HRAFTD_UNSAFE_LOCAL_READS only (get() takes the others): the planted defect.
        return this.#o.stateMachine.get(key) ?? null;
    }
  }

  getVersioned(key: string, level: ReadLevel, caller?: Caller): Promise<VersionedValue> {
    if (level === "linearizable" && !isUnsafeLocalReads) return this.#linearizable(key, caller, (k) => this.#versioned(k), (v) => v);
    return this.#getVersioned(key, level, caller);
  }

  readVersioned<T>(key: string, level: ReadLevel, caller: Caller | undefined, answer: (key: string, v: VersionedValue) => T): Promise<T> {
    // A linearizable read answers in the driver's turn that releases it (#linearizable): no
    // second promise, no second microtask between the read index and the Response.
    if (level === "linearizable" && !isUnsafeLocalReads) return this.#linearizable(key, caller, (k) => answer(k, this.#versioned(k)), (v) => answer(key, v));
    return this.#getVersioned(key, level, caller).then((v) => answer(key, v));
  }

  async #getVersioned(key: string, level: ReadLevel, caller?: Caller): Promise<VersionedValue> {
    if (this.#removed) throw this.#removedError();
    switch (level) {
      case "stale":
        return this.#versioned(key);
      case "leader":
        if (this.#isLeader()) return this.#leaderReadVersioned(key);
        return parseVersionedValue(await this.#forward({ type: "readVersioned", key }, caller));
      case "linearizable":
        // HRAFTD_UNSAFE_LOCAL_READS only (getVersioned() takes the others): the planted defect.
        return this.#versioned(key);
    }
  }

  /**
   * A linearizable read of `key` (ReadIndex, §6.4, through the driver): `answer` reads this
   * node's state in the very turn the driver reaches the read index, so a read costs one
   * promise (this one) and shares its batch's timer. A key with a deadline takes
   * #expiringRead instead (the leader's clock decides), a turn later: it may propose, which
   * the driver's turn (possibly between a Ready and its advance) must not do.
   */
  #linearizable<T>(key: string, caller: Caller | undefined, answer: (key: string) => T, fromVersioned: (v: VersionedValue) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#removed) throw this.#removedError();
      this.#raft.readThen((error) => {
        if (error !== null) return reject(storeErrorOf(error));
        try {
          if (this.#o.stateMachine.deadlineOf(key) === undefined) resolve(answer(key));
          else resolve(Promise.resolve(key).then((k) => this.#expiringRead(k, caller)).then(fromVersioned));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  peekVersioned(key: string, level: ReadLevel): VersionedValue | undefined {
    if (this.#removed) return undefined;
    if (level === "stale") return this.#versioned(key);
    if (level === "leader") {
      const index = this.#node?.leaseReadIndex() ?? null;
      if (index !== null && index <= this.#node!.lastApplied) return this.#versioned(key);
    }
    return undefined;
  }

  /**
   * Value, version and applied index of this node's state, in one synchronous step; a key past
   * its deadline by this node's clock is absent (#visible).
   */
  #versioned(key: string): VersionedValue {
    // #visible's rule, with the value and its version found in one lookup.
    const sm = this.#o.stateMachine;
    const value = sm.getVersioned(key) ?? null;
    const applied = this.#node?.lastApplied ?? 0;
    if (value === null) return { value, version: null, applied };
    const deadline = sm.deadlineOf(key);
    if (deadline !== undefined && deadline <= this.#expiry.now()) return { value: null, version: null, applied };
    return { value, version: sm.versionFound, applied };
  }

  /**
   * This node's value of `key`, or null; a key whose deadline has passed by this node's clock
   * (store/expiry_loop.ts: never behind the log clock) is null though its expiry entry has not
   * applied here yet. What stale and lease reads answer: on the leader its clock is the one
   * that decides expiry; on a follower, a stale read may be off by the clocks' difference.
   * Costs a plain key one size check while no key has a deadline.
   */
  #visible(key: string): string | null {
    const sm = this.#o.stateMachine;
    const value = sm.get(key) ?? null;
    if (value === null) return null;
    const deadline = sm.deadlineOf(key);
    return deadline !== undefined && deadline <= this.#expiry.now() ? null : value;
  }

  /**
   * A linearizable read of a key that has a deadline, once this node's ReadIndex is done: the
   * leader's clock decides whether it has expired, and an expiry it decides is in the log
   * before the read answers. On the leader, a key due by its clock is expired through the log
   * first (expireNow), so no later read, through any node or leader, can see it again whatever
   * their clocks say; a follower asks the leader (readExpiring: its own clock is not the
   * leader's). A key without a deadline never comes here: plain reads pay nothing for TTLs.
   */
  async #expiringRead(key: string, caller: Caller | undefined): Promise<VersionedValue> {
    if (!this.#isLeader()) return parseVersionedValue(await this.#forward({ type: "readExpiring", key }, caller));
    await this.#expireIfDue([key]);
    return this.#versioned(key);
  }

  /** A follower's readExpiring, served by the leader: its own ReadIndex, then #expiringRead's rule. */
  async #serveExpiringRead(key: string): Promise<VersionedValue> {
    await this.#raft.read().catch(rethrow);
    if (!this.#isLeader()) throw new StoreError("noLeader", "the node forwarded to is no longer the leader; retry");
    await this.#expireIfDue([key]);
    return this.#versioned(key);
  }

  /**
   * On the leader: proposes the expiry of those of `keys` past their deadline by its clock
   * and waits until it applied (nothing to wait for when none is due).
   */
  async #expireIfDue(keys: readonly string[]): Promise<void> {
    const due = this.#dueKeys(keys);
    if (due.length > 0) await this.#expiry.expireNow(due).catch(rethrow);
  }

  /** Those of `keys` past their deadline by the expiry clock, with their versions. */
  #dueKeys(keys: readonly string[]): Array<readonly [string, number]> {
    const sm = this.#o.stateMachine;
    const due: Array<readonly [string, number]> = [];
    if (sm.expiry.size === 0) return due;
    const now = this.#expiry.now();
    for (const key of keys) {
      const deadline = sm.deadlineOf(key);
      const version = sm.versionOf(key);
      if (deadline !== undefined && version !== undefined && deadline <= now) due.push([key, version]);
    }
    return due;
  }

  /** #leaderRead, versioned. */
  async #leaderReadVersioned(key: string): Promise<VersionedValue> {
    const raft = this.#raft;
    const index = raft.leaseReadIndex();
    if (index === null) return this.getVersioned(key, "linearizable");
    await raft.readAt(index).catch(rethrow);
    return this.#versioned(key);
  }

  peek(key: string, level: ReadLevel): string | null | undefined {
    if (this.#removed) return undefined;
    if (level === "stale") return this.#visible(key);
    if (level === "leader") {
      const index = this.#node?.leaseReadIndex() ?? null;
      if (index !== null && index <= this.#node!.lastApplied) return this.#visible(key);
    }
    return undefined;
  }

  /**
   * A read at level leader, on the leader: from its own state under its lease (raft/lease.ts)
   * once that state has reached the commit index of the moment of the check; without a lease
   * (a new leader, a lapsed majority, a pause that outlived it), through ReadIndex instead.
   */
  async #leaderRead(key: string): Promise<string | null> {
    const raft = this.#raft;
    const index = raft.leaseReadIndex();
    if (index === null) return this.get(key, "linearizable");
    await raft.readAt(index).catch(rethrow);
    return this.#visible(key);
  }

  /**
   * A page of keys in key order (issue 16 item 3), read in one synchronous step once `level`
   * is satisfied, so the page is the state at one applied index (`applied`). A leader-level
   * listing on a follower is served as a linearizable one (ReadIndex at the leader, the page
   * from this node's state): the same guarantee or better, and the page never crosses the
   * Raft connection (so `_caller`, who asked, matters only to the HTTP layer's check).
   */
  async list(query: ListQuery, level: ReadLevel, _caller?: Caller): Promise<ListPage> {
    if (this.#removed) throw this.#removedError();
    if (level === "leader") {
      const raft = this.#raft;
      const index = raft.leaseReadIndex();
      if (index !== null) await raft.readAt(index).catch(rethrow);
      else if (!isUnsafeLocalReads) await raft.read().catch(rethrow);
    } else if (level === "linearizable" && !isUnsafeLocalReads) {
      await this.#raft.read().catch(rethrow);
    }
    // Keys past their deadline by this node's expiry clock are left out, as #visible leaves
    // them out of a read; nothing to check while no key has a deadline.
    const sm = this.#o.stateMachine;
    const now = sm.expiry.size === 0 ? null : this.#expiry.now();
    const hidden = now === null ? undefined : (key: string): boolean => {
      const deadline = sm.deadlineOf(key);
      return deadline !== undefined && deadline <= now;
    };
    const page = sm.list(query, hidden);
    return { items: page.items, next: page.next, applied: this.#node?.lastApplied ?? 0 };
  }

  /** The changes of keys with `prefix` after index `after` (null: from now), from this node's applied changes (./watches.ts). */
  watch(prefix: string, after: number | null, sink: WatchSink): WatchResult {
    if (this.#removed) throw this.#removedError();
    return this.#watches.watch(prefix, after, sink);
  }

  /** Resolves once a key concerned changes after `index`, or after `waitMs`, or on `signal` (./watches.ts). */
  waitForChange(prefix: string, exact: boolean, index: number, waitMs: number, signal?: AbortSignal): Promise<void> {
    try {
      if (this.#removed) throw this.#removedError();
      return this.#watches.waitForChange(prefix, exact, index, waitMs, signal);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  set(pairs: ReadonlyArray<readonly [string, string]>, caller?: Caller): Promise<number | void> {
    return this.#write({ type: "set", pairs: pairs as readonly KeyValue[] }, caller).then(plainVersion);
  }

  delete(key: string, caller?: Caller): Promise<number | void> {
    return this.#write({ type: "delete", key }, caller).then(plainVersion);
  }

  writeWith(write: KeyWrite, options: WriteOptions, caller?: Caller): Promise<WriteOutcome> {
    // One object literal, absent options as undefined (everything reads them so): the spreads
    // here and in #commandOf cost a keyed write 0.34-0.39 µs at the leader, literals 0.04.
    const op: WriteOp = write.type === "set"
      ? { type: "set", pairs: write.pairs as readonly KeyValue[], idempotencyKey: options.idempotencyKey, condition: write.condition, ttlMs: write.ttlMs }
      : { type: "delete", key: write.key, idempotencyKey: options.idempotencyKey, condition: write.condition };
    // Nothing to decide at apply: a plain write, answered as one.
    // Chains of `then`s, no async function: #write already settles every failure as a
    // rejection, and each await here was one promise and one hop more on every keyed write.
    if (!hasOptions(op)) return this.#write(op, caller).then(plainOutcome);
    return this.#write(op, caller).then(decidedOutcome);
  }

  async join(id: string, addr: string, caller?: Caller): Promise<void> {
    if (!this.#isLeader()) {
      await this.#forward({ type: "join", id, addr }, caller);
      return;
    }
    await this.#changes.join(id, addr);
  }

  async remove(id: string, caller?: Caller): Promise<void> {
    if (!this.#isLeader()) {
      await this.#forward({ type: "remove", id }, caller);
      return;
    }
    await this.#changes.remove(id);
  }

  leader(): LeaderReport {
    if (this.#removed) throw this.#removedError();
    return this.#leadership.report();
  }

  async transferLeadership(id: string | null, caller?: Caller): Promise<string> {
    const s = this.#raft.status();
    if (s.role === "leader") return this.#leadership.transfer(id);
    // A target that cannot lead is refused here already (400), as the leader would.
    if (id !== null) this.#leadership.checkTarget(s, id);
    const sentTo = s.leader;
    try {
      return (await this.#forward({ type: "transfer", id }, caller)) ?? "";
    } catch (e) {
      // The change this request asked for may reach this node before the old leader's reply,
      // which then fails as "the leader changed": that change is the answer.
      const now = this.#node?.status().leader ?? null;
      if (isStoreError(e, "outcomeUnknown") && now !== null && now !== sentTo) return now;
      throw e;
    }
  }

  /**
   * Before the process exits (SIGTERM, SIGINT): a leader hands leadership on and lets the
   * requests it holds settle, within about one election timeout. The line to log, or null
   * when this node does not lead.
   */
  handOff(): Promise<string | null> {
    return this.#leadership.handOff(() => (this.#node?.waiting ?? 0) + this.#forwarder.waiting);
  }

  async backup(): Promise<BackupState> {
    if (this.#removed) throw this.#removedError();
    // Linearizable: every write acknowledged before this call is in the state captured below.
    await this.#raft.read().catch(rethrow);
    // Index, term and capture in one synchronous step, so they describe the same state.
    const node = this.#raft;
    const state = this.#o.stateMachine.capture();
    return {
      index: node.lastApplied,
      term: node.lastAppliedTerm,
      nodeId: this.#o.id,
      size: state.size,
      entries: () => state.entries(),
      entriesVersioned: () => state.entriesVersioned(),
      sessions: state.sessions,
      deadlines: state.deadlines,
      release: () => state.release(),
    };
  }

  status(): StatusReport {
    // Not through #raft: a removed node still reports its status (state "removed").
    if (this.#node === null) throw new StoreError("unavailable", "node is starting");
    const s = this.#node.status();
    const addrOf = (id: string | null): string => s.members.find((m) => m.id === id)?.addr ?? "";
    const leader = s.leader === null ? { id: "", address: "" } : { id: s.leader, address: addrOf(s.leader) };
    return {
      me: { id: this.#o.id, address: this.#o.raftAddr },
      leader,
      followers: s.members.filter((m) => m.id !== s.leader).map((m) => ({ id: m.id, address: m.addr })),
      state: s.removed ? "removed" : s.role,
      term: s.term,
      commit: s.commitIndex,
      applied: s.lastApplied,
      lastIndex: s.lastLogIndex,
      lastTerm: s.lastLogTerm,
      members: s.members.map((m) => ({ id: m.id, addr: m.addr, suffrage: m.suffrage })),
      ...(this.#o.version === undefined ? {} : { version: this.#o.version }),
      // Milliseconds kept: a probe a second apart can still see it move.
      uptime: Math.max(0, Math.round(this.#clock.now() - this.#startedAtMs)) / 1000,
      health: this.health(),
    };
  }

  health(): HealthReport {
    const node = this.#node;
    if (node === null) {
      const starting = { ok: false, reason: "node is starting" };
      return { ready: false, checks: { leader: starting, storage: starting, member: starting } };
    }
    const s = node.status();
    const failure = node.failure;
    const checks: Record<string, HealthCheck> = {
      leader: s.leader !== null ? { ok: true } : { ok: false, reason: `no leader known (${s.role} in term ${s.term})` },
      // After a storage or invariant failure the driver stopped (the real process exits 70).
      storage: failure === null
        ? { ok: true }
        : { ok: false, reason: `the node stopped on an error: ${failure instanceof Error ? failure.message : String(failure)}` },
      member: s.removed
        ? { ok: false, reason: "this node was removed from the cluster" }
        : s.members.some((m) => m.id === this.#o.id)
        ? { ok: true }
        : { ok: false, reason: "this node is not in the cluster's configuration yet (waiting to be added)" },
    };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  syncWithLeader(timeoutMs: number): Promise<void> {
    let raft: RaftNode;
    try {
      raft = this.#raft;
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<void>((resolve, reject) => {
      // The read itself waits up to the request timeout; the caller's bound may be shorter.
      const timer = this.#timers.setTimeout(() => {
        reject(new StoreError("timeout", `not caught up with the leader's commit index within ${timeoutMs} ms`));
      }, timeoutMs);
      raft.read().then(
        () => {
          this.#timers.clearTimeout(timer);
          resolve();
        },
        (e: unknown) => {
          this.#timers.clearTimeout(timer);
          reject(e instanceof RequestError ? storeErrorOf(e) : e);
        },
      );
    });
  }

  // ---- events from the RaftNode ----

  /** An entry was applied (joins wait for a promotion this way). */
  applied(_entry: Entry): void {
    this.#changes.applied();
  }

  softState(state: SoftState): void {
    // Our own proposals need nothing here: those of an old term either appear in the log
    // (applied above), are overwritten (failed above) or time out with "outcome unknown".
    // Requests forwarded to a leader that is no longer the leader would only wait out their
    // timeout: answer them now, without claiming either outcome.
    // A leader that handed leadership on is alive and answers them within a few round trips
    // (./leadership.ts): those still waiting after one election timeout fail then.
    if (state.leader !== this.#forwardLeader && this.#forwarder.waiting > 0) {
      this.#forwarder.failWaitingAfter(
        this.#leadership.electionMs,
        new StoreError("outcomeUnknown", "the leader changed while the request was forwarded to it; outcome unknown"),
      );
    }
    this.#forwardLeader = state.leader;
    this.#removed = state.removed;
    this.#leadership.leaderChanged();
    this.#expiry.leaderChanged();
  }

  /** A store message arrived from the peer advertising `fromAddr`. */
  receive(fromAddr: string, msg: StoreMessage): void {
    if (msg.type === "reply") {
      this.#forwarder.complete(fromAddr, msg);
      return;
    }
    void this.#forwarder.serve(fromAddr, msg, (op, user) => this.#serveForwarded(op, user));
  }

  // ---- internals ----

  #isLeader(): boolean {
    return this.#raft.isLeader();
  }

  /**
   * Proposes `op` here if this node leads, else forwards it to the leader (unless `isServing`:
   * a request forwarded here, never forwarded again). A write refused without being appended
   * while leadership changes hands is tried once more (`mayRetry`) where leadership went.
   */
  async #write(op: WriteOp, caller?: Caller, isServing = false, mayRetry = true): Promise<Written> {
    try {
      // A condition on a key past its deadline (by this leader's clock) must see it absent, as
      // reads do: its expiry goes into the log just before the write (never awaited: the log's
      // order is enough, and the write's own outcome is what the client waits for).
      if (op.condition !== undefined && this.#o.stateMachine.expiry.size !== 0 && this.#isLeader()) {
        const due = this.#dueKeys(op.type === "set" ? op.pairs.map((p) => p[0]) : [op.key]);
        if (due.length > 0) this.#expiry.expireNow(due).catch(() => undefined);
      }
      return outcomeOf(op, await this.#raft.propose(this.#commandOf(op, caller)));
    } catch (e) {
      // Refused, never appended: a follower that knows the leader forwards it there.
      if (e instanceof RequestError && e.reason === "notLeader" && e.leader !== null && !isServing) {
        return await this.#forwardWrite(op, caller, mayRetry);
      }
      // No leader known (an election under way, as after a handoff): held until one is known
      // or for an election timeout, then tried once more; never appended, so never twice.
      if (e instanceof RequestError && e.reason === "notLeader" && e.leader === null && !isServing && mayRetry) {
        await this.#leadership.leaderOtherThan("", this.#leadership.electionMs);
        return await this.#write(op, caller, false, false);
      }
      // Refused by this leader while it hands off (never appended): held until the handoff
      // ends, then carried out where leadership is: here if it failed, else at the new leader.
      // A request forwarded here goes one hop further in that case only, once: no loop.
      if (e instanceof RequestError && e.reason === "transferring" && mayRetry) {
        await this.#leadership.handoffEnded();
        return await this.#write(op, caller, false, false);
      }
      rethrow(e);
    }
  }

  /**
   * The entry for `op`: as before without an Idempotency-Key; with one, a once command stamped
   * with this node's wall clock (only a leader's proposal is appended, so only leaders stamp)
   * under the key scoped to the caller's user.
   */
  #commandOf(op: WriteOp, caller: Caller | undefined): Uint8Array {
    const hasTtl = op.type === "set" && op.ttlMs !== undefined;
    if (op.idempotencyKey === undefined && !hasTtl) return encodeCommand(op);
    const stamp = Math.max(0, Math.round(this.#wallClock.now()));
    // With a TTL, stamped as a once command is, so the deadline counts from the leader's now.
    const write: WriteCommand = op.type === "set"
      ? { type: "set", pairs: op.pairs, condition: op.condition, ttl: op.ttlMs === undefined ? undefined : { stamp, ms: op.ttlMs } }
      : { type: "delete", key: op.key, condition: op.condition };
    if (op.idempotencyKey === undefined) return encodeCommand(write);
    return encodeOnceCommand(stamp, scopedId(caller?.user ?? null, op.idempotencyKey), write);
  }

  /**
   * Forwards a write to the leader. "noLeader" from the leader means it did not append the
   * write (it was handing off, or had just lost leadership): never applied, so once a new
   * leader is known (or after two election timeouts) it is tried once more. Any other failure,
   * "outcome unknown" above all, is the client's answer: a retry could apply it twice.
   */
  async #forwardWrite(op: WriteOp, caller: Caller | undefined, mayRetry: boolean): Promise<Written> {
    const sentTo = this.#raft.status().leader;
    let reply: ForwardReply;
    try {
      reply = await this.#forwardReply(op, caller);
    } catch (e) {
      if (!mayRetry || sentTo === null || !isStoreError(e, "noLeader")) throw e;
      await this.#leadership.leaderOtherThan(sentTo, 2 * this.#leadership.electionMs);
      return await this.#write(op, caller, false, false);
    }
    // An older leader's reply has no version: the write is answered without one.
    const version = reply.version;
    if (!hasOptions(op)) return version ?? null;
    const outcome = parseOutcomeValue(reply.value);
    return version === undefined ? outcome : { ...outcome, version };
  }

  /** The value of the leader's reply to `op` (see #forwardReply). */
  #forward(op: ForwardedOp, caller: Caller | undefined): Promise<string | null> {
    return this.#forwardReply(op, caller).then(valueOf);
  }

  /** Sends `op` to the leader known now; settles with its reply. */
  #forwardReply(op: ForwardedOp, caller: Caller | undefined): Promise<ForwardReply> {
    const status = this.#raft.status();
    const leader = status.members.find((m) => m.id === status.leader);
    if (status.leader === null || leader === undefined) {
      return Promise.reject(new StoreError("noLeader", "no leader is known; retry later"));
    }
    this.#forwardLeader = status.leader;
    return this.#forwarder.send(status.leader, leader.addr, op, caller?.user ?? null);
  }

  /**
   * Carries out a request another node forwarded here, as the leader, never forwarding it
   * again. Returns the operation's own promise (no extra hop), or throws at once.
   */
  #serveForwarded(op: ForwardedOp, user: string | null): Promise<string | null | void | ServedWrite> {
    // Whose Idempotency-Keys a forwarded write's are: the user's when this node can trust the
    // name (as for permissions), else nobody's, as a request without credentials.
    const writer: Caller = { user: this.#o.auth?.peersAuthenticated === true ? user : null };
    if (!this.#isLeader()) {
      // A leader that just handed leadership on relays the writes still sent to it to the new
      // leader, once (the new leader never relays them again unless it handed off too).
      if ((op.type === "set" || op.type === "delete") && this.#leadership.handedOffLately()) {
        if (this.#o.auth !== undefined) this.#checkForwarded(this.#o.auth, op, user);
        return this.#write(op, writer, false, false).then(servedWrite);
      }
      throw new StoreError("noLeader", "the node forwarded to is no longer the leader; retry");
    }
    if (this.#o.auth !== undefined) this.#checkForwarded(this.#o.auth, op, user);
    switch (op.type) {
      case "set":
      case "delete":
        return this.#write(op, writer, true).then(servedWrite);
      case "join":
        return this.#changes.join(op.id, op.addr);
      case "remove":
        return this.remove(op.id);
      case "readLeader":
        return this.#leaderRead(op.key);
      case "readVersioned":
        return this.#leaderReadVersioned(op.key).then(versionedValue);
      case "readExpiring":
        return this.#serveExpiringRead(op.key).then(versionedValue);
      case "transfer":
        return this.#leadership.transfer(op.id);
    }
  }

  /**
   * The leader's check of a forwarded request (the asking node checked it already, with its
   * own users file): the user's permissions here if peers are authenticated, else only what
   * "*" grants, since the user name of an unauthenticated peer proves nothing. Throws
   * StoreError "forbidden", saying why.
   */
  #checkForwarded(auth: ForwardedAuth, op: ForwardedOp, user: string | null): void {
    const perm = forwardedPermission[op.type];
    const trusted = auth.peersAuthenticated ? user : null;
    if ((auth.permsOf(trusted) & permissionBits[perm]) !== 0) return;
    const leader = `the leader (node ${this.#o.id})`;
    if (!auth.peersAuthenticated) {
      throw new StoreError(
        "forbidden",
        `${leader} refused this request, forwarded to it over an unauthenticated Raft connection: it cannot trust the user name such a connection carries, so it applied the permissions of the user "*", which lack "${perm}"; send the request to the leader itself, or run the nodes with -node-cert, -node-key and -node-ca-cert so that they authenticate each other`,
      );
    }
    throw new StoreError(
      "forbidden",
      user === null
        ? `${leader} requires the "${perm}" permission, which its user "*" does not grant to clients without credentials`
        : `user ${JSON.stringify(user)} does not have the "${perm}" permission in the users file of ${leader}`,
    );
  }

  /** Fails everything waiting here (shutdown; the driver fails its own requests on stop). */
  close(): void {
    this.#expiry.close();
    this.#forwarder.failAll(new StoreError("outcomeUnknown", "node shut down; outcome unknown"));
  }
}

/** Whether `op` is answered with an outcome decided at apply (an Idempotency-Key or a condition). */
function hasOptions(op: WriteOp): boolean {
  return op.idempotencyKey !== undefined || op.condition !== undefined;
}

/**
 * What a write settles with: with an Idempotency-Key or a condition, its outcome (with the
 * version it wrote, if it wrote); a plain one, the log index of its entry (the version of what
 * it wrote), or null when that is not known (forwarded to a leader that predates versions).
 */
type Written = WriteOutcome | number | null;

/**
 * What `op` settles with (Written) from its apply result (store/state_machine.ts): a once
 * command's own outcome, a failed condition's 412, a conditional write's 200; a plain write's
 * entry index. A write that wrote carries its entry's index as its version.
 */
function outcomeOf(op: WriteOp, result: unknown): Written {
  const r = result as { type?: unknown; status?: unknown; body?: unknown; replayed?: unknown; index?: unknown } | null;
  const index = r !== null && typeof r === "object" && typeof r.index === "number" && r.index > 0 ? r.index : undefined;
  if (r !== null && typeof r === "object" && r.type === "once") {
    const status = r.status as number;
    const body = r.body as string;
    const replayed = r.replayed as boolean;
    // Only a fresh 200 wrote now: a replay's, a 412's or a 422's entry wrote nothing. One
    // literal per shape (a spread copied the outcome's properties one by one).
    return index !== undefined && status === 200 && !replayed ? { status, body, replayed, version: index } : { status, body, replayed };
  }
  if (r !== null && typeof r === "object" && r.type === "precondition") return { status: 412, body: r.body as string, replayed: false };
  if (op.condition === undefined) return index ?? null;
  return index === undefined ? { status: 200, body: "", replayed: false } : { status: 200, body: "", replayed: false, version: index };
}

/** What writeWith answers for a write with nothing to decide at apply: a plain write's 200. */
function plainOutcome(written: Written): WriteOutcome {
  const version = plainVersion(written);
  return version === undefined ? { status: 200, body: "", replayed: false } : { status: 200, body: "", replayed: false, version };
}

/** What writeWith answers for a write with an Idempotency-Key or a condition: its outcome. */
function decidedOutcome(written: Written): WriteOutcome {
  if (written === null || typeof written === "number") throw new Error("Store: a write with an Idempotency-Key or a condition settled without an outcome");
  return written;
}

/** A plain write's version (see Written). */
function plainVersion(written: Written): number | undefined {
  return typeof written === "number" ? written : undefined;
}

/**
 * What serving a forwarded write settles with: the reply's value (its outcome when it had an
 * Idempotency-Key or a condition, else none) and, when it wrote, the version it wrote.
 */
function servedWrite(written: Written): string | null | ServedWrite {
  if (written === null) return null;
  if (typeof written === "number") return { value: null, version: written };
  const value = outcomeValue(written);
  return written.version === undefined ? value : { value, version: written.version };
}

function valueOf(reply: ForwardReply): string | null {
  return reply.value;
}
