// A clock and timers the test moves by hand, for the cluster view's loops: every timer set is
// counted, so a test can say "no timer while nobody watches".

import type { Clock, Scheduler, Timers } from "../../../raft/host.ts";

export class ManualTime implements Clock, Timers, Scheduler {
  #now = 1_000;
  #next = 1;
  readonly #due = new Map<number, { at: number; fn: () => void }>();
  /** Timers set so far. */
  set = 0;
  readonly #deferred: (() => void)[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    this.set++;
    const id = this.#next++;
    this.#due.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#due.delete(handle as number);
  }

  defer(fn: () => void): void {
    this.#deferred.push(fn);
  }

  /** Timers pending now. */
  get pending(): number {
    return this.#due.size;
  }

  /** Moves time on by `ms`, firing each timer that falls due, in order, and deferred work. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.runDeferred();
      let first: [number, { at: number; fn: () => void }] | null = null;
      for (const entry of this.#due) if (entry[1].at <= end && (first === null || entry[1].at < first[1].at)) first = entry;
      if (first === null) break;
      this.#due.delete(first[0]);
      this.#now = first[1].at;
      first[1].fn();
    }
    this.#now = end;
    this.runDeferred();
  }

  runDeferred(): void {
    while (this.#deferred.length > 0) this.#deferred.shift()!();
  }
}
