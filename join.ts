// Joining a cluster at start (-join): ask any member's HTTP API to add this node. Retries
// with backoff while the cluster cannot take it (no leader, another change in flight),
// and gives up with a clear message after a bounded time. Over HTTPS (-join https://…) it
// verifies the member with the given CA (else the system's), presents this node's client
// certificate when it has one, and sends HTTP Basic credentials for -join-as; the password
// is never logged nor put in an error message.

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

/** HTTPS for the join: what to trust and what to present (PEM text). */
export interface JoinTls {
  /** The CA the member's certificate must chain to (-http-ca-cert); the system's CAs when absent. */
  readonly ca?: string;
  /** This node's certificate and key (-http-cert, -http-key), for a cluster that requires one. */
  readonly cert?: string;
  readonly key?: string;
}

/** HTTP Basic credentials (-join-as, and the password from HRAFTD_JOIN_PASSWORD). */
export interface JoinCredentials {
  readonly user: string;
  readonly password: string;
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
  /** Used only for an https:// address. */
  readonly tls?: JoinTls;
  readonly credentials?: JoinCredentials;
}

/**
 * Codes of a member's certificate that this node does not trust: retrying cannot help (the
 * CA, the name or the dates are wrong), so the join ends at once.
 */
const untrustedServerCodes = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
]);

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
  const isHttps = url.startsWith("https://");
  const requestInit = joinRequestInit(isHttps, opts);
  const clock = opts.clock ?? realClock;
  const timers = opts.timers ?? realTimers;
  const deadline = clock.now() + (opts.deadlineMs ?? joinTimeoutMsDefault);
  let delayMs = 100;
  let lastReason = "";
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url, {
        ...requestInit,
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
        throw new JoinRefusedError(`join through ${opts.joinAddr} refused: ${lastReason}${refusalHint(res.status, opts)}`);
      }
    } catch (e) {
      if (e instanceof JoinRefusedError) throw e;
      lastReason = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ");
      const code = (e as { code?: unknown } | null)?.code;
      if (typeof code === "string" && untrustedServerCodes.has(code)) {
        throw new JoinRefusedError(
          `join through ${opts.joinAddr}: the member's certificate is not trusted (${code}: ${lastReason}); ` +
            (opts.tls?.ca === undefined ? "give -http-ca-cert, the CA that signs the cluster's HTTPS certificates" : "check -http-ca-cert and the host name in -join"),
        );
      }
    }
    const leftMs = deadline - clock.now();
    if (leftMs <= 0) {
      const waited = (opts.deadlineMs ?? joinTimeoutMsDefault) / 1000;
      throw new Error(
        `could not join the cluster through ${opts.joinAddr} within ${waited}s (${attempt} attempts; last: ${lastReason}); ` +
          `check that a member serves ${isHttps ? "HTTPS" : "HTTP"} there${tlsHint(isHttps, opts)} (-join-timeout sets how long to keep trying)`,
      );
    }
    if (attempt === 1 || attempt % 5 === 0) opts.log.warn(`join through ${opts.joinAddr} not yet accepted (${lastReason}); retrying`);
    // The last pause ends at the deadline, for one last attempt there.
    await new Promise<void>((resolve) => timers.setTimeout(resolve, Math.min(delayMs, leftMs)));
    delayMs = Math.min(delayMs * 2, 2000);
  }
}

/** The request's method, headers and TLS options: the same for every attempt. */
function joinRequestInit(isHttps: boolean, opts: JoinOptions): RequestInit {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.credentials !== undefined) {
    const { user, password } = opts.credentials;
    headers["authorization"] = `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;
  }
  const init: RequestInit = { method: "POST", headers };
  if (!isHttps || opts.tls === undefined) return init;
  const { ca, cert, key } = opts.tls;
  const deno = (globalThis as { Deno?: DenoHttpClients }).Deno;
  if (deno !== undefined && (globalThis as { Bun?: unknown }).Bun === undefined) {
    // Deno's fetch takes its TLS settings from a client object.
    const client = deno.createHttpClient({
      ...(ca === undefined ? {} : { caCerts: [ca] }),
      ...(cert === undefined || key === undefined ? {} : { cert, key }),
    });
    return { ...init, client } as RequestInit;
  }
  // Bun's fetch: `tls` (the system's CAs unless `ca` is given).
  return {
    ...init,
    tls: { ...(ca === undefined ? {} : { ca }), ...(cert === undefined || key === undefined ? {} : { cert, key }) },
  } as RequestInit;
}

/** The slice of Deno's API used for HTTPS with a CA and a client certificate. */
interface DenoHttpClients {
  createHttpClient(options: { caCerts?: string[]; cert?: string; key?: string }): unknown;
}

/** What a 401 or 403 from the member means for this node's flags. */
function refusalHint(status: number, opts: JoinOptions): string {
  if (status === 401) {
    return opts.credentials === undefined
      ? " (the cluster requires credentials: give -join-as USER with the password in HRAFTD_JOIN_PASSWORD)"
      : ` (check the password of -join-as ${JSON.stringify(opts.credentials.user)} in HRAFTD_JOIN_PASSWORD)`;
  }
  if (status === 403) {
    return opts.credentials === undefined
      ? " (clients without credentials may not join: give -join-as USER with the password in HRAFTD_JOIN_PASSWORD)"
      : ` (user ${JSON.stringify(opts.credentials.user)} lacks the join permission)`;
  }
  return "";
}

/** Why a connection to the member may keep failing, when TLS is involved. */
function tlsHint(isHttps: boolean, opts: JoinOptions): string {
  if (!isHttps) {
    return opts.tls === undefined ? "" : " (if the cluster serves HTTPS, give -join https://host:port)";
  }
  return opts.tls?.cert === undefined
    ? " and does not require client certificates (this node has no -http-cert and -http-key to present)"
    : " and accepts this node's client certificate (-http-cert, signed by the cluster's -http-ca-cert)";
}
