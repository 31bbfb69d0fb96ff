// Goal: GET /metrics of the compiled binary in a 3-node cluster: exactly one node says it
// leads, every node knows a leader, proposals committed grow with writes on every node,
// WAL fsyncs are timed, the leader measures round trips to both followers, a follower counts
// the writes it forwarded; promtool finds no problem in any node's real output; and the
// README's curl examples answer as they say.
// Method: three processes of dist/hraftd-linux-x64 (tests/support/cluster.ts), writes through
// the leader and through a follower, each node's /metrics read back by the strict parser.

import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { Cluster, request, type TestNode } from "../support/cluster.ts";
import { promtool, runPromtool } from "../unit/metrics/promtool.ts";
import { checkHistograms, parseText, valueOf } from "../unit/metrics/text_parser.ts";

const cluster = new Cluster();
afterAll(() => cluster.cleanup());

/** The README's examples (README "Metrics"), run against node1 in place of localhost:11000. */
const readmeCurl = `curl -s localhost:11000/metrics | grep -E '^etcd_server_(has_leader|is_leader) '
curl -s localhost:11000/metrics | promtool check metrics`;

async function scrape(node: TestNode) {
  const r = await request("GET", node.url("/metrics"));
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const families = parseText(r.text);
  checkHistograms(families);
  return { text: r.text, v: (name: string, labels: Record<string, string> = {}) => valueOf(families, name, labels) };
}

test("three nodes of the binary: leader, proposals, fsync, peers, forwarding; promtool; README curl", async () => {
  const node1 = await cluster.add({ id: "node1" });
  await cluster.waitLeader([node1], 5_000);
  const node2 = await cluster.add({ id: "node2", join: node1 });
  const node3 = await cluster.add({ id: "node3", join: node1 });
  const all = [node1, node2, node3];
  await cluster.waitVoters(node1, ["node1", "node2", "node3"]);
  const leader = await cluster.waitLeader(all);
  const followers = all.filter((n) => n !== leader);

  const before = await Promise.all(all.map(scrape));
  for (let i = 0; i < 10; i++) expect((await leader.set({ [`k${i}`]: `v${i}` })).status).toBe(200);
  for (let i = 0; i < 5; i++) expect((await followers[0]!.set({ [`f${i}`]: `w${i}` })).status).toBe(200);
  await cluster.waitHolds(followers[1]!, { k9: "v9", f4: "w4" });
  // A few heartbeat rounds (every 100 ms by default) for the round-trip histogram.
  await Bun.sleep(500);
  const after = await Promise.all(all.map(scrape));

  expect(after.map((m) => m.v("etcd_server_is_leader")).reduce((a, b) => a! + b!, 0)).toBe(1);
  expect(after[all.indexOf(leader)]!.v("etcd_server_is_leader")).toBe(1);
  for (const [i, m] of after.entries()) {
    expect(m.v("etcd_server_has_leader")).toBe(1);
    // 15 writes, each one entry, committed everywhere.
    expect(m.v("etcd_server_proposals_committed_total")! - before[i]!.v("etcd_server_proposals_committed_total")!).toBeGreaterThanOrEqual(15);
    expect(m.v("etcd_disk_wal_fsync_duration_seconds_count")).toBeGreaterThan(0);
    expect(m.v("process_resident_memory_bytes")).toBeGreaterThan(10 * 1024 * 1024);
  }
  const l = after[all.indexOf(leader)]!;
  for (const f of followers) {
    expect(l.v("etcd_network_peer_round_trip_time_seconds_count", { To: f.id })).toBeGreaterThan(0);
    // Loopback: well under 100 ms per round trip on average.
    expect(l.v("etcd_network_peer_round_trip_time_seconds_sum", { To: f.id })! / l.v("etcd_network_peer_round_trip_time_seconds_count", { To: f.id })!).toBeLessThan(0.1);
  }
  expect(l.v("etcd_server_proposals_applied_total")).toBe(l.v("etcd_server_proposals_committed_total"));
  expect(l.v("hraftd_http_requests_total", { route: "/key", method: "POST", code: "200" })).toBe(10);
  expect(l.v("hraftd_forwarded_served_total", { op: "set" })).toBe(5);
  const f0 = after[all.indexOf(followers[0]!)]!;
  expect(f0.v("hraftd_forwarded_requests_total", { op: "set" })).toBe(5);
  expect(f0.v("hraftd_forwarded_replies_total", { result: "ok" })).toBe(5);
  expect(f0.v("hraftd_http_request_duration_seconds_count", { route: "/key", method: "POST" })).toBe(5);

  if (promtool === null) {
    console.log("promtool not installed: promtool checks of the real output and the README's curl examples skipped");
    return;
  }
  for (const m of after) expect(runPromtool(["check", "metrics"], m.text)).toEqual({ status: 0, output: "" });
  const script = readmeCurl.replaceAll("localhost:11000", node1.httpAddr);
  const lines = script.split("\n");
  const first = spawnSync("bash", ["-o", "pipefail", "-c", lines[0]!], { encoding: "utf8" });
  const isLeader = node1 === leader ? 1 : 0;
  expect(first.stdout).toBe(`etcd_server_has_leader 1\netcd_server_is_leader ${isLeader}\n`);
  const second = spawnSync("bash", ["-o", "pipefail", "-c", lines[1]!], { encoding: "utf8" });
  expect({ status: second.status, output: second.stdout + second.stderr }).toEqual({ status: 0, output: "" });
}, 40_000);
