// Both ends of a forwarded request (wire format in ./forward.ts). The asking side: a follower
// sends a client's request to the leader and waits for the reply to that id from that address.
// The serving side: the leader carries out each request once, however often the network
// delivers it, and answers.

import type { Clock, Timers } from "../raft/host.ts";
import { StoreError } from "./errors.ts";
import { errorReply, type ForwardedOp, type ForwardReply, type ForwardRequest, type StoreMessage } from "./forward.ts";
import { PendingRegistry } from "./pending.ts";

/** What a Forwarder needs from its Store. */
export interface ForwarderOptions {
  /** This process's incarnation: the prefix of every request id (see StoreOptions). */
  readonly incarnation: string;
  /** Sends a store message to the node advertising `addr`; false if it was dropped unsent. */
  readonly sendTo: (addr: string, msg: StoreMessage) => boolean;
  /** How long a forwarded request waits for its reply before "outcome unknown". */
  readonly requestTimeoutMs: number;
  readonly timers: Timers;
  /** Monotonic time: how long this process has been up (see serve). */
  readonly clock: Clock;
}

/** What serving a forwarded write that wrote settles with: its reply's value, and the version it wrote. */
export interface ServedWrite {
  readonly value: string | null;
  readonly version: number;
}

/** Forwarded requests remembered for duplicate detection (a few seconds' worth at full load). */
const servedRemembered = 16_384;

/** The registry key of a forwarded request: where it went and its id. */
function forwardKey(addr: string, reqId: string): string {
  return `${addr} ${reqId}`;
}

/** Requests this node forwarded and waits on, and those it serves for others. */
export class Forwarder {
  readonly #o: ForwarderOptions;
  /** Requests forwarded to the leader, by forwardKey(address sent to, request id). */
  readonly #forwarded: PendingRegistry<string, ForwardReply>;
  /** Forwarded requests served here, by sender and id: null while in progress, then the reply. */
  readonly #served = new Map<string, ForwardReply | null>();
  #nextReqId = 1;
  readonly #startedAt: number;

  constructor(options: ForwarderOptions) {
    this.#o = options;
    this.#startedAt = options.clock.now();
    this.#forwarded = new PendingRegistry({ timeoutMs: options.requestTimeoutMs, timeoutCode: "outcomeUnknown", timers: options.timers });
  }

  /** Requests forwarded and still waiting for their reply. */
  get waiting(): number {
    return this.#forwarded.size;
  }

  /**
   * Sends `op` to the leader `leaderId` at `leaderAddr` on behalf of `user` (null: anonymous);
   * settles with its reply (an error reply rejects with its StoreError).
   */
  send(leaderId: string, leaderAddr: string, op: ForwardedOp, user: string | null = null): Promise<ForwardReply> {
    const reqId = `${this.#o.incarnation}.${this.#nextReqId++}`;
    const key = forwardKey(leaderAddr, reqId);
    const done = this.#forwarded.wait(key);
    if (!this.#o.sendTo(leaderAddr, { type: "forward", reqId, op, user })) {
      // Never sent, so never applied: safe to say so and let the client retry.
      this.#forwarded.reject(key, new StoreError("noLeader", `cannot reach the leader ${leaderId}; retry later`));
    }
    return done;
  }

  /** A reply settles only the request with its id that was sent to the address it came from. */
  complete(fromAddr: string, reply: ForwardReply): void {
    const key = forwardKey(fromAddr, reply.reqId);
    if (reply.error === null) this.#forwarded.resolve(key, reply);
    else this.#forwarded.reject(key, new StoreError(reply.error.code, reply.error.message));
  }

  /**
   * Fails, after `ms`, the requests waiting now that are still waiting then (the leader
   * changed: the old one may still answer, as one that handed leadership on does).
   */
  failWaitingAfter(ms: number, error: StoreError): void {
    const keys = [...this.#forwarded.keys()];
    this.#o.timers.setTimeout(() => {
      for (const key of keys) this.#forwarded.reject(key, error);
    }, ms);
  }

  /** Fails every request waiting for a reply (leader changed, shutdown). */
  failAll(error: StoreError): void {
    this.#forwarded.failAll(error);
  }

  /**
   * Serves a request forwarded by another node with `execute`, which never forwards it again
   * (it may throw at once, e.g. when this node is no longer the leader).
   * A copy of a request already seen (a network that duplicates frames) is not carried out
   * twice: it gets the first one's reply, or nothing while that is still being worked on.
   * Without this, a duplicate arriving after leadership moved would be answered "not the
   * leader", a definite failure, for a write the first copy had applied.
   */
  async serve(
    fromAddr: string,
    req: ForwardRequest,
    execute: (op: ForwardedOp, user: string | null) => Promise<string | null | void | ServedWrite>,
  ): Promise<void> {
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
      // Reads have a value, writes that wrote a version (and with options their outcome as
      // the value); the other operations settle with none.
      const value = await execute(req.op, req.user);
      reply = typeof value === "object" && value !== null
        ? { type: "reply", reqId: req.reqId, error: null, value: value.value, version: value.version }
        : { type: "reply", reqId: req.reqId, error: null, value: value ?? null };
    } catch (e) {
      reply = errorReply(req.reqId, this.#refusalOf(req, e));
    }
    if (this.#served.has(key)) this.#served.set(key, reply);
    this.#o.sendTo(fromAddr, reply);
  }

  /**
   * A refusal of a change ("not the leader": nothing done) is definite only if no earlier
   * process of this node can have carried out the same request: a copy of it delivered to
   * the previous process may have been applied, and what that process served died with it.
   * The asker waits at most requestTimeoutMs, so a process up twice that long has seen every
   * copy its predecessor could have served in time; a younger one says the outcome is unknown.
   */
  #refusalOf(req: ForwardRequest, e: unknown): unknown {
    const isChange = req.op.type !== "readLeader" && req.op.type !== "readVersioned";
    const isYoung = this.#o.clock.now() - this.#startedAt < 2 * this.#o.requestTimeoutMs;
    if (isChange && isYoung && e instanceof StoreError && e.code === "noLeader") {
      return new StoreError(
        "outcomeUnknown",
        "the node forwarded to is not the leader and restarted recently: an earlier process of it may have carried the request out; outcome unknown",
        e.leader,
      );
    }
    return e;
  }
}
