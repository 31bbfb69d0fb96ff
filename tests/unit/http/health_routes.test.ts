// Goal: the probes (issue 15, items 1 and 8). GET /livez answers 200 whenever the node serves
// HTTP; GET /readyz answers 200 only when a leader is known, storage is healthy and the node
// is a member, else 503 naming the failing check; ?verbose lists the checks, ?noleader skips
// the leader check, ?sync waits (bounded by timeout=) until this node applied the leader's
// commit index of the request; HEAD answers the same status without a body; /status carries
// the same checks, the uptime and the version.
// Method: production nodes built by openNode on simulated seams (tests/sim/harness), asked
// through each node's own fetch handler (the app the real server serves), in simulated time.

import { afterEach, expect, test } from "bun:test";
import { parseProbeTimeout } from "../../../http/health_routes.ts";
import { createFetch } from "../../../http/fast_fetch.ts";
import type { RaftNode } from "../../../raft/node.ts";
import { Authenticator } from "../../../security/authenticator.ts";
import { allPerms } from "../../../security/permissions.ts";
import type { StatusReport } from "../../../store/api.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";
import { Store } from "../../../store/store.ts";
import { NodeCluster } from "../../sim/harness/node_cluster.ts";
import { reliableNetwork } from "../../sim/sim_network.ts";

let cluster: NodeCluster | null = null;
afterEach(() => {
  cluster = null;
});

async function open(seed = 15): Promise<NodeCluster> {
  cluster = await NodeCluster.open({ seed, voters: 3 });
  return cluster;
}

/** One request to node `id`'s HTTP handler, settled in simulated time. */
async function ask(c: NodeCluster, id: string, path: string, method = "GET", msMax = 10_000): Promise<{ status: number; body: string }> {
  const fetch = c.server(id).opened!.fetch;
  const settled = await c.settle(Promise.resolve(fetch(new Request(`http://node${path}`, { method }))), msMax);
  if (!settled.ok) throw settled.error;
  return { status: settled.value.status, body: await settled.value.text() };
}

/** Runs until every node knows the same leader; returns it. */
async function elected(c: NodeCluster): Promise<string> {
  const agreed = (): boolean => {
    const leaders = c.ids.map((id) => c.status(id)?.leader ?? null);
    return leaders[0] !== null && leaders.every((l) => l === leaders[0]);
  };
  expect(await c.runUntil(agreed, 5_000)).toBe(true);
  return c.status(c.ids[0]!)!.leader!;
}

test("before any election: /livez 200, /readyz 503 naming the leader check; HEAD the same without a body", async () => {
  const c = await open();
  expect(c.status("n1")!.leader).toBeNull();
  expect(await ask(c, "n1", "/livez")).toEqual({ status: 200, body: "ok\n" });
  expect(await ask(c, "n1", "/livez?verbose")).toEqual({ status: 200, body: "[+]ping ok\nlivez check passed\n" });
  const ready = await ask(c, "n1", "/readyz");
  expect(ready.status).toBe(503);
  // A failure lists the checks even without ?verbose (Kubernetes does the same).
  expect(ready.body).toBe("[-]leader failed: no leader known (follower in term 1)\n[+]storage ok\n[+]member ok\nreadyz check failed\n");
  expect(await ask(c, "n1", "/readyz", "HEAD")).toEqual({ status: 503, body: "" });
  expect(await ask(c, "n1", "/livez", "HEAD")).toEqual({ status: 200, body: "" });
  // ?noleader skips the one failing check.
  expect(await ask(c, "n1", "/readyz?noleader&verbose")).toEqual({
    status: 200,
    body: "[+]leader excluded: ok\n[+]storage ok\n[+]member ok\nreadyz check passed\n",
  });
  expect((await ask(c, "n1", "/readyz", "POST")).status).toBe(405);
});

test("with a leader every node is ready; verbose lists each check; HEAD 200", async () => {
  const c = await open();
  await elected(c);
  for (const id of c.ids) {
    expect(await ask(c, id, "/readyz")).toEqual({ status: 200, body: "ok\n" });
    expect(await ask(c, id, "/readyz?verbose")).toEqual({
      status: 200,
      body: "[+]leader ok\n[+]storage ok\n[+]member ok\nreadyz check passed\n",
    });
    expect(await ask(c, id, "/readyz", "HEAD")).toEqual({ status: 200, body: "" });
  }
});

test("a node cut off from the others loses its leader and is not ready; /livez stays 200", async () => {
  const c = await open();
  const leader = await elected(c);
  const lone = c.ids.find((id) => id !== leader)!;
  c.disconnect(lone);
  expect(await c.runUntil(() => c.status(lone)!.leader === null, 5_000)).toBe(true);
  const r = await ask(c, lone, "/readyz?verbose");
  expect(r.status).toBe(503);
  expect(r.body).toMatch(/^\[-\]leader failed: no leader known \((pre)?candidate in term \d+\)\n/);
  expect(r.body.endsWith("readyz check failed\n")).toBe(true);
  expect((await ask(c, lone, "/livez")).status).toBe(200);
  // The majority side still has its leader.
  expect((await ask(c, leader, "/readyz")).status).toBe(200);
});

test("a removed node is not ready", async () => {
  const c = await open();
  const leader = await elected(c);
  const gone = c.ids.find((id) => id !== leader)!;
  const removal = await c.settle(c.store(leader).remove(gone), 5_000);
  expect(removal.ok).toBe(true);
  expect(await c.runUntil(() => c.status(gone)!.removed, 5_000)).toBe(true);
  const r = await ask(c, gone, "/readyz?verbose");
  expect(r.status).toBe(503);
  expect(r.body).toContain("[-]member failed: this node was removed from the cluster\n");
  expect((await ask(c, gone, "/readyz?sync&verbose")).body).toContain("[-]sync failed: this node (");
});

test("?sync answers only once this node applied the leader's commit index of the request", async () => {
  const c = await open();
  const leader = await elected(c);
  const follower = c.ids.find((id) => id !== leader)!;
  // Slow links (30 ms each way): a follower learns a commit one message after its leader.
  c.wire.faults = { ...reliableNetwork, delayMinMs: 30, delayMaxMs: 30 };
  void c.store(leader).set([["k", "v"]]);
  const target = c.status(leader)!.lastLogIndex;
  expect(await c.runUntil(() => c.lastApplied(leader) >= target, 2_000)).toBe(true);
  const commitAtRequest = c.status(leader)!.commitIndex;
  expect(c.lastApplied(follower)).toBeLessThan(commitAtRequest);
  // Without ?sync the follower is ready at once, behind as it is.
  expect((await ask(c, follower, "/readyz")).status).toBe(200);
  expect(c.lastApplied(follower)).toBeLessThan(commitAtRequest);
  const t0 = c.scheduler.now;
  const r = await ask(c, follower, "/readyz?sync&verbose&timeout=2s");
  expect(r).toEqual({ status: 200, body: "[+]leader ok\n[+]storage ok\n[+]member ok\n[+]sync ok\nreadyz check passed\n" });
  expect(c.lastApplied(follower)).toBeGreaterThanOrEqual(commitAtRequest);
  // At least the ReadIndex round trip (60 ms) passed in simulated time.
  expect(c.scheduler.now - t0).toBeGreaterThanOrEqual(60);
});

test("?sync gives up after timeout= when the leader cannot answer", async () => {
  const c = await open();
  const leader = await elected(c);
  const follower = c.ids.find((id) => id !== leader)!;
  // The follower still believes in its leader (for an election timeout) but hears nothing back.
  c.blockOneWay(leader, follower);
  const t0 = c.scheduler.now;
  const r = await ask(c, follower, "/readyz?sync&timeout=50ms");
  expect(r.status).toBe(503);
  expect(r.body).toContain("[+]leader ok\n");
  expect(r.body).toContain("[-]sync failed: not caught up with the leader's commit index within 50 ms\n");
  expect(c.scheduler.now - t0).toBeLessThan(60);
  expect((await ask(c, follower, "/readyz?sync&timeout=2h")).status).toBe(400);
});

test("timeout= takes Go-style durations and bare seconds, and refuses the rest", () => {
  expect(parseProbeTimeout(null)).toBe(3000);
  expect(parseProbeTimeout("500ms")).toBe(500);
  expect(parseProbeTimeout("2s")).toBe(2000);
  expect(parseProbeTimeout("1.5s")).toBe(1500);
  expect(parseProbeTimeout("1m")).toBe(60_000);
  expect(parseProbeTimeout("3")).toBe(3000);
  for (const bad of ["0s", "-1s", "2h", "61s", "abc", "1e3"]) expect(() => parseProbeTimeout(bad)).toThrow(/invalid timeout/);
});

test("/status adds uptime on the node's clock and the same checks as /readyz", async () => {
  const c = await open();
  const before = await ask(c, "n1", "/status");
  const s0 = JSON.parse(before.body) as StatusReport;
  expect(s0.health).toEqual({
    ready: false,
    checks: { leader: { ok: false, reason: "no leader known (follower in term 1)" }, storage: { ok: true }, member: { ok: true } },
  });
  await elected(c);
  await c.run(1_000);
  const s1 = JSON.parse((await ask(c, "n1", "/status")).body) as StatusReport;
  expect(s1.health).toEqual({ ready: true, checks: { leader: { ok: true }, storage: { ok: true }, member: { ok: true } } });
  expect(s1.uptime! - s0.uptime!).toBeGreaterThanOrEqual(1);
  expect(s1.uptime!).toBeCloseTo(c.scheduler.now / 1000, 1);
});

/** A Store over a stand-in driver that reports `failure` (the fail-stop error) and a leader. */
function storeWith(failure: unknown, version?: string): Store {
  const members = [{ id: "a", addr: "a:1", suffrage: "voter" }];
  const status = () => ({
    id: "a", role: "leader", leader: "a", term: 2, members, commitIndex: 5, lastApplied: 5, lastLogIndex: 5,
    snapshotIndex: 0, votedFor: null, removed: false,
  });
  const store = new Store({
    id: "a", raftAddr: "a:1", incarnation: "a-test", stateMachine: new KvStateMachine(), sendTo: () => true, requestTimeoutMs: 1000,
    clock: { now: () => 12_500 }, startedAtMs: 10_000, ...(version === undefined ? {} : { version }),
  });
  store.attach({ status, lastApplied: 5, failure } as unknown as RaftNode);
  return store;
}

test("a node stopped by a storage failure is not ready; /status carries version and uptime", async () => {
  const failed = createFetch(storeWith(new Error("EIO: i/o error, fdatasync")));
  const r = await failed(new Request("http://node/readyz"));
  expect(r.status).toBe(503);
  expect(await r.text()).toContain("[-]storage failed: the node stopped on an error: EIO: i/o error, fdatasync\n");
  const s = storeWith(null, "hraftd 1.2.3 (test)").status();
  expect(s.version).toBe("hraftd 1.2.3 (test)");
  expect(s.uptime).toBe(2.5);
  expect(s.health?.ready).toBe(true);
});

test("with -auth the probes need no credentials, and bad credentials do not matter", async () => {
  const auth = new Authenticator({ users: new Map(), anonymousPerms: 0 });
  const fetch = createFetch(storeWith(null), { auth });
  for (const path of ["/livez", "/readyz"]) {
    expect((await fetch(new Request(`http://node${path}`))).status).toBe(200);
    const wrong = new Request(`http://node${path}`, { headers: { authorization: "Basic bm86bm8=" } });
    expect((await fetch(wrong)).status).toBe(200);
  }
  // /status still needs its permission.
  expect((await fetch(new Request("http://node/status"))).status).toBe(401);
  expect(allPerms).toBeGreaterThan(0);
});
