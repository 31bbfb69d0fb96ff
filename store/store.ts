// The Store facade: what the HTTP layer calls. Writes become log entries (proposed here if
// leader, otherwise forwarded to the leader), reads are served at the requested level, and
// every request completes exactly once, with "outcome unknown" when we lost track of a write.

import type { RaftNode } from "../raft/node.ts";
import type { ReadState, SoftState } from "../raft/core/ready.ts";
import type { Entry, Member, NodeId } from "../raft/core/types.ts";
import type { ConfChange, ProposeResult } from "../raft/core/api.ts";
import type { ReadLevel, StatusReport, StoreApi } from "./api.ts";
import { type KeyValue, encodeCommand } from "./commands.ts";
import { StoreError } from "./errors.ts";
import { type ForwardReply, type ForwardRequest, type ForwardedOp, errorReply, type StoreMessage } from "./forward.ts";
import { PendingRegistry, type Scheduler, entryKey } from "./pending.ts";
import type { KvStateMachine } from "./state_machine.ts";

// Set only by the chaos suite's deliberately broken build (`bun build --define
// HRAFTD_UNSAFE_LOCAL_READS=true`), to prove that its checker catches stale reads. Release
// builds never define it, and from source it is undeclared, so `typeof` keeps it false.
declare const HRAFTD_UNSAFE_LOCAL_READS: boolean | undefined;
const isUnsafeLocalReads = typeof HRAFTD_UNSAFE_LOCAL_READS !== "undefined" && HRAFTD_UNSAFE_LOCAL_READS === true;

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
  readonly timers?: Scheduler;
  readonly stateMachine: KvStateMachine;
  /** Sends a store message to the node advertising `addr`; false if it was dropped unsent. */
  readonly sendTo: (addr: string, msg: StoreMessage) => boolean;
  /** How long a request may wait for Raft before it is answered 503. */
  readonly requestTimeoutMs: number;
  /** Linearizable reads waiting for a read index at once; one more is answered 503 at once. */
  readonly readsPendingMax?: number;
  /** Pause between attempts of a membership change refused because another is in flight. */
  readonly confChangeRetryMs?: number;
  /**
   * How long a join waits for the new member to catch up and be promoted before it answers
   * that the member is still a learner; default half of requestTimeoutMs.
   */
  readonly joinCatchUpMs?: number;
}


/**
 * Default bound on waiting linearizable reads. Each holds ~0.6 KB in the store (measured)
 * plus its HTTP request and connection; unbounded, a leader that stayed silent for the
 * request timeout let a node grow past a gigabyte (issue 12, item 14).
 */
export const readsPendingMaxDefault = 16_384;

/** A pending ReadIndex read: served once the state machine reaches `readIndex`. */
interface WaitingRead {
  readonly ctx: string;
  readonly readIndex: number;
}

/** Linearizable reads sharing one ReadIndex request. */
interface ReadBatch {
  readonly ctx: string;
  readonly waiters: { resolve: () => void; reject: (error: StoreError) => void }[];
}

/** The store of one node; `attach` connects it to its RaftNode. */
export class Store implements StoreApi {
  readonly #o: StoreOptions;
  #node: RaftNode | null = null;
  /** Proposals by log position (index:term), resolved when that exact entry is applied. */
  readonly #writes: PendingRegistry<string, void>;
  /** Term of the proposal waiting at each index, to fail those overwritten by another entry. */
  readonly #writeTerms = new Map<number, number>();
  /** Reads by ReadIndex context, resolved with the confirmed read index. */
  readonly #reads: PendingRegistry<string, number>;
  /** Confirmed reads waiting for the state machine to catch up, in arrival order. */
  #waitingReads: WaitingRead[] = [];
  /** Requests forwarded to the leader, by forwardKey(address sent to, request id). */
  readonly #forwarded: PendingRegistry<string, string | null>;
  /** Forwarded requests served here, by sender and id: null while in progress, then the reply. */
  readonly #served = new Map<string, ForwardReply | null>();
  #nextReqId = 1;
  /** The leader forwarded requests currently go to. */
  #forwardLeader: string | null = null;
  #nextReadCtx = 1;
  /** Reads of this turn waiting for their ReadIndex request to be made, or null. */
  #readBatch: ReadBatch | null = null;
  /** Linearizable reads in every batch not yet completed (bounded by readsPendingMax). */
  #readsWaiting = 0;
  #lastApplied = 0;
  /** Called after every applied entry (join waits for promotion this way). */
  #appliedWatchers = new Set<() => void>();
  /** Membership entries being waited for, by entryKey: every change waiting on one shares it. */
  readonly #confWaits = new Map<string, Promise<void>>();
  /** This node was removed from the cluster (from the driver's softState): clients are refused. */
  #removed = false;

  constructor(options: StoreOptions) {
    if (typeof options.incarnation !== "string" || options.incarnation.length === 0 || options.incarnation.length > 64) {
      throw new RangeError("StoreOptions.incarnation must be a non-empty string of at most 64 characters");
    }
    this.#o = options;
    const timeoutMs = options.requestTimeoutMs;
    const scheduler = options.timers;
    this.#writes = new PendingRegistry({ timeoutMs, timeoutCode: "outcomeUnknown", scheduler });
    this.#reads = new PendingRegistry({ timeoutMs, timeoutCode: "timeout", scheduler });
    this.#forwarded = new PendingRegistry({ timeoutMs, timeoutCode: "outcomeUnknown", scheduler });
  }

  attach(node: RaftNode, lastApplied: number): void {
    this.#node = node;
    this.#lastApplied = lastApplied;
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

  async get(key: string, level: ReadLevel): Promise<string | null> {
    if (this.#removed) throw this.#removedError();
    switch (level) {
      case "stale":
        return this.#o.stateMachine.get(key) ?? null;
      case "leader":
        if (this.#isLeader()) return this.#leaderRead(key);
        return this.#forward({ type: "readLeader", key });
      case "linearizable": {
        if (isUnsafeLocalReads) return this.#o.stateMachine.get(key) ?? null;
        await this.#joinReadBatch();
        return this.#o.stateMachine.get(key) ?? null;
      }
    }
  }

  peek(key: string, level: ReadLevel): string | null | undefined {
    if (this.#removed) return undefined;
    if (level === "stale") return this.#o.stateMachine.get(key) ?? null;
    if (level === "leader") {
      const index = this.#node?.leaseReadIndex() ?? null;
      if (index !== null && index <= this.#lastApplied) return this.#o.stateMachine.get(key) ?? null;
    }
    return undefined;
  }

  /**
   * A read at level leader, on the leader: from its own state under its lease (raft/lease.ts)
   * once that state has reached the commit index of the moment of the check; without a lease
   * (a new leader, a lapsed majority, a pause that outlived it), through ReadIndex instead.
   */
  async #leaderRead(key: string): Promise<string | null> {
    const index = this.#raft.leaseReadIndex();
    if (index === null) return this.get(key, "linearizable");
    if (index > this.#lastApplied) {
      const ctx = this.#nextCtx();
      const done = this.#reads.wait(ctx);
      this.#waitingReads.push({ ctx, readIndex: index });
      await done;
    }
    return this.#o.stateMachine.get(key) ?? null;
  }

  /** A read context: this process's incarnation and a counter (see StoreOptions.incarnation). */
  #nextCtx(): string {
    return `${this.#o.id}/${this.#o.incarnation}/${this.#nextReadCtx++}`;
  }

  /**
   * Starts the batch that linearizable reads arriving in this turn of the event loop join:
   * one ReadIndex request (§6.4) for all of them, handed to the core by flushReads when the
   * driver's turn begins. A read joins only a batch whose request is not yet made, so its read
   * index is at least the commit index at its arrival, as linearizability requires; sharing it
   * saves a request, a timer and a read state per read (the leader is CPU-bound under reads).
   */
  #openReadBatch(): ReadBatch {
    const raft = this.#raft;
    const batch: ReadBatch = { ctx: this.#nextCtx(), waiters: [] };
    this.#reads.add(batch.ctx, (error) => {
      this.#readsWaiting -= batch.waiters.length;
      for (const w of batch.waiters) {
        if (error === null) w.resolve();
        else w.reject(error);
      }
    });
    this.#readBatch = batch;
    raft.wake();
    return batch;
  }

  /**
   * Joins this turn's batch of linearizable reads. The core bounds the requests in flight,
   * not the reads sharing each, so the store bounds those: when readsPendingMax reads wait,
   * the next is refused at once (503) rather than parked for the whole request timeout.
   */
  #joinReadBatch(): Promise<void> {
    const max = this.#o.readsPendingMax ?? readsPendingMaxDefault;
    if (this.#readsWaiting >= max) {
      return Promise.reject(new StoreError("unavailable", `too many reads waiting for a read index (${max}); retry shortly`));
    }
    const batch = this.#readBatch ?? this.#openReadBatch();
    this.#readsWaiting++;
    return new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  /** Hands the open batch of reads to the core (the driver calls this before each Ready). */
  flushReads(): void {
    const batch = this.#readBatch;
    if (batch === null || this.#node === null) return;
    this.#readBatch = null;
    this.#node.core.readIndex(batch.ctx);
  }

  set(pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
    return this.#write({ type: "set", pairs: pairs as readonly KeyValue[] }).then(() => undefined);
  }

  delete(key: string): Promise<void> {
    return this.#write({ type: "delete", key }).then(() => undefined);
  }

  async join(id: string, addr: string): Promise<void> {
    if (!this.#isLeader()) {
      await this.#forward({ type: "join", id, addr });
      return;
    }
    await this.#joinAsLeader(id, addr);
  }

  async remove(id: string): Promise<void> {
    if (!this.#isLeader()) {
      await this.#forward({ type: "remove", id });
      return;
    }
    if (!this.#members().some((m) => m.id === id)) throw new StoreError("notMember", `node ${id} is not a member`);
    await this.#confChange(() => this.#raft.withCore((c) => c.proposeConfChange({ type: "remove", id })));
  }

  status(): StatusReport {
    // Not through #raft: a removed node still reports its status (state "removed").
    if (this.#node === null) throw new StoreError("unavailable", "node is starting");
    const s = this.#node.core.status();
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
      members: s.members.map((m) => ({ id: m.id, addr: m.addr, suffrage: m.suffrage })),
    };
  }

  // ---- events from the RaftNode ----

  /** An entry was applied: complete the proposal waiting at its position, if any. */
  applied(entry: Entry): void {
    this.#lastApplied = entry.index;
    const term = this.#writeTerms.get(entry.index);
    if (term !== undefined) {
      this.#writeTerms.delete(entry.index);
      const key = entryKey(entry.index, term);
      if (term === entry.term) this.#writes.resolve(key, undefined);
      // Another entry won this index: ours was never committed and never will be (a leader
      // never moves an entry), so saying it failed is safe.
      else this.#writes.reject(key, new StoreError("noLeader", "leadership changed before the write committed; it was not applied"));
    }
    if (this.#waitingReads.length > 0) this.#serveReads();
    for (const watcher of this.#appliedWatchers) watcher();
  }

  /** A snapshot was installed: everything up to its index counts as applied. */
  restored(lastIncludedIndex: number): void {
    this.#lastApplied = lastIncludedIndex;
    for (const [index, term] of this.#writeTerms) {
      if (index > lastIncludedIndex) continue;
      this.#writeTerms.delete(index);
      // The snapshot may or may not contain our entry; we cannot tell which.
      this.#writes.reject(entryKey(index, term), new StoreError("outcomeUnknown", "write outcome unknown (snapshot installed)"));
    }
    this.#serveReads();
  }

  readState(read: ReadState): void {
    this.#waitingReads.push({ ctx: read.ctx, readIndex: read.readIndex });
    this.#serveReads();
  }

  readDropped(ctx: string): void {
    this.#reads.reject(ctx, new StoreError("noLeader", "no leader to confirm the read; retry later"));
  }

  softState(state: SoftState): void {
    // Our own proposals need nothing here: those of an old term either appear in the log
    // (applied above), are overwritten (failed above) or time out with "outcome unknown".
    // Requests forwarded to a leader that is no longer the leader would only wait out their
    // timeout: answer them now, without claiming either outcome.
    if (state.leader !== this.#forwardLeader && this.#forwarded.size > 0) {
      this.#forwarded.failAll(new StoreError("outcomeUnknown", "the leader changed while the request was forwarded to it; outcome unknown"));
    }
    this.#forwardLeader = state.leader;
    this.#removed = state.removed;
  }

  /** A store message arrived from the peer advertising `fromAddr`. */
  receive(fromAddr: string, msg: StoreMessage): void {
    if (msg.type === "reply") {
      this.#completeForward(fromAddr, msg);
      return;
    }
    void this.#serveForward(fromAddr, msg);
  }

  // ---- internals ----

  #serveReads(): void {
    const still: WaitingRead[] = [];
    for (const r of this.#waitingReads) {
      if (r.readIndex <= this.#lastApplied) this.#reads.resolve(r.ctx, r.readIndex);
      else still.push(r);
    }
    this.#waitingReads = still;
  }

  #isLeader(): boolean {
    return this.#raft.core.status().role === "leader";
  }

  #members(): readonly Member[] {
    return this.#raft.core.status().members;
  }

  async #write(op: { type: "set"; pairs: readonly KeyValue[] } | { type: "delete"; key: string }): Promise<void> {
    const data = encodeCommand(op);
    const r = this.#raft.withCore((core) => core.propose(data));
    if (r.ok) {
      await this.#awaitEntry(r);
      return;
    }
    if (r.reason === "notLeader" && r.leader !== null) {
      await this.#forward(op);
      return;
    }
    throw proposeError(r);
  }

  #awaitEntry(r: ProposeResult & { ok: true }): Promise<void> {
    const { index, term } = r.id;
    const done = this.#writes.wait(entryKey(index, term));
    this.#writeTerms.set(index, term);
    return done;
  }

  /**
   * Adds `id` at `addr` as a learner and waits until the core promotes it (caught up). The
   * whole join fits in half the request timeout, so a follower that forwarded it hears the
   * real answer before its own timeout would say "outcome unknown".
   */
  async #joinAsLeader(id: string, addr: string): Promise<void> {
    const waitMs = this.#o.joinCatchUpMs ?? this.#o.requestTimeoutMs / 2;
    const deadline = performance.now() + waitMs;
    // As hraftd does: a member with the same id or the same address is replaced. Each step is
    // chosen when it is proposed, from the membership then in force, so a join racing another
    // (the same one, or a retry) never undoes the other's steps: it finds them done.
    const nextStep = (): ConfChange | null => {
      const members = this.#members();
      if (members.some((m) => m.id === id && m.addr === addr)) return null;
      const old = members.find((m) => m.id === id || m.addr === addr);
      return old === undefined ? { type: "addLearner", id, addr } : { type: "remove", id: old.id };
    };
    // At most: remove the old holder of the id, of the address, then add. More means another
    // join for this id or address keeps changing it: the last one wins, this one says so.
    for (let steps = 0; nextStep() !== null; steps++) {
      if (steps === 3) {
        throw new StoreError("unavailable", `another join is changing member ${id} or address ${addr} at the same time; retry`);
      }
      await this.#confChange(() => {
        const change = nextStep();
        return change === null ? null : this.#raft.withCore((c) => c.proposeConfChange(change));
      });
    }
    await this.#untilVoter(id, addr, deadline, waitMs);
  }

  /**
   * Waits until the core has promoted `id` to voter, or until `deadline`. A learner that has
   * not caught up by then is left in place (it is promoted by itself once it answers, and a
   * learner never counts toward quorum), and the join fails saying so and how to undo it: we
   * cannot tell a wrong address from a node still receiving a large log.
   */
  #untilVoter(id: string, addr: string, deadline: number, waitMs: number): Promise<void> {
    const isVoter = (): boolean => this.#members().some((m) => m.id === id && m.suffrage === "voter");
    if (isVoter()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (error: StoreError | null): void => {
        clearTimeout(timer);
        this.#appliedWatchers.delete(check);
        if (error === null) resolve();
        else reject(error);
      };
      const check = (): void => {
        if (isVoter()) finish(null);
      };
      const timer = setTimeout(() => finish(learnerLeftError(id, addr, waitMs)), Math.max(0, deadline - performance.now()));
      this.#appliedWatchers.add(check);
    });
  }

  /**
   * Proposes a membership change, retrying while another one is in flight; `propose` is asked
   * again at each attempt and returns null when nothing is left to change.
   */
  async #confChange(propose: () => ProposeResult | null): Promise<void> {
    const deadline = performance.now() + this.#o.requestTimeoutMs;
    for (;;) {
      const r = propose();
      if (r === null) return;
      if (r.ok) return this.#awaitConfEntry(r);
      if (r.reason !== "confChangeInFlight" || performance.now() > deadline) throw proposeError(r);
      await new Promise((resolve) => setTimeout(resolve, this.#o.confChangeRetryMs ?? 20));
    }
  }

  /**
   * Waits until the config entry `r` names is applied. A change already in force comes back
   * naming the entry that carries the current configuration: one applied already (done at
   * once), or one another request proposed and waits for (wait with it: an entry has one
   * waiter in #writes).
   */
  #awaitConfEntry(r: ProposeResult & { ok: true }): Promise<void> {
    if (r.id.index <= this.#lastApplied) return Promise.resolve();
    const key = entryKey(r.id.index, r.id.term);
    const shared = this.#confWaits.get(key);
    if (shared !== undefined) return shared;
    const done = this.#awaitEntry(r);
    this.#confWaits.set(key, done);
    const forget = (): void => {
      this.#confWaits.delete(key);
    };
    done.then(forget, forget);
    return done;
  }

  #forward(op: ForwardedOp): Promise<string | null> {
    const status = this.#raft.core.status();
    const leader = status.members.find((m) => m.id === status.leader);
    if (status.leader === null || leader === undefined) {
      return Promise.reject(new StoreError("noLeader", "no leader is known; retry later"));
    }
    const reqId = `${this.#o.incarnation}.${this.#nextReqId++}`;
    const key = forwardKey(leader.addr, reqId);
    this.#forwardLeader = status.leader;
    const done = this.#forwarded.wait(key);
    if (!this.#o.sendTo(leader.addr, { type: "forward", reqId, op })) {
      // Never sent, so never applied: safe to say so and let the client retry.
      this.#forwarded.reject(key, new StoreError("noLeader", `cannot reach the leader ${status.leader}; retry later`));
    }
    return done;
  }

  /** A reply settles only the request with its id that was sent to the address it came from. */
  #completeForward(fromAddr: string, reply: ForwardReply): void {
    const key = forwardKey(fromAddr, reply.reqId);
    if (reply.error === null) this.#forwarded.resolve(key, reply.value);
    else this.#forwarded.reject(key, new StoreError(reply.error.code, reply.error.message));
  }

  /**
   * Serves a request forwarded by another node; never forwards it again. A copy of a request
   * already seen (a network that duplicates frames) is not carried out twice: it gets the
   * first one's reply, or nothing while that is still being worked on. Without this, a
   * duplicate arriving after leadership moved would be answered "not the leader", a definite
   * failure, for a write the first copy had applied.
   */
  async #serveForward(fromAddr: string, req: ForwardRequest): Promise<void> {
    const key = forwardKey(fromAddr, req.reqId);
    if (this.#served.has(key)) {
      const earlier = this.#served.get(key);
      if (earlier !== null && earlier !== undefined) this.#o.sendTo(fromAddr, earlier);
      return;
    }
    this.#served.set(key, null);
    if (this.#served.size > servedRemembered) this.#served.delete(this.#served.keys().next().value!);
    let reply: ForwardReply;
    try {
      if (!this.#isLeader()) throw new StoreError("noLeader", "the node forwarded to is no longer the leader; retry");
      const op = req.op;
      let value: string | null = null;
      switch (op.type) {
        case "set":
        case "delete":
          await this.#write(op);
          break;
        case "join":
          await this.#joinAsLeader(op.id, op.addr);
          break;
        case "remove":
          await this.remove(op.id);
          break;
        case "readLeader":
          value = await this.#leaderRead(op.key);
          break;
      }
      reply = { type: "reply", reqId: req.reqId, error: null, value };
    } catch (e) {
      reply = errorReply(req.reqId, e);
    }
    if (this.#served.has(key)) this.#served.set(key, reply);
    this.#o.sendTo(fromAddr, reply);
  }

  /** Fails everything waiting (shutdown). */
  close(): void {
    const err = new StoreError("unavailable", "node is shutting down");
    this.#writes.failAll(new StoreError("outcomeUnknown", "node shut down; write outcome unknown"));
    this.#readBatch = null;
    this.#reads.failAll(err);
    this.#forwarded.failAll(new StoreError("outcomeUnknown", "node shut down; outcome unknown"));
    this.#writeTerms.clear();
  }
}

/** Forwarded requests remembered for duplicate detection (a few seconds' worth at full load). */
const servedRemembered = 16_384;

/** The registry key of a forwarded request: where it went and its id. */
function forwardKey(addr: string, reqId: string): string {
  return `${addr} ${reqId}`;
}

/** A join whose learner has not caught up in time: what was left, and how to undo it. */
function learnerLeftError(id: string, addr: string, waitMs: number): StoreError {
  return new StoreError(
    "timeout",
    `node ${id} (${addr}) was added as a learner but has not caught up within ${waitMs / 1000} s: nothing answers at ` +
      `${addr}, or it is still receiving the log. It becomes a voter by itself once it catches up (a learner never ` +
      `counts toward quorum); if the address is wrong or the node is not coming, undo the join with ` +
      `POST /remove ${JSON.stringify({ id })}`,
  );
}

function proposeError(r: ProposeResult & { ok: false }): StoreError {
  switch (r.reason) {
    case "notLeader":
      return new StoreError("noLeader", "no leader is known; retry later", r.leader);
    case "transferring":
      return new StoreError("noLeader", "leadership is being transferred; retry shortly", r.leader);
    case "busy":
      return new StoreError("unavailable", "too many uncommitted writes; retry shortly", r.leader);
    case "confChangeInFlight":
      return new StoreError("unavailable", "another membership change is in progress; retry shortly", r.leader);
    case "invalid":
      return new StoreError("invalid", "the change is not valid for the current membership", r.leader);
  }
}
