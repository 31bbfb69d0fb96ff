// Goal: GET /metrics of production nodes says what happened: one leader, leader changes,
// proposals committed and applied, WAL fsyncs and snapshot saves timed, peer round trips
// measured on the leader, send failures per peer, forwarded requests on both ends, ReadIndex
// rounds, HTTP requests by route, method and code; and promtool finds no problem in it.
// Method: three nodes built by openNode on simulated seams (tests/sim/world), driven through
// their HTTP handlers; the leader's transport refuses sends to n3 for a while (a link in
// backoff answers so); then each node's /metrics is read back by the strict parser.

import { describe, expect, test } from "bun:test";
import { openNode, type OpenedNode } from "../../../open_node.ts";
import { RequestCounts, Proposals, Reads } from "../../../raft/requests.ts";
import { createSimRng } from "../../sim/prng.ts";
import { Scheduler } from "../../sim/scheduler.ts";
import { SimDisk } from "../../sim/sim_disk.ts";
import { drainMicrotasks, SimProcess } from "../../sim/world/sim_process.ts";
import { simSeams } from "../../sim/world/sim_seams.ts";
import { SimWire } from "../../sim/world/sim_wire.ts";
import { promtool, runPromtool } from "./promtool.ts";
import { checkHistograms, parseText, type ParsedFamily, valueOf } from "./text_parser.ts";

const ids = ["n1", "n2", "n3"] as const;
const addrOf = (id: string): string => `${id}.sim:7000`;

async function openCluster() {
  const scheduler = new Scheduler();
  const rng = createSimRng(11);
  const wire = new SimWire(scheduler, rng.fork("wire"));
  const nodes = new Map<string, OpenedNode>();
  /** Sends from n1 to this address are refused by its transport, as a link in backoff does. */
  const refused = { addr: "" };
  for (const id of ids) {
    const proc = new SimProcess(scheduler, id);
    const logger = { info: () => undefined, warn: () => undefined, error: (l: string) => console.error(`${id} ${l}`) };
    const seams = simSeams({ proc, disk: proc.fence(new SimDisk()), wire, addr: addrOf(id), tickMs: 10, rng: rng.fork(id), logger });
    const opened = openNode(
      {
        nodeId: id, raftAddr: addrOf(id), dataDir: `/data/${id}`, isJoining: false,
        electionTicks: id === "n1" ? 10 : 40, heartbeatTicks: 2, tickMs: 10,
        snapshotThresholdEntries: 4, snapshotTrailingEntries: 2, walPreallocateBytes: 0,
        requestTimeoutMs: 2000, bodyBytesMax: 1024, version: "v-test",
        bootstrapMembers: ids.map((m) => ({ id: m, addr: addrOf(m), suffrage: "voter" as const })),
      },
      {
        ...seams,
        openTransport: (onMessage) => {
          const t = seams.openTransport(onMessage);
          return { ...t, send: (addr, msg) => (id === "n1" && addr === refused.addr ? false : t.send(addr, msg)) };
        },
        onFatal: (e) => console.error(`${id} FATAL ${String(e)}`),
      },
    );
    nodes.set(id, opened);
    await opened.start();
  }
  const settle = async <T>(promise: Promise<T>): Promise<T> => {
    let done = false;
    promise.then(() => (done = true), () => (done = true));
    for (let i = 0; i < 200_000 && !done; i++) {
      scheduler.runOne();
      await drainMicrotasks();
    }
    return promise;
  };
  const run = async (ms: number): Promise<void> => {
    const end = scheduler.now + ms;
    while (scheduler.peekTime() <= end) {
      scheduler.runOne();
      await drainMicrotasks();
    }
  };
  const fetch = (id: string, path: string, init?: RequestInit): Promise<Response> =>
    settle(Promise.resolve(nodes.get(id)!.fetch(new Request(`http://${id}${path}`, init))));
  const metrics = async (id: string): Promise<{ text: string; families: Map<string, ParsedFamily> }> => {
    const r = await fetch(id, "/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await r.text();
    return { text, families: parseText(text) };
  };
  return { nodes, run, fetch, metrics, refused };
}

describe("GET /metrics of three nodes built by openNode", async () => {
  const c = await openCluster();
  await c.run(1000);
  for (let i = 0; i < 3; i++) expect((await c.fetch("n1", "/key", { method: "POST", body: `{"a${i}":"x"}` })).status).toBe(200);
  for (let i = 0; i < 2; i++) expect((await c.fetch("n2", "/key", { method: "POST", body: `{"b${i}":"y"}` })).status).toBe(200);
  expect((await c.fetch("n2", "/key/a0?level=linearizable")).status).toBe(200);
  expect((await c.fetch("n2", "/key/a0", { method: "PUT" })).status).toBe(405);
  expect((await c.fetch("n2", "/nowhere")).status).toBe(404);
  c.refused.addr = addrOf("n3");
  await c.run(300);
  c.refused.addr = "";
  await c.run(1000);
  const scraped = new Map<string, Awaited<ReturnType<typeof c.metrics>>>();
  for (const id of ids) scraped.set(id, await c.metrics(id));
  const v = (id: string, name: string, labels: Record<string, string> = {}): number | undefined => valueOf(scraped.get(id)!.families, name, labels);

  test("one leader, known everywhere; one leader change seen; term and indexes", () => {
    expect(ids.map((id) => v(id, "etcd_server_is_leader"))).toEqual([1, 0, 0]);
    expect(ids.map((id) => v(id, "etcd_server_has_leader"))).toEqual([1, 1, 1]);
    expect(ids.map((id) => v(id, "etcd_server_leader_changes_seen_total"))).toEqual([1, 1, 1]);
    const term = v("n1", "hraftd_raft_term")!;
    expect(term).toBeGreaterThan(0);
    for (const id of ids) {
      expect(v(id, "hraftd_raft_term")).toBe(term);
      const status = c.nodes.get(id)!.node.status();
      expect(v(id, "hraftd_raft_commit_index")).toBe(status.commitIndex);
      expect(v(id, "etcd_server_proposals_committed_total")).toBe(status.commitIndex);
      expect(v(id, "etcd_server_proposals_applied_total")).toBe(c.nodes.get(id)!.node.lastApplied);
      expect(v(id, "hraftd_raft_applied_index")).toBe(c.nodes.get(id)!.node.lastApplied);
      // Bootstrap configuration, the leader's empty entry, five writes.
      expect(status.commitIndex).toBeGreaterThanOrEqual(7);
      expect(v(id, "etcd_server_proposals_pending")).toBe(0);
      expect(v(id, "etcd_server_proposals_failed_total")).toBe(0);
    }
  });

  test("WAL fsyncs and snapshot saves are timed on every node", () => {
    for (const id of ids) {
      expect(v(id, "etcd_disk_wal_fsync_duration_seconds_count")).toBeGreaterThan(0);
      expect(v(id, "etcd_debugging_snap_save_total_duration_seconds_count")).toBeGreaterThan(0);
      expect(v(id, "hraftd_snapshot_size_bytes")).toBeGreaterThan(0);
    }
  });

  test("the leader measures round trips to each follower and counts the sends refused to n3", () => {
    for (const peer of ["n2", "n3"]) {
      expect(v("n1", "etcd_network_peer_round_trip_time_seconds_count", { To: peer })).toBeGreaterThan(5);
      expect(v("n1", "etcd_network_peer_round_trip_time_seconds_sum", { To: peer })).toBeGreaterThan(0);
    }
    // Heartbeats every 2 ticks of 10 ms for 300 ms: about 15 refused, none to n2.
    expect(v("n1", "etcd_network_peer_sent_failures_total", { To: "n3" })).toBeGreaterThanOrEqual(10);
    expect(v("n1", "etcd_network_peer_sent_failures_total", { To: "n2" })).toBeUndefined();
    expect(v("n2", "etcd_network_peer_round_trip_time_seconds_count", { To: "n1" })).toBeUndefined();
  });

  test("forwarded requests on both ends; ReadIndex rounds of the follower's read", () => {
    expect(v("n2", "hraftd_forwarded_requests_total", { op: "set" })).toBe(2);
    expect(v("n2", "hraftd_forwarded_replies_total", { result: "ok" })).toBe(2);
    expect(v("n1", "hraftd_forwarded_served_total", { op: "set" })).toBe(2);
    expect(v("n1", "hraftd_forwarded_requests_total", { op: "set" })).toBeUndefined();
    expect(v("n2", "hraftd_read_index_rounds_total")).toBe(1);
    expect(v("n2", "etcd_server_read_indexes_failed_total")).toBe(0);
  });

  test("HTTP requests by route, method and code, with latency", () => {
    expect(v("n1", "hraftd_http_requests_total", { route: "/key", method: "POST", code: "200" })).toBe(3);
    expect(v("n2", "hraftd_http_requests_total", { route: "/key", method: "POST", code: "200" })).toBe(2);
    expect(v("n2", "hraftd_http_requests_total", { route: "/key/:k", method: "GET", code: "200" })).toBe(1);
    expect(v("n2", "hraftd_http_requests_total", { route: "/key/:k", method: "PUT", code: "405" })).toBe(1);
    expect(v("n2", "hraftd_http_requests_total", { route: "unmatched", method: "GET", code: "404" })).toBe(1);
    expect(v("n2", "hraftd_http_request_duration_seconds_count", { route: "/key", method: "POST" })).toBe(2);
    // A forwarded write waits for the leader: simulated network time, so more than zero.
    expect(v("n2", "hraftd_http_request_duration_seconds_sum", { route: "/key", method: "POST" })).toBeGreaterThan(0);
  });

  test("process and build: memory, version; histograms well formed", () => {
    for (const id of ids) {
      expect(v(id, "process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024);
      expect(v(id, "hraftd_build_info", { version: "v-test" })).toBe(1);
      expect(v(id, "nodejs_eventloop_lag_seconds")).toBe(0);
      checkHistograms(scraped.get(id)!.families);
    }
  });

  test("the first scrape starts the lag sampler; the next scrape shows its samples", async () => {
    await c.run(2000);
    const again = await c.metrics("n1");
    // Simulated timers fire on time: ~4 samples of zero lag in 2 s (every 500 ms).
    expect(valueOf(again.families, "hraftd_event_loop_lag_seconds_count")).toBeGreaterThanOrEqual(3);
    // The scrape itself is counted by the next one.
    expect(valueOf(again.families, "hraftd_http_requests_total", { route: "/metrics", method: "GET", code: "200" })).toBe(1);
    const n1 = c.nodes.get("n1")!;
    await n1.stop();
    expect(scraped.size).toBe(3);
  });

  test.skipIf(promtool === null)("promtool check metrics reports no problems on any node", () => {
    for (const id of ids) {
      const r = runPromtool(["check", "metrics"], scraped.get(id)!.text);
      expect({ id, output: r.output, status: r.status }).toEqual({ id, output: "", status: 0 });
    }
  });
});

describe("the driver's request counts", () => {
  test("a proposal that times out is pending, then failed; a dropped ReadIndex round fails", () => {
    const timers = new Map<number, () => void>();
    let next = 1;
    const fake = { setTimeout: (fn: () => void) => (timers.set(next, fn), next++), clearTimeout: (h: unknown) => void timers.delete(h as number) };
    const counts = new RequestCounts();
    const proposals = new Proposals(fake, 100, counts);
    proposals.wait(5, 1).catch(() => undefined);
    proposals.wait(6, 1).catch(() => undefined);
    expect([counts.proposalsPending, counts.proposalsFailed]).toEqual([2, 0]);
    proposals.applied(5, 1, null);
    for (const fn of [...timers.values()]) fn();
    expect([counts.proposalsPending, counts.proposalsFailed]).toEqual([0, 1]);
    const reads = new Reads({ timers: fake, timeoutMs: 100, waitingMax: 10, ctxPrefix: "n1/x", counts });
    reads.read().catch(() => undefined);
    const ctx = reads.takeOpen()!;
    reads.dropped(ctx);
    expect([counts.readIndexRounds, counts.readIndexFailed]).toEqual([1, 1]);
  });
});
