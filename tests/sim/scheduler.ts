// The simulator's only clock: a discrete-event queue ordered by (time, seq), so events at the
// same instant run in the order they were scheduled and every run of a seed is identical.

/** Handle of a scheduled event, for cancel(). */
export type EventId = number;

interface Event {
  readonly time: number;
  readonly seq: number;
  readonly run: () => void;
}

/** A binary min-heap of events; time is in simulated milliseconds. */
export class Scheduler {
  #now = 0;
  #seq = 0;
  #heap: Event[] = [];
  #cancelled = new Set<EventId>();
  /** Events run so far (a cheap step counter for budgets and logs). */
  steps = 0;

  /** Current simulated time. Invariant: never decreases. */
  get now(): number {
    return this.#now;
  }

  /** Runs `run` after `delay` ms (≥ 0) of simulated time. */
  schedule(delay: number, run: () => void): EventId {
    if (!(delay >= 0) || !Number.isFinite(delay)) throw new Error(`bad delay ${delay}`);
    const ev: Event = { time: this.#now + delay, seq: this.#seq++, run };
    this.#push(ev);
    return ev.seq;
  }

  cancel(id: EventId): void {
    this.#cancelled.add(id);
  }

  /** Number of queued events (including cancelled ones not yet popped). */
  get pending(): number {
    return this.#heap.length;
  }

  /** Runs the next event; false when the queue is empty. */
  runOne(): boolean {
    for (;;) {
      const ev = this.#pop();
      if (ev === undefined) return false;
      if (this.#cancelled.delete(ev.seq)) continue;
      this.#now = ev.time;
      this.steps++;
      ev.run();
      return true;
    }
  }

  /** Time of the next event, or Infinity. */
  peekTime(): number {
    return this.#heap[0]?.time ?? Infinity;
  }

  /** Runs events until simulated time would pass `time` (the clock is then set to `time`). */
  runUntil(time: number, afterEach?: () => void): void {
    while (this.peekTime() <= time) {
      if (this.runOne()) afterEach?.();
    }
    if (time > this.#now) this.#now = time;
  }

  #less(a: Event, b: Event): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  #push(ev: Event): void {
    const h = this.#heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): Event | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || last === undefined) return top;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }
}
