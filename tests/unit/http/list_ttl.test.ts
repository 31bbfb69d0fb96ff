// Goal: a listing (issue 16 item 3) hides keys past their deadline (item 4) as GET /key/<k>
// does at the stale and lease levels, before their expiry entry applies: by this node's expiry
// clock, at every level; keys without a deadline are listed as before.
// Method: the real fetch handler on a one-node cluster of production parts (cluster_kit.ts, the
// Stores' timers and wall clock on the kit's clock), the clock moved past the deadline without
// the expiry timer firing.

import { afterAll, expect, test } from "bun:test";
import { createFetch } from "../../../http/fast_fetch.ts";
import type { NodeId } from "../../../raft/core/mod.ts";
import { Cluster } from "../store/cluster_kit.ts";

const a = "a" as NodeId;
const k = new Cluster([a], { storeTimers: true });
k.elect(a);
afterAll(() => k.close());
const fetch = createFetch(k.proc(a).store);
const send = (path: string, init: RequestInit = {}): Promise<Response> => k.send(fetch, new Request(`http://n/${path}`, init));

test("keys past their deadline are not listed, at any level, before their expiry applies", async () => {
  expect((await send("key?ttl=2s", { method: "POST", body: JSON.stringify({ "l/1": "a", "l/2": "b" }) })).status).toBe(200);
  expect((await send("key", { method: "POST", body: JSON.stringify({ "l/3": "c" }) })).status).toBe(200);
  const keysAt = async (level: string): Promise<string[]> =>
    ((await (await send(`key?prefix=l/&level=${level}`)).json()) as { items: { key: string }[] }).items.map((i) => i.key);
  expect(await keysAt("stale")).toEqual(["l/1", "l/2", "l/3"]);
  k.clock.t += 2_500; // past the deadline; the expiry timer has not fired
  expect(k.proc(a).sm.get("l/1")).toBe("a");
  for (const level of ["stale", "leader", "linearizable"]) expect({ level, keys: await keysAt(level) }).toEqual({ level, keys: ["l/3"] });
  // Cursors still chain over hidden keys.
  const page = (await (await send("key?prefix=l/&limit=1&level=stale")).json()) as { items: { key: string; value: string; version: number }[]; next: string | null };
  expect(page).toEqual({ items: [{ key: "l/3", value: "c", version: expect.any(Number) }], next: null });
});
