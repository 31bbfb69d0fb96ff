// The one runtime adapter for HTTP: puts a fetch handler on a socket with Bun.serve under
// Bun and Deno.serve under Deno. Nothing else in the project touches either API.
//
// HTTPS and certificate rotation. Neither runtime can change the certificate of a listening
// server (Bun's server.reload({tls}) keeps serving the old one), so a new certificate gets a
// new listener on the same port, opened with SO_REUSEPORT beside the old one; the old one
// then answers its remaining requests with "Connection: close" for drainMs, so busy clients
// reconnect (to either listener) cleanly, and is stopped after that. Stopping it at once would
// reset its idle keep-alive connections under clients about to use them (measured: about one
// failed request per rotation per busy client; with the drain, none).
//
// Deno allows SO_REUSEPORT with TLS only under --unstable-net, and without that flag it ends
// the process rather than throw; so under Deno a rotation closes the old listener
// (gracefully: its requests finish) before opening the new one, and new connections are
// refused in between.
//
// SO_REUSEPORT would let a second node bind the same -haddr, which plain HTTP refuses
// (reusePort: false). So an HTTPS listener is opened only right after a bind without it
// succeeded on the same port, in the same synchronous run: a node already there (HTTPS or
// not) makes that bind fail, and the kernel lets only the same user share the port anyway.

import { constants } from "node:crypto";
import type { Timers } from "../raft/host.ts";
import { realTimers } from "../raft/real_time.ts";

/** PEM text of a server certificate and key, and of the CA that signs client certificates. */
export interface TlsPem {
  readonly cert: string;
  readonly key: string;
  /** Needed with verifyClient: client certificates must chain to it. */
  readonly ca?: string;
}

/** HTTPS: the material, and whether every client must present a certificate from the CA. */
export interface ServeTls extends TlsPem {
  readonly verifyClient: boolean;
}

/**
 * Seconds a connection may send nothing before the server closes it (Bun's default, said
 * here so that a blocking read, which holds its connection open past it while it waits,
 * can put it back afterwards).
 */
export const idleTimeoutSeconds = 10;

/**
 * What a handler may ask of the server its request came through: Bun's server is one, and
 * Bun.serve passes it to the fetch handler as its second argument, so handing it on costs the
 * other requests nothing. `timeout(request, 0)` lifts the idle timeout for that request's
 * connection until set again (it outlives the response: set it back). Absent under Deno, whose
 * server has no idle timeout on a request it has not answered.
 */
export interface RequestTimeouts {
  timeout(request: Request, seconds: number): void;
}

/** What to serve and where. */
export interface ServeOptions {
  /** Bind address; "0.0.0.0" for all interfaces (see parseHostPort in ../address.ts). */
  readonly hostname: string;
  /** 0 picks a free port; the chosen one is in the returned handle. */
  readonly port: number;
  readonly fetch: (request: Request, server?: RequestTimeouts) => Response | Promise<Response>;
  /** Serve HTTPS (TLS 1.2 or newer) instead of HTTP. */
  readonly tls?: ServeTls;
  /** The drain timer of a rotation (see above); the host's by default. */
  readonly timers?: Timers;
  /** How long a replaced listener keeps answering its open connections; default drainMsDefault. */
  readonly drainMs?: number;
}

/**
 * How long a listener replaced by a rotation lives on. A client sending at least this often
 * is moved to the new certificate without an error; new connections may still reach the old
 * listener (and its certificate) for this long.
 */
export const drainMsDefault = 1000;

/**
 * Bun's own request body limit, set beyond reach: past it Bun answers 413 itself, with an
 * empty body, where every 413 must carry the JSON error. The app is the limit: it refuses a
 * declared length before reading a byte and stops reading a chunked body at its limit
 * (http/validate.ts readBody), and Bun reads a body only as the handler asks for it.
 */
const runtimeBodyBytesMax = Number.MAX_SAFE_INTEGER;

/**
 * SSL 3, TLS 1.0 and 1.1 refused, said explicitly rather than left to the TLS library's
 * defaults (issue 14: TLS 1.2 is the minimum). Bun passes these to its TLS stack as given.
 */
const tlsBelow12Off = constants.SSL_OP_NO_SSLv3 | constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1;

/** A listening server. */
export interface ServerHandle {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /**
   * HTTPS only: new connections get this certificate (and client CA) from now on; open ones
   * are drained (see above). Rejects, keeping the current material, when it cannot be used.
   */
  rotateTls(tls: TlsPem): Promise<void>;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** One socket listener; a rotation replaces it with another on the same port. */
interface Listener {
  readonly port: number;
  /** Opened with SO_REUSEPORT: its successor can listen beside it. */
  readonly shares: boolean;
  /** Its responses from now on carry "Connection: close". */
  drain(): void;
  stop(): Promise<void>;
}

/** Opens one listener; `share`: with SO_REUSEPORT (HTTPS, see above). */
type OpenListener = (port: number, tls: ServeTls | undefined, share: boolean) => Listener;

// The slice of Deno's API used here, typed locally since the project type-checks with bun-types.
interface DenoServer {
  readonly addr: { readonly port: number };
  shutdown(): Promise<void>;
}
interface DenoNamespace {
  serve(
    options: { hostname: string; port: number; onListen?: () => void; cert?: string; key?: string },
    handler: (request: Request) => Response | Promise<Response>,
  ): DenoServer;
  listen(options: { hostname: string; port: number }): { readonly addr: { readonly port: number }; close(): void };
}

/**
 * Starts an HTTP (or HTTPS) server. Rejects with a clear Error when the address is taken or
 * cannot be bound (the runtimes' own messages vary and name neither the host nor the port),
 * or when the TLS material cannot be used.
 */
export async function serve(options: ServeOptions): Promise<ServerHandle> {
  const deno = (globalThis as { Deno?: DenoNamespace }).Deno;
  const bun = (globalThis as { Bun?: typeof Bun }).Bun;
  const open = bun !== undefined ? bunListener(bun, options) : deno !== undefined ? denoListener(deno, options) : null;
  if (open === null) throw new Error("serve: neither Bun nor Deno found; run with bun or deno");
  const probe = bun !== undefined ? bunProbe(bun, options) : denoProbe(deno!, options);
  let first: Listener;
  try {
    // HTTPS shares its port with its successor; a probe first makes sure nobody else has it.
    first = options.tls === undefined ? open(options.port, undefined, false) : open(probe(options.port), options.tls, true);
  } catch (e) {
    throw listenError(options, e);
  }
  return handle(first, options, open);
}

function handle(first: Listener, options: ServeOptions, open: OpenListener): ServerHandle {
  const timers = options.timers ?? realTimers;
  const drainMs = options.drainMs ?? drainMsDefault;
  let current = first;
  let currentTls = options.tls;
  /** Replaced listeners still draining, with their stop timers. */
  const draining = new Map<Listener, unknown>();
  let isClosed = false;
  return {
    port: first.port,
    async rotateTls(pem: TlsPem): Promise<void> {
      const tls = options.tls;
      if (tls === undefined) throw new Error("rotateTls: this server serves plain HTTP");
      if (isClosed) return;
      const nextTls = { ...pem, verifyClient: tls.verifyClient };
      const old = current;
      if (!old.shares) {
        // Under Deno (see above): the port is closed until the new listener opens.
        await old.stop();
        try {
          current = open(first.port, nextTls, false);
        } catch (e) {
          // Never left without a listener: the material that worked, again.
          current = open(first.port, currentTls, false);
          throw e;
        }
        currentTls = nextTls;
        return;
      }
      current = open(first.port, nextTls, true);
      currentTls = nextTls;
      old.drain();
      draining.set(old, timers.setTimeout(() => {
        draining.delete(old);
        void old.stop();
      }, drainMs));
    },
    async close(): Promise<void> {
      isClosed = true;
      const all = [current, ...draining.keys()];
      for (const timer of draining.values()) timers.clearTimeout(timer);
      draining.clear();
      await Promise.all(all.map((l) => l.stop()));
    },
  };
}

/** Binds the port without SO_REUSEPORT and lets it go again at once; returns the port bound. */
function bunProbe(bun: typeof Bun, options: ServeOptions): (port: number) => number {
  return (port) => {
    const probe = bun.serve({ hostname: options.hostname, port, fetch: () => new Response(null), development: false, reusePort: false });
    const bound = probe.port ?? port;
    // stop(true) closes the listening socket before it returns: the port is free for the next line.
    void probe.stop(true);
    return bound;
  };
}

function denoProbe(deno: DenoNamespace, options: ServeOptions): (port: number) => number {
  return (port) => {
    const probe = deno.listen({ hostname: options.hostname, port });
    const bound = probe.addr.port;
    probe.close();
    return bound;
  };
}

function bunListener(bun: typeof Bun, options: ServeOptions): OpenListener {
  return (port, tls, share) => {
    let isDraining = false;
    const server = bun.serve({
      hostname: options.hostname,
      port,
      // Bun calls it with (request, server): the server reaches the handler unwrapped.
      fetch: tls === undefined
        ? options.fetch
        : (request, server) => (isDraining ? closing(options.fetch(request, server)) : options.fetch(request, server)),
      maxRequestBodySize: runtimeBodyBytesMax,
      idleTimeout: idleTimeoutSeconds,
      development: false,
      // Said explicitly: with development off, Bun 1.4.5 otherwise binds with SO_REUSEPORT, so a
      // second node started on the same -haddr would share the port instead of failing. HTTPS
      // shares it only with its own rotations (see the top of this file).
      reusePort: share,
      ...(tls === undefined ? {} : { tls: bunTls(tls) }),
    });
    return {
      port: server.port ?? port,
      shares: share,
      drain: () => {
        isDraining = true;
      },
      stop: () => server.stop(true),
    };
  };
}

function bunTls(tls: ServeTls): Bun.TLSOptions {
  if (!tls.verifyClient) return { cert: tls.cert, key: tls.key, secureOptions: tlsBelow12Off };
  if (tls.ca === undefined) throw new Error("HTTPS with client certificates needs the CA that signs them");
  return { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true, secureOptions: tlsBelow12Off };
}

function denoListener(deno: DenoNamespace, options: ServeOptions): OpenListener {
  return (port, tls) => {
    if (tls?.verifyClient === true) {
      throw new Error("client certificates (-http-verify-client) need Bun: Deno.serve cannot request them");
    }
    const server = deno.serve(
      // An empty onListen keeps Deno from printing its own "Listening on" line. Deno's TLS
      // (rustls) speaks only TLS 1.2 and 1.3. No SO_REUSEPORT (see the top of this file).
      { hostname: options.hostname, port, onListen() {}, ...(tls === undefined ? {} : { cert: tls.cert, key: tls.key }) },
      // Deno's second argument is its connection info, not a RequestTimeouts.
      (request) => options.fetch(request),
    );
    return {
      port: server.addr.port,
      shares: false,
      // Never drained: a listener that cannot share is stopped before its successor opens.
      drain: () => {},
      stop: () => server.shutdown(),
    };
  };
}

/** The response with "Connection: close": the client reconnects for its next request. */
async function closing(response: Response | Promise<Response>): Promise<Response> {
  const r = await response;
  try {
    r.headers.set("connection", "close");
    return r;
  } catch {
    // Immutable headers (a response that came from elsewhere): copy it.
    const headers = new Headers(r.headers);
    headers.set("connection", "close");
    return new Response(r.body, { status: r.status, statusText: r.statusText, headers });
  }
}

function listenError(options: ServeOptions, cause: unknown): Error {
  const code = (cause as { code?: unknown; name?: unknown } | null)?.code;
  const name = (cause as { name?: unknown } | null)?.name;
  const where = `listen tcp ${options.hostname}:${options.port}`;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (code === "EADDRINUSE" || name === "AddrInUse" || /in use/i.test(message)) {
    return new Error(`${where}: address already in use`, { cause });
  }
  return new Error(`${where}: ${message}`, { cause });
}
