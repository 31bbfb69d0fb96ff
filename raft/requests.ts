// Client requests the driver completes itself, in the manner of hashicorp/raft's ApplyFuture
// and etcd's ReadIndex: a proposal settles when its entry is applied (or when its outcome
// becomes unknown), a read when the state machine has applied past a confirmed read index.
// One read waits in one place; nothing outside the driver keeps a shadow of the log.

import type { NodeId } from "./core/mod.ts";
import type { Timers } from "./host.ts";

/** Why a request did not complete with a result. */
export type RequestFailure =
  // Refused by the core: nothing was appended, so nothing will be applied.
  | "notLeader"
  | "transferring"
  | "busy"
  | "confChangeInFlight"
  | "invalid"
  // Appended, then replaced by another leader's entry at its index: never applied (§5.3).
  | "overwritten"
  // May or may not be applied: the wait timed out, a snapshot covered it, the node stopped.
  | "unknown"
  // Reads: no leader to confirm it; not confirmed in time; too many reads waiting.
  | "noLeader"
  | "timeout"
  | "full";

/** A request that did not complete; `leader` is the leader known when it failed, if any. */
export class RequestError extends Error {
  override readonly name = "RequestError";
  constructor(
    readonly reason: RequestFailure,
    message: string,
    readonly leader: NodeId | null = null,
  ) {
    super(message);
  }
}

/**
 * Running counts of the requests a driver completes, read by the metrics at scrape time
 * (metrics/node_metrics.ts): plain fields, so keeping them costs an increment.
 */
export class RequestCounts {
  /** Proposals appended and waiting for their entry to be applied. */
  proposalsPending = 0;
  /** Proposals appended that failed: overwritten, or outcome unknown (timeout, snapshot, stop). */
  proposalsFailed = 0;
  /** ReadIndex requests handed to the core (one per batch of reads of one driver turn). */
  readIndexRounds = 0;
  /** ReadIndex requests that failed: dropped by the core (no leader) or every read timed out. */
  readIndexFailed = 0;
}

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: RequestError) => void;
  readonly index: number;
  readonly group: ProposalGroup;
}

/**
 * Proposals of one driver turn, which share one timer (a write's hot path: a timer per
 * proposal was ~1.5% of a loaded leader's main-thread samples). They arrive within that
 * turn, so the group's timeout is each one's own to within a turn, as a read batch's is.
 */
interface ProposalGroup {
  timer: unknown;
  /** Members not settled yet: at zero the timer is cleared. */
  waiting: number;
  readonly members: Waiter<unknown>[];
}

/**
 * Proposals by log index. An index carries the term the proposal was appended in: the entry
 * applied there settles it if the terms match (Log Matching: same index and term, same entry),
 * and fails it as overwritten otherwise. Several waiters may share one entry (two identical
 * membership changes in flight at once).
 */
export class Proposals {
  readonly #byIndex = new Map<number, { term: number; waiters: Waiter<unknown>[] }>();
  readonly #timers: Timers;
  readonly #timeoutMs: number;
  readonly #counts: RequestCounts;
  #count = 0;
  /** The group this turn's proposals join; null until the first one (endTurn closes it). */
  #open: ProposalGroup | null = null;

  constructor(timers: Timers, timeoutMs: number, counts: RequestCounts = new RequestCounts()) {
    this.#timers = timers;
    this.#timeoutMs = timeoutMs;
    this.#counts = counts;
  }

  /** Proposals waiting now. */
  get size(): number {
    return this.#count;
  }

  /** Waits for the entry at `index` appended in `term`; "unknown" after the timeout. */
  wait(index: number, term: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let slot = this.#byIndex.get(index);
      if (slot === undefined || slot.term !== term) {
        // A waiter of another term at this index lost it already (the log moved on).
        if (slot !== undefined) this.#settle(index, slot, null, "overwritten");
        slot = { term, waiters: [] };
        this.#byIndex.set(index, slot);
      }
      const group = this.#open ?? this.#openGroup();
      const waiter: Waiter<unknown> = { resolve, reject, index, group };
      group.members.push(waiter);
      group.waiting++;
      slot.waiters.push(waiter);
      this.#count++;
      this.#counts.proposalsPending++;
    });
  }

  /** The driver's turn is over: later proposals join a new group, with a timer of its own. */
  endTurn(): void {
    this.#open = null;
  }

  #openGroup(): ProposalGroup {
    const group: ProposalGroup = { timer: null, waiting: 0, members: [] };
    group.timer = this.#timers.setTimeout(() => {
      for (const w of group.members) this.#expire(w.index, w);
    }, this.#timeoutMs);
    this.#open = group;
    return group;
  }

  /** `w` settled: its group's timer goes once none of its members waits. */
  #left(w: Waiter<unknown>): void {
    const group = w.group;
    if (--group.waiting > 0) return;
    this.#timers.clearTimeout(group.timer);
    if (this.#open === group) this.#open = null;
  }

  /** The entry at `index` of `term` was applied with `result`. */
  applied(index: number, term: number, result: unknown): void {
    const slot = this.#byIndex.get(index);
    if (slot === undefined) return;
    if (slot.term === term) this.#settle(index, slot, { result }, null);
    else this.#settle(index, slot, null, "overwritten");
  }

  /** A snapshot replaced the state up to `index`: whether ours are in it, no one can tell. */
  covered(index: number): void {
    for (const [i, slot] of this.#byIndex) if (i <= index) this.#settle(i, slot, null, "unknown");
  }

  /** Fails every waiting proposal (the node stopped): their entries may still commit. */
  failAll(message: string): void {
    for (const [i, slot] of this.#byIndex) this.#settle(i, slot, null, "unknown", message);
  }

  #settle(index: number, slot: { waiters: Waiter<unknown>[] }, ok: { result: unknown } | null, failure: RequestFailure | null, message?: string): void {
    this.#byIndex.delete(index);
    for (const w of slot.waiters) {
      this.#left(w);
      this.#count--;
      this.#counts.proposalsPending--;
      if (ok !== null) w.resolve(ok.result);
      else {
        this.#counts.proposalsFailed++;
        w.reject(new RequestError(failure!, message ?? proposalMessage(failure!)));
      }
    }
  }

  #expire(index: number, waiter: Waiter<unknown>): void {
    const slot = this.#byIndex.get(index);
    const at = slot?.waiters.indexOf(waiter) ?? -1;
    if (slot === undefined || at < 0) return;
    slot.waiters.splice(at, 1);
    this.#left(waiter);
    this.#count--;
    this.#counts.proposalsPending--;
    this.#counts.proposalsFailed++;
    if (slot.waiters.length === 0) this.#byIndex.delete(index);
    waiter.reject(new RequestError("unknown", `timed out after ${this.#timeoutMs} ms; the outcome is unknown (the write may or may not be applied)`));
  }
}

function proposalMessage(failure: RequestFailure): string {
  switch (failure) {
    case "overwritten":
      return "leadership changed before the write committed; it was not applied";
    case "unknown":
      return "write outcome unknown (a snapshot from the leader replaced the state)";
    default:
      return failure;
  }
}

/** How a read learns its outcome: null once it may be served, else why it may not. */
export type ReadDone = (error: RequestError | null) => void;

/**
 * Reads that share one fate and one timer: those arriving in one driver turn (they share one
 * ReadIndex request), or one lease read waiting for the state machine to reach its index.
 * Reads of one turn arrive within that turn, so one timeout for them all is each one's own
 * timeout to within a turn: a timer per batch rather than one per read (a read's hot path).
 */
interface ReadBatch {
  /** The ReadIndex request's context; null for a lease read (it asks nothing). */
  readonly ctx: string | null;
  readonly done: ReadDone[];
  /** The read index once confirmed (or given, for a lease read); -1 until then. */
  index: number;
  timer: unknown;
}

/**
 * Reads waiting for a read index (§6.4) or for the state machine to reach an index. Reads of
 * one turn share a ReadIndex request; every context carries the process incarnation, so a reply
 * to a read of an earlier process of this node matches nothing here. Outcomes are callbacks,
 * called in the driver's turn that decides them: no promise per read unless a caller wants one.
 */
export class Reads {
  readonly #timers: Timers;
  readonly #timeoutMs: number;
  readonly #waitingMax: number;
  readonly #ctxPrefix: string;
  readonly #counts: RequestCounts;
  #nextCtx = 1;
  /** This turn's batch, not yet handed to the core. */
  #open: ReadBatch | null = null;
  /** Batches handed to the core, by context. */
  readonly #asked = new Map<string, ReadBatch>();
  /** Batches with an index (confirmed, or lease reads), waiting for lastApplied to reach it. */
  #atIndex: ReadBatch[] = [];
  #waiting = 0;

  constructor(opts: { timers: Timers; timeoutMs: number; waitingMax: number; ctxPrefix: string; counts?: RequestCounts }) {
    this.#counts = opts.counts ?? new RequestCounts();
    this.#timers = opts.timers;
    this.#timeoutMs = opts.timeoutMs;
    this.#waitingMax = opts.waitingMax;
    this.#ctxPrefix = opts.ctxPrefix;
  }

  /** Reads waiting now (every kind). */
  get size(): number {
    return this.#waiting;
  }

  /** True if a batch waits to be handed to the core. */
  get hasOpenBatch(): boolean {
    return this.#open !== null;
  }

  /** read() as a promise. */
  read(): Promise<void> {
    return new Promise((resolve, reject) => this.readThen((error) => (error === null ? resolve() : reject(error))));
  }

  /**
   * Joins this turn's batch (opening one if needed); the driver hands it to the core. `done`
   * is called once: null when the state machine has applied past the confirmed read index,
   * else the failure ("full" at once, before this returns). It runs inside the driver's turn,
   * so it must not throw (an exception there would stop the node as a storage error does) and
   * should do little: settle a promise, answer from the state machine.
   */
  readThen(done: ReadDone): void {
    if (this.#waiting >= this.#waitingMax) {
      return done(new RequestError("full", `too many reads waiting for a read index (${this.#waitingMax}); retry shortly`));
    }
    const batch = this.#open ?? (this.#open = this.#batch(`${this.#ctxPrefix}/${this.#nextCtx++}`, -1));
    batch.done.push(done);
    this.#waiting++;
  }

  /** The open batch's context, now to be asked of the core; null if none. */
  takeOpen(): string | null {
    const batch = this.#open;
    if (batch === null) return null;
    this.#open = null;
    this.#asked.set(batch.ctx!, batch);
    this.#counts.readIndexRounds++;
    return batch.ctx;
  }

  /** The leader confirmed `ctx` at `readIndex`: its reads wait for lastApplied to reach it. */
  confirmed(ctx: string, readIndex: number, lastApplied: number): void {
    const batch = this.#asked.get(ctx);
    if (batch === undefined) return;
    this.#asked.delete(ctx);
    batch.index = readIndex;
    if (readIndex <= lastApplied) return this.#settle(batch, null);
    this.#atIndex.push(batch);
  }

  /** `ctx` cannot be confirmed (no leader, leadership lost): its reads fail, unserved. */
  dropped(ctx: string): void {
    const batch = this.#asked.get(ctx);
    if (batch === undefined) return;
    this.#asked.delete(ctx);
    this.#counts.readIndexFailed++;
    this.#settle(batch, new RequestError("noLeader", "no leader to confirm the read; retry later"));
  }

  /** atIndexThen() as a promise. */
  atIndex(index: number): Promise<void> {
    return new Promise((resolve, reject) => this.atIndexThen(index, (error) => (error === null ? resolve() : reject(error))));
  }

  /** Calls `done` once lastApplied reaches `index` (a lease read whose state is behind). */
  atIndexThen(index: number, done: ReadDone): void {
    if (this.#waiting >= this.#waitingMax) {
      return done(new RequestError("full", `too many reads waiting (${this.#waitingMax}); retry shortly`));
    }
    const batch = this.#batch(null, index);
    batch.done.push(done);
    this.#waiting++;
    this.#atIndex.push(batch);
  }

  /** The state machine reached `lastApplied`: serve every read waiting at or below it. */
  applied(lastApplied: number): void {
    if (this.#atIndex.length === 0) return;
    const due = this.#atIndex.filter((b) => b.index <= lastApplied);
    if (due.length === 0) return;
    this.#atIndex = this.#atIndex.filter((b) => b.index > lastApplied);
    for (const batch of due) this.#settle(batch, null);
  }

  /** Fails every read (the node stopped). */
  failAll(message: string): void {
    const error = new RequestError("noLeader", message);
    const all = [...(this.#open === null ? [] : [this.#open]), ...this.#asked.values(), ...this.#atIndex];
    this.#open = null;
    this.#asked.clear();
    this.#atIndex = [];
    for (const batch of all) this.#settle(batch, error);
  }

  #batch(ctx: string | null, index: number): ReadBatch {
    const batch: ReadBatch = { ctx, done: [], index, timer: null };
    batch.timer = this.#timers.setTimeout(() => this.#expire(batch), this.#timeoutMs);
    return batch;
  }

  /** The batch's timeout: wherever it waits, its reads fail. */
  #expire(batch: ReadBatch): void {
    if (this.#open === batch) this.#open = null;
    // Asked of the core and never confirmed in time: a failed round (an open one never left).
    else if (batch.ctx !== null && this.#asked.delete(batch.ctx)) this.#counts.readIndexFailed++;
    else {
      const at = this.#atIndex.indexOf(batch);
      if (at < 0) return; // settled already
      this.#atIndex.splice(at, 1);
    }
    batch.timer = null;
    this.#settle(batch, new RequestError("timeout", `read timed out after ${this.#timeoutMs} ms`));
  }

  /** Every read of `batch` learns its outcome (ReadDone callbacks never throw: see readThen). */
  #settle(batch: ReadBatch, error: RequestError | null): void {
    if (batch.timer !== null) this.#timers.clearTimeout(batch.timer);
    batch.timer = null;
    this.#waiting -= batch.done.length;
    for (const done of batch.done) done(error);
  }
}
