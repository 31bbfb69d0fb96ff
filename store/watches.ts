// Watching (issue 16 item 5) on top of the change feed (./change_feed.ts): streams of changes
// for GET /watch, and the waits of blocking reads (GET /key/<k>?wait=&index=, and the same on
// a listing), as Consul's blocking queries. Both are served by any node from its own applied
// changes: a log index names the same change on every node, so a watcher may resume on
// another node where it left off.

import type { Timers } from "../raft/host.ts";
import type { Change, ChangeFeed, ChangeListener } from "./change_feed.ts";
import { StoreError } from "./errors.ts";

/**
 * A watcher's stream is sent a comment this often: Bun's server closes a connection that
 * sends nothing for 10 s (its idleTimeout), streaming or not.
 */
export const watchKeepaliveMs = 5_000;
/** Watches and blocking reads at once on a node; the next is answered 503 (every queue clients can fill is bounded). */
export const watchersMax = 10_000;

/** Where a watch's changes go. */
export interface WatchSink {
  /** A change after the watch's starting index, in index order; changes of one entry back to back. */
  change(change: Change): void;
  /** Every watchKeepaliveMs while the watch is open. */
  keepalive(): void;
  /** The watch ended on its own (the state was replaced by a snapshot): the client resumes. */
  end(reason: string): void;
}

/** A watch that started (`from`: it sends the changes after that index), or the history not reaching back (`gone`). */
export type WatchResult =
  | { readonly type: "watching"; readonly from: number; close(): void }
  | { readonly type: "gone"; readonly start: number };

export interface WatchesOptions {
  readonly feed: ChangeFeed;
  /** The applied index of the state now. */
  readonly applied: () => number;
  readonly timers: Timers;
}

export class Watches {
  readonly #o: WatchesOptions;

  constructor(options: WatchesOptions) {
    this.#o = options;
  }

  /**
   * Sends `sink` every change of a key starting with `prefix` after index `after` (null: after
   * the applied index now): first those the history holds, synchronously, then each as it is
   * applied. `gone` if the history does not reach back to `after` (after a restart, or more
   * changes since than it keeps); the client lists again and watches from that listing's index.
   */
  watch(prefix: string, after: number | null, sink: WatchSink): WatchResult {
    const feed = this.#o.feed;
    this.#checkRoom();
    const applied = this.#o.applied();
    feed.arm(applied);
    const from = after ?? applied;
    const replay = feed.since(from, prefix);
    if (replay === null) return { type: "gone", start: feed.start ?? applied };
    let isOpen = true;
    let timer: unknown = null;
    const close = (): void => {
      if (!isOpen) return;
      isOpen = false;
      feed.unsubscribe(listener);
      if (timer !== null) this.#o.timers.clearTimeout(timer);
    };
    const listener: ChangeListener = {
      // A node behind `from` (a watcher resumed here from a node further ahead) skips what the client has.
      onChange: (c) => {
        if (c.index > from && c.key.startsWith(prefix)) sink.change(c);
      },
      onReset: () => {
        close();
        sink.end("the state was replaced by a snapshot from the leader: resume with Last-Event-ID to learn whether changes were missed");
      },
    };
    const beat = (): void => {
      timer = this.#o.timers.setTimeout(() => {
        if (!isOpen) return;
        sink.keepalive();
        beat();
      }, watchKeepaliveMs);
    };
    for (const change of replay) sink.change(change);
    feed.subscribe(listener);
    beat();
    return { type: "watching", from, close };
  }

  /**
   * Resolves once a key starting with `prefix` (with `exact`, the key `prefix` itself) changes
   * at an index above `index`, or after `waitMs`; at once if such a change is already applied,
   * or if the history does not reach back to `index` (it cannot tell: the client's read then
   * answers with the current index, and its next wait is from there). Also resolves when
   * `signal` aborts: the client left, and its wait must not hold a place among watchersMax for
   * the rest of a wait of minutes. Never rejects after starting to wait: the caller reads at
   * its level once this resolves.
   */
  waitForChange(prefix: string, exact: boolean, index: number, waitMs: number, signal?: AbortSignal): Promise<void> {
    const feed = this.#o.feed;
    feed.arm(this.#o.applied());
    const matches = (c: Change): boolean => c.index > index && (exact ? c.key === prefix : c.key.startsWith(prefix));
    const known = feed.since(index, prefix);
    if (known === null || known.some(matches) || signal?.aborted === true) return Promise.resolve();
    this.#checkRoom();
    return new Promise<void>((resolve) => {
      let isDone = false;
      let timer: unknown = null;
      const done = (): void => {
        if (isDone) return;
        isDone = true;
        feed.unsubscribe(listener);
        if (timer !== null) this.#o.timers.clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      signal?.addEventListener("abort", done);
      const listener: ChangeListener = {
        onChange: (c) => {
          if (matches(c)) done();
        },
        onReset: done,
      };
      feed.subscribe(listener);
      timer = this.#o.timers.setTimeout(done, waitMs);
    });
  }

  #checkRoom(): void {
    if (this.#o.feed.listeners >= watchersMax) {
      throw new StoreError("unavailable", `this node already serves ${watchersMax} watches and blocking reads; retry later or on another node`);
    }
  }
}
