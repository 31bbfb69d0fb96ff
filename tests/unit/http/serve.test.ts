// Goal: parseHostPort reads hraftd's -haddr forms the way Go does, and serve() puts the app
// on a real socket, reports its port, refuses a taken port clearly, and closes.
// Method: a table for the parser; one server on port 0 (loopback) fetched through once.

import { describe, expect, test } from "bun:test";
import { parseHostPort } from "../../../address.ts";
import { createApp } from "../../../http/app.ts";
import { createFetch } from "../../../http/fast_fetch.ts";
import { serve } from "../../../http/serve.ts";
import type { StoreApi } from "../../../store/api.ts";

describe("parseHostPort", () => {
  const good: Array<[string, string, string, number]> = [
    ["localhost:11000", "localhost", "localhost", 11000],
    [":11000", "", "0.0.0.0", 11000],
    ["127.0.0.1:0", "127.0.0.1", "127.0.0.1", 0],
    ["[::1]:11000", "::1", "::1", 11000],
    ["[::]:65535", "::", "::", 65535],
  ];
  for (const [input, host, hostname, port] of good) {
    test(`${input}`, () => {
      expect(parseHostPort(input)).toEqual({ host, hostname, port });
    });
  }
  const bad: Array<[string, RegExp]> = [
    ["localhost", /missing port/],
    ["localhost:", /invalid port/],
    ["localhost:http", /invalid port/],
    ["localhost:65536", /invalid port/],
    ["localhost:-1", /invalid port/],
    ["::1:11000", /too many colons/],
    ["[::1]", /missing port/],
    ["[::1:11000", /missing '\]'/],
    ["[::1]x:1", /after '\]'/],
  ];
  for (const [input, pattern] of bad) {
    test(`${JSON.stringify(input)} is refused`, () => {
      expect(() => parseHostPort(input)).toThrow(pattern);
    });
  }
});

describe("serve", () => {
  test("serves the app on port 0, refuses the same port again, and closes", async () => {
    const store = {
      get: async (key: string) => (key === "k" ? "v" : null),
    } as unknown as StoreApi;
    const app = createApp(store);
    const server = await serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
    try {
      expect(server.port).toBeGreaterThan(0);
      const r = await fetch(`http://127.0.0.1:${server.port}/key/k?level=stale`);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ k: "v" });
      await expect(serve({ hostname: "127.0.0.1", port: server.port, fetch: app.fetch })).rejects.toThrow(
        `listen tcp 127.0.0.1:${server.port}: address already in use`,
      );
    } finally {
      await server.close();
    }
    await expect(fetch(`http://127.0.0.1:${server.port}/status`)).rejects.toThrow();
  });
});

// Issue 12, item 13: a body past the runtime's own limit (Bun's maxRequestBodySize) was
// answered by Bun itself: 413 with an empty body. Every 413 must carry the JSON error.
describe("every 413 carries the JSON error", () => {
  const store = { set: async () => {}, join: async () => {} } as unknown as StoreApi;
  const fiveMb = 5 * 1024 * 1024;
  const cases: ReadonlyArray<readonly [string, string]> = [["/key", "the fast path"], ["/join", "the Hono app"]];
  for (const [path, via] of cases) {
    test(`a 5 MB body to ${path} (${via}), with a length and chunked`, async () => {
      const server = await serve({ hostname: "127.0.0.1", port: 0, fetch: createFetch(store, { bodyBytesMax: 1024 }) });
      try {
        const url = `http://127.0.0.1:${server.port}${path}`;
        const body = new Uint8Array(fiveMb).fill(0x20);
        const withLength = await fetch(url, { method: "POST", body });
        expect(withLength.status).toBe(413);
        expect(withLength.headers.get("content-type")).toContain("application/json");
        expect(await withLength.json()).toEqual({ error: "request body exceeds 1024 bytes" });
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let off = 0; off < body.length; off += 65_536) controller.enqueue(body.subarray(off, off + 65_536));
            controller.close();
          },
        });
        const init: RequestInit & { duplex: "half" } = { method: "POST", body: stream, duplex: "half" };
        const chunked = await fetch(url, init);
        expect(chunked.status).toBe(413);
        expect(await chunked.json()).toEqual({ error: "request body exceeds 1024 bytes" });
      } finally {
        await server.close();
      }
    });
  }
});
