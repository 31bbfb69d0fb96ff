// One HTTP request through the client proxy with headers of the client's own (issue 16: an
// Idempotency-Key, If-Match, If-None-Match). cluster.ts's request sends a fixed set of headers;
// this one sends those plus the caller's, with the same deadline handling and the same
// classification of "no answer" (the proxy's own status), so both kinds of request are judged alike.

import type { HttpResult } from "./cluster.ts";
import { proxyNoAnswerStatus, proxyTimeoutHeader } from "./proxy.ts";

/** Slack on top of the proxy's own deadline, for the hop through it (as cluster.ts). */
const proxySlackMs = 2000;

/** Options of requestWithHeaders. */
export interface HeaderRequest {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

/** Sends `req` to `hostPort` through the proxy listening on `socket`; never throws. */
export async function requestWithHeaders(socket: string, hostPort: string, req: HeaderRequest): Promise<HttpResult> {
  try {
    const init: RequestInit & { unix: string } = {
      unix: socket,
      method: req.method,
      headers: { ...req.headers, [proxyTimeoutHeader]: String(req.timeoutMs), "content-type": "application/json" },
      signal: AbortSignal.timeout(req.timeoutMs + proxySlackMs),
    };
    if (req.body !== undefined) init.body = req.body;
    const res = await fetch(`http://${hostPort}${req.path}`, init);
    const body = await res.text();
    const etag = res.headers.get("etag");
    if (res.status !== proxyNoAnswerStatus) return { type: "response", status: res.status, body, ...(etag === null ? {} : { etag }) };
    let reason = body;
    try {
      reason = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      // Keep the raw body.
    }
    return { type: "noAnswer", reason };
  } catch (e) {
    return { type: "noAnswer", reason: `proxy: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` };
  }
}
