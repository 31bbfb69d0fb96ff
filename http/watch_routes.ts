// Watching (issue 16 item 5), over HTTP:
// - GET /watch?prefix=p: the changes of keys starting with p as Server-Sent Events, one event
//   per log entry (id: its log index; one `data:` line of JSON per key it changed:
//   {"key","value","version"} or {"key","deleted":true,"version"}). Resumable: a client that
//   reconnects with `Last-Event-ID: N` (EventSource does) or `?index=N` is sent every change
//   after index N, each once; 410 when this node no longer holds the changes after N.
// - the blocking reads: GET /key/<k>?index=N&wait=5s and GET /key?prefix=p&index=N&wait=5s
//   answer once a key concerned changes at an index above N, or when the wait ends, as a
//   normal read at their level (with X-Applied-Index, the index for the next wait).

import type { Change } from "../store/change_feed.ts";
import type { Caller, ReadLevel, StoreApi } from "../store/api.ts";
import type { WatchSink } from "../store/watches.ts";
import { HttpError, jsonError } from "./errors.ts";
import { readKeyVersioned } from "./key_handlers.ts";
import { queryParams } from "./query_params.ts";
import type { Route } from "./routes.ts";
import { idleTimeoutSeconds, type RequestTimeouts } from "./serve.ts";
import { parseReadLevel } from "./validate.ts";

/**
 * Longest a blocking read waits: a longer `wait` is cut to it, as Consul cuts its own (at 10
 * minutes), and the answer says so (X-Wait-Max). Five minutes: fetch in Bun and in Node gives
 * up on an answer silent for that long by default, so a longer wait would only meet clients
 * that have already left. Clients loop anyway, from the X-Applied-Index of each answer.
 */
export const blockingWaitMaxMs = 5 * 60_000;
/** The wait of a blocking read that names none: clear of clients' own 5-minute limits. */
export const blockingWaitDefaultMs = 60_000;
/** Chunks a watcher's stream may hold unread before it is ended (the client resumes from its last event). */
export const watchQueuedMax = 1_000;

const encoder = new TextEncoder();

/** GET /watch, and 405 for its other methods. */
export function watchRoutes(store: StoreApi): readonly Route[] {
  return [
    {
      methods: ["GET"],
      path: "/watch",
      perm: "read",
      handle: (request) => watchResponse(store, request),
    },
    { methods: ["ALL"], path: "/watch", handle: () => jsonError(405, "method not allowed", { headers: { allow: "GET, HEAD" } }) },
  ];
}

/** The event stream of GET /watch, or 410 when the history no longer reaches back to where the client is. */
function watchResponse(store: StoreApi, request: Request): Response {
  const params = queryParams(request.url, new Set(["prefix", "index"]));
  const prefix = params.get("prefix") ?? "";
  const header = request.headers.get("last-event-id");
  const rawIndex = header ?? params.get("index");
  const after = rawIndex === undefined || rawIndex === null ? null : parseIndex(rawIndex, header !== null ? "Last-Event-ID" : "index");
  if (store.watch === undefined) return jsonError(501, "this store cannot watch keys");
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let isClosed = false;
  let close = (): void => {};
  const pending: Change[] = [];
  const send = (text: string): void => {
    if (isClosed) return;
    controller.enqueue(encoder.encode(text));
    // A client that does not read: end its stream once too much waits; it resumes from its last event.
    if ((controller.desiredSize ?? 0) < -watchQueuedMax) end("this watcher fell too far behind; resume with Last-Event-ID");
  };
  const end = (reason: string): void => {
    if (isClosed) return;
    isClosed = true;
    close();
    const rest = pending.splice(0);
    controller.enqueue(encoder.encode(`${rest.length > 0 ? eventsText(rest) : ""}: ${reason}\n\n`));
    controller.close();
  };
  // Changes of one entry are recorded back to back in one synchronous apply: sent once it is
  // over (a microtask later), as one event, so a reconnect never splits an entry.
  const flush = (): void => {
    if (pending.length > 0) send(eventsText(pending.splice(0)));
  };
  const sink: WatchSink = {
    change: (c) => {
      if (pending.length === 0) void Promise.resolve().then(flush);
      pending.push(c);
    },
    keepalive: () => send(": keepalive\n\n"),
    end,
  };
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      isClosed = true;
      close();
    },
  });
  const result = store.watch(prefix, after, sink);
  if (result.type === "gone") {
    return jsonError(
      410,
      `the changes after index ${after} are no longer kept on this node (it holds those after index ${result.start}): list the keys again (GET /key?prefix=) and watch from that listing's X-Applied-Index`,
    );
  }
  close = result.close;
  request.signal.addEventListener("abort", () => {
    isClosed = true;
    close();
  });
  // Sent before the replayed changes (flushed a microtask later): the headers go out at once.
  controller.enqueue(encoder.encode(`: watching keys with prefix ${JSON.stringify(prefix)} after index ${result.from}\nretry: 1000\n\n`));
  return new Response(stream, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      "x-applied-index": String(result.from),
    },
  });
}

/** Changes as SSE events: one per log index, one data line per change. */
export function eventsText(changes: readonly Change[]): string {
  let out = "";
  let index = -1;
  for (const c of changes) {
    if (c.index !== index) {
      if (index >= 0) out += "\n";
      index = c.index;
      out += `id: ${index}\n`;
    }
    out += c.value === null
      ? `data: {"key":${JSON.stringify(c.key)},"deleted":true,"version":${c.index}}\n`
      : `data: {"key":${JSON.stringify(c.key)},"value":${JSON.stringify(c.value)},"version":${c.index}}\n`;
  }
  return `${out}\n`;
}

/** A log index: a decimal integer from 0 (Last-Event-ID, ?index=). */
export function parseIndex(raw: string, what: string): number {
  const index = /^(0|[1-9]\d{0,15})$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(index)) throw new HttpError(400, `invalid ${what} ${JSON.stringify(raw)}: a log index (X-Applied-Index or an event id), e.g. 42`);
  return index;
}

/** `wait=`: a number and a unit (ms, s or m), more than 0, in milliseconds (not yet cut). */
export function parseWait(raw: string): number {
  const m = /^([1-9]\d{0,6})(ms|s|m)$/.exec(raw);
  if (m === null) throw new HttpError(400, `invalid wait ${JSON.stringify(raw)}: a duration such as 500ms, 5s or 1m (at most ${blockingWaitMaxMs / 60_000}m is waited)`);
  return Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : 60_000);
}

/** What a blocking read asks: a change after `index`, for at most `waitMs`; `cut`: it asked for longer. */
export interface Blocking {
  readonly index: number;
  readonly waitMs: number;
  readonly cut: boolean;
}

/** The blocking part of a query (`index`, `wait`), or null when it has no `index` (a plain read). */
export function blockingOf(params: ReadonlyMap<string, string>): Blocking | null {
  const rawIndex = params.get("index");
  const rawWait = params.get("wait");
  if (rawIndex === undefined) {
    if (rawWait !== undefined) throw new HttpError(400, "wait needs index: the X-Applied-Index of the last answer, to wait for a change after it");
    return null;
  }
  const index = parseIndex(rawIndex, "index");
  const asked = rawWait === undefined ? blockingWaitDefaultMs : parseWait(rawWait);
  return { index, waitMs: Math.min(asked, blockingWaitMaxMs), cut: asked > blockingWaitMaxMs };
}

/**
 * Waits as a blocking read asks (StoreApi.waitForChange), holding the connection open past the
 * server's idle timeout meanwhile: a blocking read sends nothing until it answers, and the
 * server closes a connection silent for idleTimeoutSeconds. The timeout is put back once the
 * wait is over (it would otherwise outlive the answer and keep an idle connection forever). A
 * client that disconnects ends the wait (request.signal), so it no longer counts against the
 * node's bound on watches.
 */
export async function waitHeld(
  store: StoreApi,
  prefix: string,
  exact: boolean,
  blocking: Blocking,
  request: Request,
  server: RequestTimeouts | undefined,
): Promise<void> {
  if (store.waitForChange === undefined) throw new HttpError(400, "this store cannot block on a read");
  server?.timeout(request, 0);
  try {
    await store.waitForChange(prefix, exact, blocking.index, blocking.waitMs, request.signal);
  } finally {
    server?.timeout(request, idleTimeoutSeconds);
  }
}

/** `response` with X-Wait-Max when the wait asked for was cut to blockingWaitMaxMs. */
export function withWaitCut(response: Response, blocking: Blocking | null): Response {
  if (blocking?.cut === true) response.headers.set("x-wait-max", `${blockingWaitMaxMs / 1000}s`);
  return response;
}

/**
 * Whether a GET /key/<k> URL asks to block (`index=` or `wait=` in its query): only such URLs
 * pay for parsing. `level` is the route's query value: a query that is exactly `level=<it>`
 * (the only one the fast path takes) is told apart by its length, so a hot read pays one
 * indexOf and, with ?level=, one comparison.
 */
export function isBlockingKeyRead(url: string, level: string | undefined): boolean {
  const q = url.indexOf("?");
  if (q < 0) return false;
  if (level !== undefined && url.length === q + 7 + level.length) return false;
  return url.includes("index=", q) || url.includes("wait=", q);
}

/** GET /key/<k>?index=N&wait=D[&level=]: waits for a change of `key` after N, then reads it at its level. */
export async function blockingKeyRead(
  store: StoreApi,
  key: string,
  request: Request,
  caller?: Caller,
  server?: RequestTimeouts,
): Promise<Response> {
  const params = queryParams(request.url, new Set(["level", "index", "wait"]));
  const level: ReadLevel = parseReadLevel(params.get("level"));
  const blocking = blockingOf(params);
  if (store.waitForChange === undefined || store.getVersioned === undefined) throw new HttpError(400, "this store cannot block on a key");
  if (blocking !== null) await waitHeld(store, key, true, blocking, request, server);
  return withWaitCut(await readKeyVersioned(store, key, level, caller), blocking);
}
