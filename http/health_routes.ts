// The health routes of the operator's surface (issue 15): the probes a load balancer or an
// orchestrator calls, with Kubernetes' and etcd's conventions.
// - GET /livez: 200 whenever the process serves HTTP. It never needs a quorum, so a
//   partition never gets a healthy node restarted.
// - GET /readyz: 200 only when the node's checks pass (store/api.ts HealthReport: a leader is
//   known, storage is healthy, the node is a member), else 503; `?sync` adds one ReadIndex
//   round (this node has applied the leader's commit index of the moment, waiting at most
//   `timeout=`, default 3s); `?noleader` (or `exclude=leader`) skips the leader check;
//   `?verbose` lists every check as `[+]leader ok` / `[-]leader failed: reason`, then
//   "readyz check passed|failed". A failure always lists them, as Kubernetes does.
// HEAD answers like GET without a body (Hono does this for GET routes). No route here names
// a permission: with -auth, probes need no credentials, so load balancers can call them.

import type { StoreApi } from "../store/api.ts";
import { HttpError, jsonError } from "./errors.ts";
import type { OpsDeps } from "./ops_deps.ts";
import type { Route } from "./routes.ts";

/** How long `?sync` waits when the request gives no `timeout=`. */
export const syncTimeoutMsDefault = 3_000;
/** The longest `timeout=` accepted (a probe that waits longer is misconfigured). */
export const syncTimeoutMsMax = 60_000;

const textHeaders: Readonly<Record<string, string>> = {
  "content-type": "text/plain; charset=utf-8",
  // A probe's answer is about this instant: no cache may keep it.
  "cache-control": "no-store",
};

/** One line of a verbose answer. */
interface CheckLine {
  readonly name: string;
  readonly ok: boolean;
  readonly reason?: string;
  readonly excluded?: boolean;
}

/**
 * A `timeout=` value: a Go-style duration of one unit (`500ms`, `2s`, `1.5s`, `1m`), or a
 * bare number of seconds (Kubernetes takes both). Throws HttpError 400 naming the value.
 */
export function parseProbeTimeout(text: string | null): number {
  if (text === null || text === "") return syncTimeoutMsDefault;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  const ms = m === null ? NaN : Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1000);
  if (!(ms > 0 && ms <= syncTimeoutMsMax)) {
    throw new HttpError(
      400,
      `invalid timeout ${JSON.stringify(text)}: give a duration such as 500ms or 2s, at most ${syncTimeoutMsMax / 1000}s`,
    );
  }
  return Math.ceil(ms);
}

/** `?name` given and not set to "false" or "0" (so `?sync`, `?sync=true`, `?sync=1` all ask). */
function isAsked(params: URLSearchParams, name: string): boolean {
  const v = params.get(name);
  return v !== null && v !== "false" && v !== "0";
}

/** The probe's text answer: the list (verbose or failed), then the verdict line. */
function probeAnswer(probe: string, lines: readonly CheckLine[], verbose: boolean): Response {
  const isOk = lines.every((l) => l.ok || l.excluded === true);
  let body = "ok\n";
  if (verbose || !isOk) {
    const listed = lines.map((l) =>
      l.excluded === true ? `[+]${l.name} excluded: ok` : l.ok ? `[+]${l.name} ok` : `[-]${l.name} failed: ${l.reason ?? "failed"}`
    );
    body = `${listed.join("\n")}\n${probe} check ${isOk ? "passed" : "failed"}\n`;
  }
  return new Response(body, { status: isOk ? 200 : 503, headers: textHeaders });
}

/** GET /readyz: the store's checks, the sync round if asked, the answer. */
async function readyz(store: StoreApi, request: Request): Promise<Response> {
  const params = new URL(request.url).searchParams;
  const excluded = new Set(params.getAll("exclude"));
  if (isAsked(params, "noleader")) excluded.add("leader");
  const wantsSync = isAsked(params, "sync") && !excluded.has("sync");
  const timeoutMs = wantsSync ? parseProbeTimeout(params.get("timeout")) : 0;
  const report = store.health?.() ?? { ready: true, checks: {} };
  const lines: CheckLine[] = Object.entries(report.checks).map(([name, c]) => ({
    name,
    ok: c.ok,
    ...(c.reason === undefined ? {} : { reason: c.reason }),
    ...(excluded.has(name) ? { excluded: true } : {}),
  }));
  if (wantsSync) lines.push(await syncCheck(store, timeoutMs));
  return probeAnswer("readyz", lines, isAsked(params, "verbose"));
}

/** The `sync` check: one ReadIndex round, bounded by `timeoutMs`. */
async function syncCheck(store: StoreApi, timeoutMs: number): Promise<CheckLine> {
  if (store.syncWithLeader === undefined) return { name: "sync", ok: false, reason: "this store cannot sync with the leader" };
  try {
    await store.syncWithLeader(timeoutMs);
    return { name: "sync", ok: true };
  } catch (e) {
    return { name: "sync", ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

/** The health routes: /livez and /readyz, GET and HEAD; other methods 405. */
export function healthRoutes(store: StoreApi, _ops: OpsDeps, _bodyBytesMax: number): readonly Route[] {
  const notAllowed = (): Response => jsonError(405, "method not allowed", { headers: { allow: "GET, HEAD" } });
  return [
    {
      methods: ["GET"],
      path: "/livez",
      handle: (request) => probeAnswer("livez", [{ name: "ping", ok: true }], isAsked(new URL(request.url).searchParams, "verbose")),
    },
    { methods: ["ALL"], path: "/livez", handle: notAllowed },
    { methods: ["GET"], path: "/readyz", handle: (request) => readyz(store, request) },
    { methods: ["ALL"], path: "/readyz", handle: notAllowed },
  ];
}
