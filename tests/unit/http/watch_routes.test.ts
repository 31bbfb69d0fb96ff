// Goal: watching over HTTP (issue 16 item 5). GET /watch?prefix= streams every change of the
// keys with the prefix as Server-Sent Events (id: the entry's log index; one JSON data line
// per key the entry changed), on the leader and on a follower; a client that reconnects with
// Last-Event-ID (or ?index=) gets exactly the changes it missed, each once, on any node; 410
// when the history does not reach back; 400 for a malformed Last-Event-ID, index or wait, or an
// unknown parameter. Blocking reads: GET /key/<k>?index=N&wait= and GET /key?prefix=&index=N
// answer at once when a change after N is there, else when one is applied or the wait ends.
// Method: the real fetch handler on a three-node cluster of production parts (cluster_kit.ts);
// the event stream read as a client reads it.

import { afterAll, expect, test } from "bun:test";
import { createFetch } from "../../../http/fast_fetch.ts";
import type { NodeId } from "../../../raft/core/mod.ts";
import { ledThree } from "../store/cluster_kit.ts";

const { k, a, b, c } = ledThree();
afterAll(() => k.close());

const send = (id: NodeId, path: string, init: RequestInit = {}): Promise<Response> => k.sendPath(id, path, init);
/** A write through the leader; a tick then tells the followers its commit, and they apply it. */
const write = async (pairs: Record<string, string>): Promise<void> => {
  expect((await send(a, "key", { method: "POST", body: JSON.stringify(pairs) })).status).toBe(200);
  k.tick([a, b, c]);
};
const remove = async (key: string): Promise<void> => {
  expect((await send(a, `key/${encodeURIComponent(key)}`, { method: "DELETE" })).status).toBe(200);
  k.tick([a, b, c]);
};
/** Lets the cluster work until `settled` says so (at most 20 settles). */
async function until(settled: () => boolean): Promise<void> {
  for (let i = 0; i < 20 && !settled(); i++) await k.settle();
}

interface SseEvent {
  id: number;
  data: unknown[];
}

/** A client of an event stream: the events parsed so far, read on demand. */
class EventReader {
  readonly #reader: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> };
  #text = "";
  readonly events: SseEvent[] = [];
  constructor(response: Response) {
    this.#reader = response.body!.getReader();
  }
  /** Reads until `n` events have come (the cluster has settled: they are queued already). */
  async take(n: number): Promise<SseEvent[]> {
    while (this.events.length < n) {
      const chunk = await Promise.race([this.#reader.read(), new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
      if (chunk === null) throw new Error(`only ${this.events.length} of ${n} events came: ${JSON.stringify(this.events)}`);
      if (chunk.done === true) break;
      this.#text += new TextDecoder().decode(chunk.value);
      let end: number;
      while ((end = this.#text.indexOf("\n\n")) >= 0) {
        const block = this.#text.slice(0, end);
        this.#text = this.#text.slice(end + 2);
        const lines = block.split("\n");
        const id = lines.find((l) => l.startsWith("id: "));
        if (id === undefined) continue; // a comment or retry
        this.events.push({ id: Number(id.slice(4)), data: lines.filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6))) });
      }
    }
    return this.events.splice(0, n);
  }
  close(): Promise<void> {
    return this.#reader.cancel();
  }
}

test("a watch on a follower: one event per entry, in order, with the entry's index; deletes too", async () => {
  const response = await send(b, "watch?prefix=w/");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/event-stream");
  const from = Number(response.headers.get("x-applied-index"));
  const events = new EventReader(response);
  await write({ "w/1": "one", "w/2": "two", other: "x" });
  await remove("w/1");
  await write({ other: "y" }); // no key with the prefix: no event
  await write({ "w/2": "deux" });
  const got = await events.take(3);
  const [i1, i2, i3] = got.map((e) => e.id);
  expect(i1!).toBeGreaterThan(from);
  expect(i2!).toBeGreaterThan(i1!);
  expect(i3!).toBeGreaterThan(i2! + 1);
  expect(got.map((e) => e.data)).toEqual([
    [{ key: "w/1", value: "one", version: i1 }, { key: "w/2", value: "two", version: i1 }],
    [{ key: "w/1", deleted: true, version: i2 }],
    [{ key: "w/2", value: "deux", version: i3 }],
  ]);
  await events.close();
});

test("resuming with Last-Event-ID on another node sends exactly the changes missed, each once; ?index= alike", async () => {
  // A node keeps changes once it is watched: c and a are, from here on.
  for (const id of [c, a]) await new EventReader(await send(id, "watch?prefix=r/")).close();
  const first = new EventReader(await send(b, "watch?prefix=r/"));
  await write({ "r/a": "1" });
  const [seen] = await first.take(1);
  await first.close();
  // Missed while disconnected.
  await write({ "r/b": "2" });
  await write({ "r/a": "3" });
  const onC = new EventReader(await send(c, "watch?prefix=r/", { headers: { "last-event-id": String(seen!.id) } }));
  const onA = new EventReader(await send(a, `watch?prefix=r/&index=${seen!.id}`));
  for (const again of [onC, onA]) {
    const missed = await again.take(2);
    expect(missed.map((e) => e.data)).toEqual([[{ key: "r/b", value: "2", version: missed[0]!.id }], [{ key: "r/a", value: "3", version: missed[1]!.id }]]);
  }
  await write({ "r/live": "4" });
  for (const again of [onC, onA]) {
    const [live] = await again.take(1);
    expect(live!.data).toEqual([{ key: "r/live", value: "4", version: live!.id }]);
    await again.close();
  }
});

test("410 when the history does not reach back; 400 for malformed input, nothing watched", async () => {
  // Node c's feed was armed after the writes above began; index 1 is before its history.
  const gone = await send(c, "watch?prefix=r/", { headers: { "last-event-id": "1" } });
  expect(gone.status).toBe(410);
  expect(((await gone.json()) as { error: string }).error).toMatch(/no longer kept/);
  for (const [path, headers] of [
    ["watch?prefix=a&since=3", {}],
    ["watch", { "last-event-id": "x1" }],
    ["watch?index=-1", {}],
    ["key/a?index=1&wait=forever", {}],
    ["key/a?wait=1s", {}],
    ["key/a?index=1&wait=0s", {}],
    ["key?prefix=a&index=abc", {}],
  ] as const) {
    const r = await send(a, path, { headers });
    expect({ path, status: r.status }).toEqual({ path, status: 400 });
  }
  expect((await send(a, "watch", { method: "POST" })).status).toBe(405);
});

test("blocking reads: at once when a change after the index is there; else when one is applied, or at the end of the wait", async () => {
  await write({ "blk/x": "1" });
  const r0 = await send(b, "key/blk%2Fx");
  const applied = Number(r0.headers.get("x-applied-index"));
  // A change after index applied - 1 is there: at once.
  const now = await send(b, `key/blk%2Fx?index=${applied - 1}&wait=5s`);
  expect(await now.json()).toEqual({ "blk/x": "1" });
  // Nothing after `applied` yet: both wait.
  const fetchB = createFetch(k.proc(b).store);
  let answered: Response | null = null;
  let listed: Response | null = null;
  const waiting = Promise.resolve(fetchB(new Request(`http://n/key/blk%2Fx?index=${applied}&wait=5s`))).then((r) => (answered = r));
  const listing = Promise.resolve(fetchB(new Request(`http://n/key?prefix=blk/&index=${applied}&wait=5s`))).then((r) => (listed = r));
  await k.settle();
  expect([answered, listed]).toEqual([null, null]);
  await write({ "blk/other": "not this key" }); // the listing wakes, the key read does not
  await until(() => listed !== null);
  await listing;
  expect(((await listed!.json()) as { items: { key: string }[] }).items.map((i) => i.key)).toEqual(["blk/other", "blk/x"]);
  expect(answered).toBeNull();
  await write({ "blk/x": "2" });
  await until(() => answered !== null);
  await waiting;
  expect(await answered!.json()).toEqual({ "blk/x": "2" });
  const next = Number(answered!.headers.get("x-applied-index"));
  expect(next).toBeGreaterThan(applied);
  // Nothing changes: answered when the wait ends, as a plain read.
  const t0 = performance.now();
  const idle = await fetchB(new Request(`http://n/key/blk%2Fx?index=${next}&wait=300ms&level=stale`));
  expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
  expect(await idle.json()).toEqual({ "blk/x": "2" });
});
