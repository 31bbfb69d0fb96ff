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
  readonly timer: unknown;
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
      const waiter: Waiter<unknown> = {
        resolve,
        reject,
        timer: this.#timers.setTimeout(() => this.#expire(index, waiter), this.#timeoutMs),
      };
      slot.waiters.push(waiter);
      this.#count++;
      this.#counts.proposalsPending++;
    });
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
      this.#timers.clearTimeout(w.timer);
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

/** Linearizable reads that share one ReadIndex request (those arriving in one driver turn). */
interface ReadBatch {
  readonly ctx: string;
  readonly waiters: Waiter<void>[];
}

/**
 * Reads waiting for a read index (§6.4) or for the state machine to reach an index. Reads of
 * one turn share a ReadIndex request; every context carries the process incarnation, so a reply
 * to a read of an earlier process of this node matches nothing here.
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
  /** Waiters for an index (confirmed batches and lease reads), served in order of index. */
  #atIndex: { index: number; waiter: Waiter<void> }[] = [];
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

  /** Joins this turn's batch (opening one if needed); the driver hands it to the core. */
  read(): Promise<void> {
    if (this.#waiting >= this.#waitingMax) {
      return Promise.reject(new RequestError("full", `too many reads waiting for a read index (${this.#waitingMax}); retry shortly`));
    }
    const batch = this.#open ?? (this.#open = { ctx: `${this.#ctxPrefix}/${this.#nextCtx++}`, waiters: [] });
    return this.#add(batch.waiters, () => this.#forget(batch));
  }

  /** The open batch's context, now to be asked of the core; null if none. */
  takeOpen(): string | null {
    const batch = this.#open;
    if (batch === null) return null;
    this.#open = null;
    this.#asked.set(batch.ctx, batch);
    this.#counts.readIndexRounds++;
    return batch.ctx;
  }

  /** The leader confirmed `ctx` at `readIndex`: its reads wait for lastApplied to reach it. */
  confirmed(ctx: string, readIndex: number, lastApplied: number): void {
    const batch = this.#asked.get(ctx);
    if (batch === undefined) return;
    this.#asked.delete(ctx);
    for (const waiter of batch.waiters) this.#atIndex.push({ index: readIndex, waiter });
    this.applied(lastApplied);
  }

  /** `ctx` cannot be confirmed (no leader, leadership lost): its reads fail, unserved. */
  dropped(ctx: string): void {
    const batch = this.#asked.get(ctx);
    if (batch === undefined) return;
    this.#asked.delete(ctx);
    this.#counts.readIndexFailed++;
    for (const w of batch.waiters) this.#fail(w, new RequestError("noLeader", "no leader to confirm the read; retry later"));
  }

  /** Waits until lastApplied reaches `index` (a lease read whose state is behind). */
  atIndex(index: number): Promise<void> {
    if (this.#waiting >= this.#waitingMax) {
      return Promise.reject(new RequestError("full", `too many reads waiting (${this.#waitingMax}); retry shortly`));
    }
    const holder: Waiter<void>[] = [];
    const done = this.#add(holder, () => undefined);
    this.#atIndex.push({ index, waiter: holder[0]! });
    return done;
  }

  /** The state machine reached `lastApplied`: serve every read waiting at or below it. */
  applied(lastApplied: number): void {
    if (this.#atIndex.length === 0) return;
    const still: { index: number; waiter: Waiter<void> }[] = [];
    for (const w of this.#atIndex) {
      if (w.index <= lastApplied) this.#done(w.waiter);
      else still.push(w);
    }
    this.#atIndex = still;
  }

  /** Fails every read (the node stopped). */
  failAll(message: string): void {
    const error = new RequestError("noLeader", message);
    const all = [...(this.#open?.waiters ?? []), ...[...this.#asked.values()].flatMap((b) => b.waiters), ...this.#atIndex.map((w) => w.waiter)];
    this.#open = null;
    this.#asked.clear();
    this.#atIndex = [];
    for (const w of all) this.#fail(w, error);
  }

  #add(into: Waiter<void>[], onTimeout: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter<void> = {
        resolve,
        reject,
        timer: this.#timers.setTimeout(() => {
          if (this.#remove(waiter)) {
            onTimeout();
            this.#fail(waiter, new RequestError("timeout", `read timed out after ${this.#timeoutMs} ms`), false);
          }
        }, this.#timeoutMs),
      };
      into.push(waiter);
      this.#waiting++;
    });
  }

  /** Takes `waiter` out of wherever it waits; false if it is no longer waiting. */
  #remove(waiter: Waiter<void>): boolean {
    const from = (list: Waiter<void>[]): boolean => {
      const at = list.indexOf(waiter);
      if (at < 0) return false;
      list.splice(at, 1);
      return true;
    };
    if (this.#open !== null && from(this.#open.waiters)) return true;
    for (const b of this.#asked.values()) if (from(b.waiters)) return true;
    const at = this.#atIndex.findIndex((w) => w.waiter === waiter);
    if (at < 0) return false;
    this.#atIndex.splice(at, 1);
    return true;
  }

  /** A batch whose every read timed out is not worth asking about any longer. */
  #forget(batch: ReadBatch): void {
    if (batch.waiters.length > 0) return;
    if (this.#open === batch) this.#open = null;
    // Asked of the core and never confirmed in time: a failed round (an open one never left).
    else if (this.#asked.delete(batch.ctx)) this.#counts.readIndexFailed++;
  }

  #done(w: Waiter<void>): void {
    this.#timers.clearTimeout(w.timer);
    this.#waiting--;
    w.resolve();
  }

  #fail(w: Waiter<void>, error: RequestError, clear = true): void {
    if (clear) this.#timers.clearTimeout(w.timer);
    this.#waiting--;
    w.reject(error);
  }
}
