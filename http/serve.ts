// The one runtime adapter for HTTP: puts a fetch handler on a socket with Bun.serve under
// Bun and Deno.serve under Deno. Nothing else in the project touches either API.

/** What to serve and where. */
export interface ServeOptions {
  /** Bind address; "0.0.0.0" for all interfaces (see parseHostPort in ../address.ts). */
  readonly hostname: string;
  /** 0 picks a free port; the chosen one is in the returned handle. */
  readonly port: number;
  readonly fetch: (request: Request) => Response | Promise<Response>;
}

/**
 * Bun's own request body limit, set beyond reach: past it Bun answers 413 itself, with an
 * empty body, where every 413 must carry the JSON error. The app is the limit: it refuses a
 * declared length before reading a byte and stops reading a chunked body at its limit
 * (http/validate.ts readBody), and Bun reads a body only as the handler asks for it.
 */
const runtimeBodyBytesMax = Number.MAX_SAFE_INTEGER;

/** A listening server. */
export interface ServerHandle {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

// The slice of Deno's API used here, typed locally since the project type-checks with bun-types.
interface DenoServer {
  readonly addr: { readonly port: number };
  shutdown(): Promise<void>;
}
interface DenoNamespace {
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): DenoServer;
}

/**
 * Starts an HTTP server. Rejects with a clear Error when the address is taken or cannot be
 * bound (the runtimes' own messages vary and name neither the host nor the port).
 */
export async function serve(options: ServeOptions): Promise<ServerHandle> {
  const deno = (globalThis as { Deno?: DenoNamespace }).Deno;
  const bun = (globalThis as { Bun?: typeof Bun }).Bun;
  try {
    if (bun !== undefined) return serveBun(bun, options);
    if (deno !== undefined) return serveDeno(deno, options);
  } catch (e) {
    throw listenError(options, e);
  }
  throw new Error("serve: neither Bun nor Deno found; run with bun or deno");
}

function serveBun(bun: typeof Bun, options: ServeOptions): ServerHandle {
  const server = bun.serve({
    hostname: options.hostname,
    port: options.port,
    fetch: options.fetch,
    maxRequestBodySize: runtimeBodyBytesMax,
    development: false,
    // Said explicitly: with development off, Bun 1.4.5 otherwise binds with SO_REUSEPORT, so a
    // second node started on the same -haddr would share the port instead of failing.
    reusePort: false,
  });
  return {
    port: server.port ?? options.port,
    close: () => server.stop(true),
  };
}

function serveDeno(deno: DenoNamespace, options: ServeOptions): ServerHandle {
  const server = deno.serve(
    // An empty onListen keeps Deno from printing its own "Listening on" line.
    { hostname: options.hostname, port: options.port, onListen() {} },
    options.fetch,
  );
  return { port: server.addr.port, close: () => server.shutdown() };
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
