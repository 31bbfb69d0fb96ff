// Goal (issue 16 item 2): the answer of a write with a condition, an Idempotency-Key or a TTL
// carries the version it wrote (the log index of its entry), so a client can chain If-Match
// without a GET:
// - a single-key POST answers `ETag: "<index>"` and `X-Applied-Index: <index>`, on the leader
//   and forwarded from a follower; the ETag is what a GET of the key then answers, and
//   If-Match takes it back;
// - a multi-key POST answers X-Applied-Index (every key it wrote has that version), no ETag;
// - DELETE answers X-Applied-Index, no ETag (a deleted key has no version to match);
// - answers that wrote nothing carry neither: 412, and a replay of an Idempotency-Key;
// - a plain write (none of those) answers as before, with no header: the hot path's answer.
// Method: the real fetch handler on a three-node cluster of production parts (cluster_kit.ts),
// the follower forwarding over the kit's transport.

import { afterAll, expect, test } from "bun:test";
import { ledThree } from "../store/cluster_kit.ts";

const { k, a, b, c } = ledThree();
afterAll(() => k.close());

const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({ method: "POST", body: JSON.stringify(body), headers });
const versionOf = (r: Response): number => Number(r.headers.get("x-applied-index"));

for (const [where, id] of [["the leader", a], ["a follower (forwarded)", b]] as const) {
  test(`a single-key POST on ${where} answers the ETag of what it wrote; If-Match chains on it without a GET`, async () => {
    const key = `v-${id}`;
    const first = await k.sendPath(id, "key", post({ [key]: "1" }, { "if-none-match": "*" }));
    expect(first.status).toBe(200);
    const etag = first.headers.get("etag");
    expect(etag).toBe(`"${versionOf(first)}"`);
    expect(versionOf(first)).toBeGreaterThan(0);
    k.tick([a, b, c]);
    expect((await k.sendPath(a, `key/${key}`)).headers.get("etag")).toBe(etag);
    // The chain: each conditional write answers the tag the next one matches.
    const second = await k.sendPath(id, "key", post({ [key]: "2" }, { "if-match": etag! }));
    expect(second.status).toBe(200);
    expect(versionOf(second)).toBeGreaterThan(versionOf(first));
    expect(second.headers.get("etag")).toBe(`"${versionOf(second)}"`);
    const third = await k.sendPath(id, "key", post({ [key]: "3" }, { "if-match": second.headers.get("etag")! }));
    expect(third.status).toBe(200);
    // A stale tag: 412, nothing written, no version of its own.
    const stale = await k.sendPath(id, "key", post({ [key]: "4" }, { "if-match": second.headers.get("etag")! }));
    expect(stale.status).toBe(412);
    expect([stale.headers.get("etag"), stale.headers.get("x-applied-index")]).toEqual([null, null]);
    k.tick([a, b, c]);
    expect((await k.sendPath(a, `key/${key}`)).headers.get("etag")).toBe(third.headers.get("etag"));
  });

  test(`with an Idempotency-Key on ${where}: the first answer has the version, a replay (nothing written) none`, async () => {
    const init = post({ [`i-${id}`]: "1" }, { "idempotency-key": `once-${id}` });
    const first = await k.sendPath(id, "key", init);
    expect(first.status).toBe(200);
    expect(first.headers.get("etag")).toBe(`"${versionOf(first)}"`);
    const replay = await k.sendPath(id, "key", post({ [`i-${id}`]: "1" }, { "idempotency-key": `once-${id}` }));
    expect([replay.status, replay.headers.get("idempotent-replayed")]).toEqual([200, "true"]);
    expect([replay.headers.get("etag"), replay.headers.get("x-applied-index")]).toEqual([null, null]);
  });

  test(`a multi-key POST and a DELETE on ${where} answer X-Applied-Index, without an ETag`, async () => {
    const many = await k.sendPath(id, "key", post({ [`m1-${id}`]: "1", [`m2-${id}`]: "2" }, { "if-none-match": "*" }));
    expect(many.status).toBe(200);
    expect(many.headers.get("etag")).toBeNull();
    k.tick([a, b, c]);
    for (const key of [`m1-${id}`, `m2-${id}`]) expect((await k.sendPath(a, `key/${key}`)).headers.get("etag")).toBe(`"${versionOf(many)}"`);
    const gone = await k.sendPath(id, `key/m1-${id}`, { method: "DELETE", headers: { "idempotency-key": `del-${id}` } });
    expect(gone.status).toBe(200);
    expect(gone.headers.get("etag")).toBeNull();
    expect(versionOf(gone)).toBeGreaterThan(versionOf(many));
    const conditional = await k.sendPath(id, `key/m2-${id}`, { method: "DELETE", headers: { "if-match": `"${versionOf(many)}"` } });
    expect(conditional.status).toBe(200);
    expect(conditional.headers.get("etag")).toBeNull();
    expect(versionOf(conditional)).toBeGreaterThan(versionOf(gone));
  });

  test(`a write with a TTL on ${where} answers its version`, async () => {
    const r = await k.sendPath(id, "key?ttl=1h", post({ [`t-${id}`]: "1" }));
    expect(r.status).toBe(200);
    expect(r.headers.get("etag")).toBe(`"${versionOf(r)}"`);
  });

  test(`plain writes on ${where} answer as before, with no header; the store still learns their version`, async () => {
    for (const init of [post({ [`p-${id}`]: "1" }), post({ [`p-${id}`]: "1", [`q-${id}`]: "1" })]) {
      const r = await k.sendPath(id, "key", init);
      expect([r.status, [...r.headers.keys()]]).toEqual([200, []]);
    }
    const gone = await k.sendPath(id, `key/p-${id}`, { method: "DELETE" });
    expect([gone.status, [...gone.headers.keys()]]).toEqual([200, []]);
    let version: unknown = null;
    void k.proc(id).store.set([[`s-${id}`, "1"]]).then((v) => (version = v));
    await k.settle();
    k.tick([a, b, c]);
    expect(version).toBe(k.proc(a).sm.versionOf(`s-${id}`)!);
  });
}

test("`{}` writes nothing and answers no version", async () => {
  for (const headers of [{}, { "if-none-match": "*" }] as Record<string, string>[]) {
    const r = await k.sendPath(a, "key", post({}, headers));
    expect([r.status, r.headers.get("etag"), r.headers.get("x-applied-index")]).toEqual([200, null, null]);
  }
});
