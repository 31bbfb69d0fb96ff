// The chaos suite's client gateway: runs inside the lab's client namespace and forwards HTTP
// requests arriving on a Unix socket (reachable from the test process, which lives outside
// the lab) to the node named by their Host header. Usage: bun tests/chaos/proxy.ts <socket>

import { existsSync, unlinkSync } from "node:fs";
import { upstreamFromEnv } from "./secure.ts";

/** Status the proxy answers when it got no HTTP answer from the node at all. */
export const proxyNoAnswerStatus = 599;
/** Request header carrying the proxy's own deadline for the forwarded request. */
export const proxyTimeoutHeader = "x-chaos-timeout-ms";
/** Host header the proxy answers itself (a liveness probe). */
export const proxyPingHost = "chaos-proxy";

/** Longest deadline a request may ask for. */
const timeoutMsMax = 60_000;

const upstream = upstreamFromEnv(process.env);

async function forward(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const host = req.headers.get("host") ?? "";
  if (host === proxyPingHost) return new Response("pong");
  const timeoutMs = Math.min(Number(req.headers.get(proxyTimeoutHeader) ?? "5000") || 5000, timeoutMsMax);
  const headers = new Headers(req.headers);
  headers.delete(proxyTimeoutHeader);
  headers.delete("host");
  if (upstream.authorization !== undefined) headers.set("authorization", upstream.authorization);
  try {
    const res = await fetch(`${upstream.scheme}://${host}${url.pathname}${url.search}`, {
      ...(upstream.tls === undefined ? {} : { tls: upstream.tls }),
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer(),
      signal: AbortSignal.timeout(timeoutMs),
      // A fresh connection per request: a pooled one may be half-dead after a kill or a
      // partition, and a failure on it would say nothing about this request.
      keepalive: false,
    });
    const body = await res.arrayBuffer();
    // The ETag too: a conditional write's answer names the version the client chains on.
    const etag = res.headers.get("etag");
    return new Response(body, { status: res.status, headers: { "content-type": res.headers.get("content-type") ?? "", ...(etag === null ? {} : { etag }) } });
  } catch (e) {
    const name = e instanceof Error ? e.name : "Error";
    const message = e instanceof Error ? e.message : String(e);
    const kind = name === "TimeoutError" ? "timeout" : "connection";
    return new Response(JSON.stringify({ proxyError: kind, message: `${name}: ${message}` }), {
      status: proxyNoAnswerStatus,
      headers: { "content-type": "application/json" },
    });
  }
}

if (import.meta.main) {
  const socketPath = process.argv[2];
  if (socketPath === undefined) throw new Error("usage: bun tests/chaos/proxy.ts <socket>");
  if (existsSync(socketPath)) unlinkSync(socketPath);
  // idleTimeout 0: requests may wait longer than Bun's default 10 s (a node's own request
  // timeout is 10 s); bun-types lists the option only for TCP servers, yet unix ones obey it.
  const serveOptions = { unix: socketPath, fetch: forward, idleTimeout: 0 };
  Bun.serve(serveOptions as unknown as Parameters<typeof Bun.serve>[0]);
  process.on("SIGTERM", () => process.exit(0));
}
