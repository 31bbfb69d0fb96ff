// Joining a cluster at start (-join): ask any member's HTTP API to add this node. Retries
// with backoff while the cluster cannot take it (no leader, another change in flight),
// and gives up with a clear message after a bounded time.

import { hostProblem, parseHostPort } from "./address.ts";
import type { Clock, Logger, Timers } from "./raft/host.ts";
import { realClock, realTimers } from "./raft/real_time.ts";

/** How long -join keeps trying by default (-join-timeout): a leader election or two. */
export const joinTimeoutMsDefault = 30_000;
/** Longest wait for one answer: a member that accepted the connection but never replies. */
const attemptTimeoutMsMax = 15_000;
/** Shortest wait for one answer, even for the last attempt at the deadline. */
const attemptTimeoutMsMin = 1_000;

/**
 * A member refused the join for its content (a 4xx: a duplicate id, an address in use, a
 * bad request); retrying the same request cannot succeed, so joinCluster stops at once.
 */
export class JoinRefusedError extends Error {
  override readonly name = "JoinRefusedError";
}

/** What joinCluster needs. */
export interface JoinOptions {
  /** HTTP address of any member, as given to -join (":11000" means this host). */
  readonly joinAddr: string;
  readonly id: string;
  readonly raftAddr: string;
  readonly log: Logger;
  /** Give up after this long; default joinTimeoutMsDefault. */
  readonly deadlineMs?: number;
  /** Time and timers of the retries; the host's by default. */
  readonly clock?: Clock;
  readonly timers?: Timers;
}

/**
 * Why `joinAddr` (-join) cannot name a member's HTTP API, or null if it can: "host:port",
 * ":port" (this host), or an http:// or https:// URL.
 */
export function joinAddressProblem(joinAddr: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(joinAddr)) {
    let url: URL;
    try {
      url = new URL(joinAddr);
    } catch {
      return `${JSON.stringify(joinAddr)} is not a valid URL`;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return `${joinAddr}: only http:// and https:// are supported`;
    return null;
  }
  try {
    const { host, port } = parseHostPort(joinAddr);
    const bad = host === "" ? null : hostProblem(host);
    if (bad !== null) return `address ${joinAddr}: ${bad}`;
    if (port === 0) return `address ${joinAddr}: port 0 cannot be dialled`;
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The URL of a member's /join for an address in hraftd's forms. */
export function joinUrl(joinAddr: string): string {
  const base = /^https?:\/\//.test(joinAddr) ? joinAddr : `http://${joinAddr.startsWith(":") ? `localhost${joinAddr}` : joinAddr}`;
  return `${base.replace(/\/+$/, "")}/join`;
}

/** Posts the join until it succeeds; throws (with the last reason) once the deadline passes. */
export async function joinCluster(opts: JoinOptions): Promise<void> {
  const url = joinUrl(opts.joinAddr);
  const clock = opts.clock ?? realClock;
  const timers = opts.timers ?? realTimers;
  const deadline = clock.now() + (opts.deadlineMs ?? joinTimeoutMsDefault);
  let delayMs = 100;
  let lastReason = "";
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: opts.id, addr: opts.raftAddr }),
        // Never past the deadline: a member that never answers must not hold the start.
        signal: AbortSignal.timeout(Math.max(attemptTimeoutMsMin, Math.min(attemptTimeoutMsMax, deadline - clock.now()))),
      });
      const text = await res.text();
      if (res.ok) {
        opts.log.info(`joined the cluster through ${opts.joinAddr}`);
        return;
      }
      // One line, whatever the member wrote: it ends up in a one-line start error.
      lastReason = `${res.status} ${text.trim().replace(/\s+/g, " ").slice(0, 500)}`;
      // A request the member refuses for its content will not succeed by retrying.
      if (res.status >= 400 && res.status < 500) {
        throw new JoinRefusedError(`join through ${opts.joinAddr} refused: ${lastReason}`);
      }
    } catch (e) {
      if (e instanceof JoinRefusedError) throw e;
      lastReason = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ");
    }
    const leftMs = deadline - clock.now();
    if (leftMs <= 0) {
      const waited = (opts.deadlineMs ?? joinTimeoutMsDefault) / 1000;
      throw new Error(
        `could not join the cluster through ${opts.joinAddr} within ${waited}s (${attempt} attempts; last: ${lastReason}); ` +
          `check that a member serves HTTP there (-join-timeout sets how long to keep trying)`,
      );
    }
    if (attempt === 1 || attempt % 5 === 0) opts.log.warn(`join through ${opts.joinAddr} not yet accepted (${lastReason}); retrying`);
    // The last pause ends at the deadline, for one last attempt there.
    await new Promise<void>((resolve) => timers.setTimeout(resolve, Math.min(delayMs, leftMs)));
    delayMs = Math.min(delayMs * 2, 2000);
  }
}
