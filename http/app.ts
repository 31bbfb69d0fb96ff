// The HTTP API (hraftd's routes plus /remove and read levels) as a Hono app: a function from
// Request to Response over a StoreApi, with no listening; http/serve.ts puts it on a socket.

import { Hono } from "hono";
import type { StoreApi } from "../store/api.ts";
import { errorHandler, HttpError, jsonError } from "./errors.ts";
import { ok, readKey, writeKeys } from "./key_handlers.ts";
import { keyFromUrl, parseJoinBody, parseReadLevel, parseRemoveBody, readJsonBody } from "./validate.ts";

/** Options of createApp. */
export interface AppOptions {
  /** Largest request body accepted; larger ones get 413. */
  readonly bodyBytesMax?: number;
  /** Called with every error that becomes a 500 (a bug, not bad input), e.g. to log it. */
  readonly internalErrorDone?: (error: unknown) => void;
}

/** Default request body limit: 1 MiB. */
export const bodyBytesMaxDefault = 1024 * 1024;

const jsonHeaders: Readonly<Record<string, string>> = { "content-type": "application/json" };

/** A handler answering 405 with the methods the path does allow. */
function methodNotAllowed(allow: string): () => Response {
  return () => jsonError(405, "method not allowed", { headers: { allow } });
}

function missingKey(): never {
  throw new HttpError(400, "missing key: use /key/<key>");
}

/**
 * Builds the app. Routes (DESIGN.md "Store and HTTP API"): POST /key, GET|DELETE /key/<k>,
 * POST /join, POST /remove, GET /status. Every rejection happens before the store is called,
 * so a rejected request writes nothing.
 */
export function createApp(store: StoreApi, options: AppOptions = {}): Hono {
  const bodyBytesMax = options.bodyBytesMax ?? bodyBytesMaxDefault;
  const app = new Hono();

  app.post("/key", (c) => writeKeys(store, c.req.raw, bodyBytesMax));
  app.on(["GET", "DELETE"], ["/key", "/key/"], missingKey);
  app.all("/key", methodNotAllowed("POST"));
  app.all("/key/", methodNotAllowed("GET, HEAD, DELETE"));

  app.get("/key/:k", async (c) => {
    const key = keyFromUrl(c.req.url);
    return readKey(store, key, parseReadLevel(c.req.query("level")));
  });
  app.delete("/key/:k", async (c) => {
    await store.delete(keyFromUrl(c.req.url));
    return ok();
  });
  app.all("/key/:k", methodNotAllowed("GET, HEAD, DELETE"));

  app.post("/join", async (c) => {
    const { id, addr } = parseJoinBody(await readJsonBody(c.req.raw, bodyBytesMax));
    await store.join(id, addr);
    return ok();
  });
  app.all("/join", methodNotAllowed("POST"));

  app.post("/remove", async (c) => {
    const { id } = parseRemoveBody(await readJsonBody(c.req.raw, bodyBytesMax));
    await store.remove(id);
    return ok();
  });
  app.all("/remove", methodNotAllowed("POST"));

  app.get("/status", () => new Response(JSON.stringify(store.status()), { headers: jsonHeaders }));
  app.all("/status", methodNotAllowed("GET, HEAD"));

  app.notFound((c) => jsonError(404, `no such path: ${c.req.path}`));
  app.onError(errorHandler(options.internalErrorDone));
  return app;
}
