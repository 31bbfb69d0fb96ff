// Goal: a versioned read's answer carries exactly its content-type, ETag and X-Applied-Index
// whether its headers are built or reused (http/read_headers.ts), reads at one applied index
// share one Headers per version, and a later change to one answer's headers reaches no other.
// Method: versionedResponse with a fresh ReadHeaders, counting the Headers objects it builds.

import { expect, test } from "bun:test";
import { versionedResponse } from "../../../http/key_handlers.ts";
import { ReadHeaders } from "../../../http/read_headers.ts";

const headersOf = (r: Response): Record<string, string> => Object.fromEntries(r.headers.entries());

test("reads at one applied index build one Headers per version, and answer the same headers", async () => {
  const table = new ReadHeaders();
  for (let i = 0; i < 100; i++) {
    const version = 10 + (i % 10);
    const r = versionedResponse(`k${i}`, { value: `v${i}`, version, applied: 42 }, table);
    expect(headersOf(r)).toEqual({ "content-type": "application/json", etag: `"${version}"`, "x-applied-index": "42" });
    expect(await r.text()).toBe(`{"k${i}":"v${i}"}`);
  }
  expect(table.built).toBe(10);
  // A write moved the applied index: the answers name the new one, and a version asked for
  // once there builds nothing (a read between two writes pays no more than before).
  const after = versionedResponse("k", { value: "v", version: 10, applied: 43 }, table);
  expect(headersOf(after)).toEqual({ "content-type": "application/json", etag: '"10"', "x-applied-index": "43" });
  expect(table.built).toBe(10);
  versionedResponse("k", { value: "v", version: 10, applied: 43 }, table);
  expect(table.built).toBe(11);
});

test("a change to one answer's headers reaches no later answer", () => {
  const table = new ReadHeaders();
  const read = () => versionedResponse("k", { value: "v", version: 7, applied: 9 }, table);
  for (const answer of [read(), read()]) {
    answer.headers.set("x-wait-max", "60s"); // as a cut blocking read's answer does (http/watch_routes.ts)
    answer.headers.set("etag", '"8"');
  }
  expect(headersOf(read())).toEqual({ "content-type": "application/json", etag: '"7"', "x-applied-index": "9" });
  expect(table.built).toBe(1);
});

test("a missing key answers 404 with its applied index, and a version-less value as version 0", async () => {
  const table = new ReadHeaders();
  const missing = versionedResponse("gone", { value: null, version: null, applied: 5 }, table);
  expect(missing.status).toBe(404);
  expect(missing.headers.get("x-applied-index")).toBe("5");
  expect(missing.headers.get("etag")).toBeNull();
  const unversioned = versionedResponse("k", { value: "v", version: null, applied: 5 }, table);
  expect(unversioned.headers.get("etag")).toBe('"0"');
});

test("the table stays bounded: a version takes over the slot of an older one", () => {
  const table = new ReadHeaders();
  const twice = (version: number) => {
    versionedResponse("k", { value: "v", version, applied: 1 }, table);
    versionedResponse("k", { value: "v", version, applied: 1 }, table);
  };
  for (let version = 1; version <= 300; version++) twice(version);
  expect(table.built).toBe(300);
  twice(1); // its slot was taken over by version 257
  expect(table.built).toBe(301);
  twice(300); // still kept
  expect(table.built).toBe(301);
});
