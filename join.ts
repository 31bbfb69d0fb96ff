// Joining a cluster at start (-join): ask any member's HTTP API to add this node. Retries
// with backoff while the cluster cannot take it (no leader, another change in flight),
// and gives up with a clear message after a bounded time.

import type { Logger } from "./raft/host.ts";

/** What joinCluster needs. */
export interface JoinOptions {
  /** HTTP address of any member, as given to -join (":11000" means this host). */
  readonly joinAddr: string;
  readonly id: string;
  readonly raftAddr: string;
  readonly log: Logger;
  /** Give up after this long; default 60 s. */
  readonly deadlineMs?: number;
}

/** The URL of a member's /join for an address in hraftd's forms. */
export function joinUrl(joinAddr: string): string {
  const base = /^https?:\/\//.test(joinAddr) ? joinAddr : `http://${joinAddr.startsWith(":") ? `localhost${joinAddr}` : joinAddr}`;
  return `${base.replace(/\/+$/, "")}/join`;
}

/** Posts the join until it succeeds; throws (with the last reason) once the deadline passes. */
export async function joinCluster(opts: JoinOptions): Promise<void> {
  const url = joinUrl(opts.joinAddr);
  const deadline = performance.now() + (opts.deadlineMs ?? 60_000);
  let delayMs = 100;
  let lastReason = "";
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: opts.id, addr: opts.raftAddr }),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      if (res.ok) {
        opts.log.info(`joined the cluster through ${opts.joinAddr}`);
        return;
      }
      lastReason = `${res.status} ${text.trim()}`;
      // A request the member refuses for its content will not succeed by retrying.
      if (res.status >= 400 && res.status < 500) {
        throw new Error(`join through ${opts.joinAddr} refused: ${lastReason}`);
      }
    } catch (e) {
      if (e instanceof Error && e.message.startsWith("join through")) throw e;
      lastReason = e instanceof Error ? e.message : String(e);
    }
    if (performance.now() + delayMs > deadline) {
      throw new Error(`could not join the cluster through ${opts.joinAddr} after ${attempt} attempts: ${lastReason}`);
    }
    if (attempt === 1 || attempt % 5 === 0) opts.log.warn(`join through ${opts.joinAddr} not yet accepted (${lastReason}); retrying`);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, 2000);
  }
}
