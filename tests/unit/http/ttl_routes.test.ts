// Goal: `POST /key?ttl=` (issue 16 item 4) through the HTTP layer: a TTL as Go writes a
// duration (ms, s, m, h) sets every key of the body to expire; a bad TTL (no unit, zero,
// negative, fractional milliseconds, over 8760h, given twice) or any other query parameter is
// 400 and writes nothing; a TTL combines with If-None-Match and Idempotency-Key; once the
// deadline passes (the Stores' clock), GET answers 404 at every level.
// Method: the real fetch handler (fast path and Hono app) on a one-node cluster of production
// parts (cluster_kit.ts, the Stores' timers and wall clock on the kit's clock), and
// parseTtl's table.

import { afterAll, describe, expect, test } from "bun:test";
import { createFetch } from "../../../http/fast_fetch.ts";
import { parseTtl } from "../../../http/validate.ts";
import type { NodeId } from "../../../raft/core/mod.ts";
import { Cluster } from "../store/cluster_kit.ts";

describe("parseTtl", () => {
  const good: Array<[string, number]> = [
    ["1ms", 1],
    ["500ms", 500],
    ["30s", 30_000],
    ["1.5s", 1_500],
    ["0.001s", 1],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["8760h", 365 * 24 * 3_600_000],
  ];
  for (const [raw, ms] of good) test(`${raw} is ${ms} ms`, () => expect(parseTtl(raw)).toBe(ms));
  for (const raw of ["", "30", "0s", "0ms", "-1s", "1.5ms", "8761h", "1d", "s", "1 s", "30S", " 30s", "1e3ms", "+5s", "5s5"]) {
    test(`${JSON.stringify(raw)} is refused`, () => expect(() => parseTtl(raw)).toThrow(/invalid ttl/));
  }
});

describe("POST /key?ttl=", () => {
  const a = "a" as NodeId;
  const k = new Cluster([a], { storeTimers: true });
  k.elect(a);
  afterAll(() => k.close());
  const fetch = createFetch(k.proc(a).store);
  const send = (path: string, init: RequestInit = {}): Promise<Response> => k.send(fetch, new Request(`http://n/${path}`, init));
  const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({ method: "POST", body: JSON.stringify(body), headers });

  test("sets every key of the body to expire; GET hides them past the deadline at every level", async () => {
    expect((await send("key?ttl=2s", post({ t1: "a", t2: "b" }))).status).toBe(200);
    const sm = k.proc(a).sm;
    expect(sm.deadlineOf("t1")).toBe(sm.deadlineOf("t2")!);
    expect(sm.deadlineOf("t1")! - k.clock.t).toBeGreaterThan(1_900);
    expect((await send("key/t1")).status).toBe(200);
    k.clock.t += 2_500; // past the deadline; the expiry timer has not fired
    for (const level of ["stale", "leader", "linearizable"]) expect((await send(`key/t2?level=${level}`)).status).toBe(404);
    await k.advance(0);
    expect([sm.get("t1"), sm.get("t2")]).toEqual([undefined, undefined]);
  });

  test("bad TTLs and unknown parameters are 400 and write nothing", async () => {
    for (const query of ["ttl=30", "ttl=0s", "ttl=-5s", "ttl=", "ttl=1.5ms", "ttl=9000h", "ttl=1s&ttl=2s", "tll=30s", "ttl=1s&x=1", "level=stale"]) {
      const r = await send(`key?${query}`, post({ bad: query }));
      expect({ query, status: r.status }).toEqual({ query, status: 400 });
      expect(await r.json()).toEqual({ error: expect.any(String) });
    }
    expect(k.proc(a).sm.get("bad")).toBeUndefined();
  });

  test("with If-None-Match: * and an Idempotency-Key; without ttl a write makes the key permanent", async () => {
    expect((await send("key?ttl=1m", post({ lock: "a" }, { "if-none-match": "*" }))).status).toBe(200);
    expect((await send("key?ttl=1m", post({ lock: "b" }, { "if-none-match": "*" }))).status).toBe(412);
    const first = await send("key?ttl=1m", post({ once: "1" }, { "idempotency-key": "t-1" }));
    const again = await send("key?ttl=1m", post({ once: "1" }, { "idempotency-key": "t-1" }));
    expect([first.status, again.status, again.headers.get("idempotent-replayed")]).toEqual([200, 200, "true"]);
    expect(k.proc(a).sm.deadlineOf("lock")).toBeDefined();
    expect((await send("key", post({ lock: "c" }))).status).toBe(200);
    expect(k.proc(a).sm.deadlineOf("lock")).toBeUndefined();
    // Past the first minute, the permanent key stays, the other is gone.
    await k.advance(61_000);
    expect((await send("key/lock")).status).toBe(200);
    expect((await send("key/once")).status).toBe(404);
  });
});
