// The rare events of a node's life that the cluster view (GET /ui) draws as a timeline:
// elections and leader changes, step-downs, membership changes, snapshots. Each node keeps its
// own, in a ring of bounded size, fed by the driver's events (view/timeline_feed.ts); nothing
// here runs per request.

import type { UiTimelineEvent } from "../ui/view_types.ts";

/**
 * One event, as the page's contract (ui/view_types.ts) has it: `at` wall-clock ms on the node
 * that recorded it; `node` the node it is about (the new leader, the one stepping down, this node
 * for snapshots); `durationMs` how long it took (an election: the time without a leader), or null.
 */
export type TimelineEvent = UiTimelineEvent;
export type TimelineKind = UiTimelineEvent["kind"];

/** Events kept per node: enough for a page's scroll-back, small enough to send every second. */
export const timelineEventsMax = 200;

/** A ring of the newest `capacity` events, oldest first when read. */
export class Timeline {
  readonly #capacity: number;
  readonly #ring: TimelineEvent[] = [];
  /** Slot of the oldest event once the ring is full. */
  #head = 0;
  readonly #listeners = new Set<(event: TimelineEvent) => void>();

  constructor(capacity = timelineEventsMax) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`timeline capacity must be a positive integer, not ${capacity}`);
    this.#capacity = capacity;
  }

  add(event: TimelineEvent): void {
    if (this.#ring.length < this.#capacity) this.#ring.push(event);
    else {
      this.#ring[this.#head] = event;
      this.#head = (this.#head + 1) % this.#capacity;
    }
    for (const listener of this.#listeners) listener(event);
  }

  /** The events held, oldest first. */
  events(): TimelineEvent[] {
    return [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
  }

  get size(): number {
    return this.#ring.length;
  }

  /** `listener` hears each event as it is added (a watching page is told at once); returns the unsubscribe. */
  listen(listener: (event: TimelineEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
