// The cluster page (issue 17), served by every node:
//   GET /ui, /ui/<asset>  the page's files (ui/assets.ts, embedded in the binary);
//   GET /ui/state         the cluster as this node sees it, as JSON (view/cluster_view.ts);
//                         ?values=1 adds the values of the newest log entries' keys (with
//                         -auth, that needs the read permission too);
//   GET /ui/events        the same JSON as Server-Sent Events (`event: view`), about once a
//                         second and at once when the timeline grows, while the client stays
//                         (?values=1 as for /ui/state).
// All need the status permission with -auth, as GET /leader does. Without -auth the state and
// the events answer any origin (CORS), so a page whose node died can follow another member's
// stream; with -auth they do not (the page then navigates to the other member's /ui).
// None of this is on the hot path: the fast router never sees these paths, and nothing here
// runs per write or read.

import type { Authorizer } from "../security/permissions.ts";
import type { ClusterView } from "../view/cluster_view.ts";
import { HttpError, jsonError } from "./errors.ts";
import { queryParams } from "./query_params.ts";
import type { Route } from "./routes.ts";

/** One file of the page: its text and Content-Type (ui/assets.ts exports the map). */
export interface UiFile {
  readonly body: string;
  readonly type: string;
}

export interface UiDeps {
  readonly view: ClusterView;
  /** The page's files by request path ("/ui", "/ui/app.js", …). */
  readonly assets: ReadonlyMap<string, UiFile>;
}

/** Views an event stream may hold unsent before it is ended (a client that stopped reading). */
export const uiEventsQueuedMax = 64;

const encoder = new TextEncoder();
const noValues = new Set(["values"]);
const noParams = new Set<string>();

/** The routes of /ui; `auth` is -auth's authorizer (absent: off). */
export function uiRoutes(ui: UiDeps | undefined, auth: Authorizer | undefined): readonly Route[] {
  if (ui === undefined) return [];
  const cors: Record<string, string> = auth === undefined ? { "access-control-allow-origin": "*" } : {};
  const etag = `"${hashOf([...ui.assets.values()].map((a) => a.body).join("\u0000"))}"`;
  const asset = (path: string, request: Request): Response => {
    queryParams(request.url, noParams);
    const file = ui.assets.get(path);
    if (file === undefined) return jsonError(404, `no such file of the cluster page: ${path} (the page is at /ui)`);
    if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers: { etag, "cache-control": "no-cache" } });
    return new Response(file.body, { headers: { "content-type": file.type, "cache-control": "no-cache", etag } });
  };
  const notAllowed = (): Response => jsonError(405, "method not allowed", { headers: { allow: "GET, HEAD" } });
  return [
    { methods: ["GET"], path: "/ui", perm: "status", handle: (request) => asset("/ui", request) },
    { methods: ["ALL"], path: "/ui", handle: notAllowed },
    // /ui/ is the same page: a slash typed after it should not meet a 404.
    { methods: ["GET"], path: "/ui/", perm: "status", handle: (request) => asset("/ui", request) },
    { methods: ["ALL"], path: "/ui/", handle: notAllowed },
    {
      methods: ["GET"],
      path: "/ui/state",
      perm: "status",
      handle: async (request) => {
        const withValues = await valuesAsked(request, auth);
        const state = await ui.view.state(withValues);
        return new Response(JSON.stringify(state), { headers: { "content-type": "application/json", "cache-control": "no-store", ...cors } });
      },
    },
    {
      methods: ["GET"],
      path: "/ui/events",
      perm: "status",
      handle: async (request) => events(ui.view, request, await valuesAsked(request, auth), cors),
    },
    { methods: ["GET"], path: "/ui/:file", perm: "status", handle: (request) => asset(new URL(request.url).pathname, request) },
    { methods: ["ALL"], path: "/ui/:file", handle: notAllowed },
  ];
}

/** ?values=1 (or none); with -auth, values are shown only to a caller who may read keys. */
async function valuesAsked(request: Request, auth: Authorizer | undefined): Promise<boolean> {
  const raw = queryParams(request.url, noValues).get("values");
  if (raw === undefined || raw === "0") return false;
  if (raw !== "1") throw new HttpError(400, `invalid values ${JSON.stringify(raw)}: 1 to show the values of the newest entries' keys, 0 (the default) to hide them`);
  if (auth === undefined) return true;
  const verdict = await auth.authorize(request.headers.get("authorization"), "read");
  if (verdict.type !== "allowed") throw new HttpError(403, "values=1 needs the read permission");
  return true;
}

/** GET /ui/events: one `view` event at once, then about every second, until the client goes. */
function events(view: ClusterView, request: Request, withValues: boolean, cors: Record<string, string>): Response {
  let stop = (): void => {};
  let isClosed = false;
  const end = (controller: ReadableStreamDefaultController<Uint8Array> | null): void => {
    if (isClosed) return;
    isClosed = true;
    stop();
    try {
      controller?.close();
    } catch {
      // Already cancelled by the client.
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(`: cluster view of this node\nretry: 1000\n\n`));
      stop = view.watch(withValues, (json) => {
        if (isClosed) return;
        controller.enqueue(encoder.encode(`event: view\ndata: ${json}\n\n`));
        // A client that stopped reading is let go: it reconnects (EventSource does) when it can.
        if ((controller.desiredSize ?? 0) < -uiEventsQueuedMax) end(controller);
      });
    },
    cancel() {
      end(null);
    },
  });
  request.signal.addEventListener("abort", () => end(null));
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-store", ...cors },
  });
}

/** FNV-1a of the page's text, in hex: the ETag of this build's page. */
function hashOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}
