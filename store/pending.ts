// Pending-request registry: requests waiting for Raft (a proposal to be applied, a read index
// to be reached), keyed by request id or log position, each completed exactly once.

import type { Timers } from "../raft/host.ts";
import { realTimers } from "../raft/real_time.ts";
import { StoreError } from "./errors.ts";

/** Completion callback: exactly one of `error` and `value` is meaningful. */
export type PendingDone<T> = (error: StoreError | null, value: T | undefined) => void;

/** Limits and seams of a PendingRegistry. */
export interface PendingOptions {
  /** How long a request may wait before it completes with a timeout error. */
  readonly timeoutMs: number;
  /** Requests waiting at once; one more is refused with StoreError("unavailable"). */
  readonly pendingMax?: number;
  /**
   * The error code a timeout completes with. "outcomeUnknown" (the default) suits proposals:
   * the entry may still commit, so the client must be told we do not know. "timeout" suits
   * requests that changed nothing (reads).
   */
  readonly timeoutCode?: "outcomeUnknown" | "timeout";
  /** The timer seam: the real one by default, a manual clock in tests (no sleeping). */
  readonly timers?: Timers;
}

/** Default bound on waiting requests per registry. */
export const pendingMaxDefault = 65_536;

interface Waiter<T> {
  readonly done: PendingDone<T>;
  readonly timer: unknown;
}

/** The key of a proposal by its log position: index and term identify an entry (§5.3). */
export function entryKey(index: number, term: number): string {
  return `${index}:${term}`;
}

/**
 * A bounded map from key to completion. Each request completes once: by resolve, reject,
 * its timeout, or failAll (leadership lost). A timeout never retries anything: for a write
 * it reports "outcome unknown", since the entry may yet commit.
 */
export class PendingRegistry<K, T> {
  readonly #waiters = new Map<K, Waiter<T>>();
  readonly #timeoutMs: number;
  readonly #pendingMax: number;
  readonly #timeoutCode: "outcomeUnknown" | "timeout";
  readonly #timers: Timers;

  constructor(options: PendingOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive: ${options.timeoutMs}`);
    this.#timeoutMs = options.timeoutMs;
    this.#pendingMax = options.pendingMax ?? pendingMaxDefault;
    this.#timeoutCode = options.timeoutCode ?? "outcomeUnknown";
    this.#timers = options.timers ?? realTimers;
  }

  /** Requests waiting now. */
  get size(): number {
    return this.#waiters.size;
  }

  has(key: K): boolean {
    return this.#waiters.has(key);
  }

  /** Keys waiting now, oldest first (for callers that match keys to applied entries). */
  keys(): IterableIterator<K> {
    return this.#waiters.keys();
  }

  /**
   * Registers `done` under `key` and starts its timeout. Throws StoreError("unavailable") when
   * full, and Error for a key already waiting (two requests cannot share a log position).
   */
  add(key: K, done: PendingDone<T>): void {
    if (this.#waiters.has(key)) throw new Error(`PendingRegistry: key ${String(key)} already waiting`);
    if (this.#waiters.size >= this.#pendingMax) {
      throw new StoreError("unavailable", `too many requests waiting (${this.#pendingMax})`);
    }
    const timer = this.#timers.setTimeout(() => this.#expire(key), this.#timeoutMs);
    this.#waiters.set(key, { done, timer });
  }

  /** add() as a promise: resolves with the value, rejects with a StoreError. */
  wait(key: K): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.add(key, (error, value) => {
        if (error !== null) reject(error);
        else resolve(value as T);
      });
    });
  }

  /** Completes `key` with `value`. Returns false if nothing was waiting under it. */
  resolve(key: K, value: T): boolean {
    const waiter = this.#take(key);
    if (waiter === undefined) return false;
    waiter.done(null, value);
    return true;
  }

  /** Completes `key` with `error`. Returns false if nothing was waiting under it. */
  reject(key: K, error: StoreError): boolean {
    const waiter = this.#take(key);
    if (waiter === undefined) return false;
    waiter.done(error, undefined);
    return true;
  }

  /** Completes every waiting request with `error` (leadership lost, shutdown); returns how many. */
  failAll(error: StoreError): number {
    const waiters = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const waiter of waiters) this.#timers.clearTimeout(waiter.timer);
    // Completions run after the registry is empty, so a callback that adds anew is not failed.
    for (const waiter of waiters) waiter.done(error, undefined);
    return waiters.length;
  }

  #take(key: K): Waiter<T> | undefined {
    const waiter = this.#waiters.get(key);
    if (waiter === undefined) return undefined;
    this.#waiters.delete(key);
    this.#timers.clearTimeout(waiter.timer);
    return waiter;
  }

  #expire(key: K): void {
    const waiter = this.#waiters.get(key);
    if (waiter === undefined) return;
    this.#waiters.delete(key);
    const message =
      this.#timeoutCode === "outcomeUnknown"
        ? `timed out after ${this.#timeoutMs} ms; the outcome is unknown (the write may or may not be applied)`
        : `timed out after ${this.#timeoutMs} ms`;
    waiter.done(new StoreError(this.#timeoutCode, message), undefined);
  }
}
