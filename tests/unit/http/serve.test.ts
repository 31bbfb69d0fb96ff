// Goal: parseHostPort reads hraftd's -haddr forms the way Go does, and serve() puts the app
// on a real socket, reports its port, refuses a taken port clearly, and closes.
// Method: a table for the parser; one server on port 0 (loopback) fetched through once.

import { describe, expect, test } from "bun:test";
import { parseHostPort } from "../../../http/address.ts";
import { createApp } from "../../../http/app.ts";
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
