// Goal: a blocking read's wait (store/watches.ts waitForChange) ends when its client leaves
// (the request's AbortSignal): waits now last up to minutes (issue 16 item 5), and a wait whose
// client is gone must not hold its place among the node's watchersMax until its timer fires.
// An already aborted signal does not start a wait at all.
// Method: the production Watches on the production ChangeFeed, with timers held by the test
// (the wait's own timer never fires here, so only the abort can end it).

import { expect, test } from "bun:test";
import type { Timers } from "../../../raft/host.ts";
import { ChangeFeed } from "../../../store/change_feed.ts";
import { Watches } from "../../../store/watches.ts";

function held(): Timers & { readonly pending: Set<unknown> } {
  const pending = new Set<unknown>();
  return {
    pending,
    setTimeout: (fn) => {
      pending.add(fn);
      return fn;
    },
    clearTimeout: (handle) => void pending.delete(handle),
  };
}

test("a wait ends when its client aborts: its listener and timer are gone", async () => {
  const feed = new ChangeFeed();
  const timers = held();
  const watches = new Watches({ feed, applied: () => 5, timers });
  const client = new AbortController();
  let isDone = false;
  const wait = watches.waitForChange("k", true, 5, 300_000, client.signal).then(() => (isDone = true));
  const other = watches.waitForChange("k", true, 5, 300_000);
  expect([feed.listeners, timers.pending.size]).toEqual([2, 2]);
  await Promise.resolve();
  expect(isDone).toBe(false);
  client.abort();
  await wait;
  expect([isDone, feed.listeners, timers.pending.size]).toEqual([true, 1, 1]);
  // The other wait, without a signal, still waits for a change.
  feed.record(6, "k", "v");
  await other;
  expect([feed.listeners, timers.pending.size]).toEqual([0, 0]);
});

test("an already aborted signal answers at once, without waiting", async () => {
  const feed = new ChangeFeed();
  const timers = held();
  const watches = new Watches({ feed, applied: () => 5, timers });
  const gone = new AbortController();
  gone.abort();
  await watches.waitForChange("k", true, 5, 300_000, gone.signal);
  expect([feed.listeners, timers.pending.size]).toEqual([0, 0]);
});
