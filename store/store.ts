// The Store facade: what the HTTP layer calls. Writes become log entries (proposed here if
// leader, otherwise forwarded to the leader), reads are served at the requested level, and
// every request completes exactly once, with "outcome unknown" when we lost track of a write.
// The driver (raft/node.ts) completes proposals and reads; the store decides where a request
// goes and what its answer means to a client.

import type { RaftNode } from "../raft/node.ts";
import { RequestError } from "../raft/node.ts";
import type { ConfChange, Entry, Member, NodeId, SoftState } from "../raft/core/mod.ts";
import type { Clock, Timers } from "../raft/host.ts";
import { realClock, realTimers } from "../raft/real_time.ts";
import type { ReadLevel, StatusReport, StoreApi } from "./api.ts";
import { type KeyValue, encodeCommand } from "./commands.ts";
import { StoreError } from "./errors.ts";
import { type ForwardReply, type ForwardRequest, type ForwardedOp, errorReply, type StoreMessage } from "./forward.ts";
import { PendingRegistry } from "./pending.ts";
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
  readonly timers?: Timers;
  /** Monotonic time for deadlines (joins): the host's by default, simulated time under simulation. */
  readonly clock?: Clock;
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
}


/** The store of one node; `attach` connects it to its RaftNode. */
export class Store implements StoreApi {
  readonly #o: StoreOptions;
  #node: RaftNode | null = null;
  readonly #timers: Timers;
  readonly #clock: Clock;
  /** Requests forwarded to the leader, by forwardKey(address sent to, request id). */
  readonly #forwarded: PendingRegistry<string, string | null>;
  /** Forwarded requests served here, by sender and id: null while in progress, then the reply. */
  readonly #served = new Map<string, ForwardReply | null>();
  #nextReqId = 1;
  /** The leader forwarded requests currently go to. */
  #forwardLeader: string | null = null;
  /** Called after every applied entry (join waits for promotion this way). */
  #appliedWatchers = new Set<() => void>();
  /** This node was removed from the cluster (from the driver's softState): clients are refused. */
  #removed = false;

  constructor(options: StoreOptions) {
    if (typeof options.incarnation !== "string" || options.incarnation.length === 0 || options.incarnation.length > 64) {
      throw new RangeError("StoreOptions.incarnation must be a non-empty string of at most 64 characters");
    }
    this.#o = options;
    this.#timers = options.timers ?? realTimers;
    this.#clock = options.clock ?? realClock;
    this.#forwarded = new PendingRegistry({ timeoutMs: options.requestTimeoutMs, timeoutCode: "outcomeUnknown", timers: this.#timers });
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
        await this.#raft.read().catch(rethrow);
        return this.#o.stateMachine.get(key) ?? null;
      }
    }
  }

  peek(key: string, level: ReadLevel): string | null | undefined {
    if (this.#removed) return undefined;
    if (level === "stale") return this.#o.stateMachine.get(key) ?? null;
    if (level === "leader") {
      const index = this.#node?.leaseReadIndex() ?? null;
      if (index !== null && index <= this.#node!.lastApplied) return this.#o.stateMachine.get(key) ?? null;
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
    return this.#o.stateMachine.get(key) ?? null;
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
    await this.#confChange(() => ({ type: "remove", id }));
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
      members: s.members.map((m) => ({ id: m.id, addr: m.addr, suffrage: m.suffrage })),
    };
  }

  // ---- events from the RaftNode ----

  /** An entry was applied (joins wait for a promotion this way). */
  applied(_entry: Entry): void {
    for (const watcher of this.#appliedWatchers) watcher();
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

  #isLeader(): boolean {
    return this.#raft.status().role === "leader";
  }

  #members(): readonly Member[] {
    return this.#raft.status().members;
  }

  async #write(op: { type: "set"; pairs: readonly KeyValue[] } | { type: "delete"; key: string }): Promise<void> {
    try {
      await this.#raft.propose(encodeCommand(op));
    } catch (e) {
      // Refused, never appended: a follower that knows the leader forwards it there.
      if (e instanceof RequestError && e.reason === "notLeader" && e.leader !== null) {
        await this.#forward(op);
        return;
      }
      rethrow(e);
    }
  }

  /**
   * Adds `id` at `addr` as a learner and waits until the core promotes it (caught up). The
   * whole join fits in half the request timeout, so a follower that forwarded it hears the
   * real answer before its own timeout would say "outcome unknown".
   */
  async #joinAsLeader(id: string, addr: string): Promise<void> {
    const waitMs = this.#o.joinCatchUpMs ?? this.#o.requestTimeoutMs / 2;
    const deadline = this.#clock.now() + waitMs;
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
      await this.#confChange(nextStep);
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
        this.#timers.clearTimeout(timer);
        this.#appliedWatchers.delete(check);
        if (error === null) resolve();
        else reject(error);
      };
      const check = (): void => {
        if (isVoter()) finish(null);
      };
      const timer = this.#timers.setTimeout(() => finish(learnerLeftError(id, addr, waitMs)), Math.max(0, deadline - this.#clock.now()));
      this.#appliedWatchers.add(check);
    });
  }

  /**
   * Proposes a membership change, retrying while another one is in flight; `next` is asked
   * again at each attempt and returns null when nothing is left to change. A change already in
   * force settles at once, or with the request already waiting for its entry (raft/node.ts).
   */
  async #confChange(next: () => ConfChange | null): Promise<void> {
    const deadline = this.#clock.now() + this.#o.requestTimeoutMs;
    for (;;) {
      const change = next();
      if (change === null) return;
      try {
        await this.#raft.proposeConfChange(change);
        return;
      } catch (e) {
        if (!(e instanceof RequestError) || e.reason !== "confChangeInFlight" || this.#clock.now() > deadline) rethrow(e);
      }
      await new Promise<void>((resolve) => this.#timers.setTimeout(resolve, this.#o.confChangeRetryMs ?? 20));
    }
  }

  #forward(op: ForwardedOp): Promise<string | null> {
    const status = this.#raft.status();
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

  /** Fails everything waiting here (shutdown; the driver fails its own requests on stop). */
  close(): void {
    this.#forwarded.failAll(new StoreError("outcomeUnknown", "node shut down; outcome unknown"));
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

/** What a request the driver could not complete means to a client. */
export function storeErrorOf(e: RequestError): StoreError {
  switch (e.reason) {
    case "notLeader":
      return new StoreError("noLeader", "no leader is known; retry later", e.leader);
    case "transferring":
      return new StoreError("noLeader", "leadership is being transferred; retry shortly", e.leader);
    case "busy":
      return new StoreError("unavailable", "too many uncommitted writes; retry shortly", e.leader);
    case "confChangeInFlight":
      return new StoreError("unavailable", "another membership change is in progress; retry shortly", e.leader);
    case "invalid":
      return new StoreError("invalid", "the change is not valid for the current membership", e.leader);
    case "overwritten":
      return new StoreError("noLeader", e.message, e.leader);
    case "unknown":
      return new StoreError("outcomeUnknown", e.message, e.leader);
    case "noLeader":
      return new StoreError("noLeader", e.message, e.leader);
    case "timeout":
      return new StoreError("timeout", e.message, e.leader);
    case "full":
      return new StoreError("unavailable", e.message, e.leader);
  }
}

/** Rethrows `e`, as a StoreError if it is the driver's RequestError. */
function rethrow(e: unknown): never {
  throw e instanceof RequestError ? storeErrorOf(e) : e;
}
