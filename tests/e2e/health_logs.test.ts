// Goal: probes and structured logs on the compiled binary (issue 15, items 1, 4 and 8).
// Method: a 3-node cluster started with -log-format json. The README's curl examples run as
// written (ports substituted): /livez and /readyz with -i and ?verbose, HEAD, ?sync, /status's
// version, uptime and health. Then SIGKILL of the leader: each survivor logs exactly one
// election line carrying the new term, and no node ever logs at error level. Then SIGKILL of
// the new leader: the lone survivor is not ready (503, the leader check failing) but live.
// Every line any node writes to stderr, its SIGTERM at the end included, parses as JSON.

import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Cluster, type TestNode } from "../support/cluster.ts";

const cluster = new Cluster({ commonArgs: ["-log-format", "json"] });
afterAll(() => cluster.cleanup());

interface LogLine {
  readonly ts: string;
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** Every line the node wrote (all its runs), parsed; throws naming a line that is not JSON. */
function jsonLines(node: TestNode): LogLine[] {
  const text = readFileSync(node.logPath, "utf8");
  // Lines starting "---- " are the test harness's own notes (start, exit), not the node's.
  const lines = text.split("\n").filter((l) => l !== "" && !l.startsWith("---- "));
  return lines.map((l) => {
    try {
      const o = JSON.parse(l) as LogLine;
      if (typeof o.ts !== "string" || typeof o.level !== "string" || typeof o.msg !== "string") throw new Error("missing ts/level/msg");
      return o;
    } catch (e) {
      throw new Error(`${node.id} wrote a line that is not a JSON log line (${(e as Error).message}): ${l}`);
    }
  });
}

/** Runs a README command line through sh; stdout, and the exit status. */
function sh(command: string): { out: string; code: number | null } {
  const r = spawnSync("sh", ["-c", command], { encoding: "utf8", timeout: 10_000 });
  return { out: r.stdout ?? "", code: r.status };
}

/** The README examples, for a node whose HTTP address is `addr` (localhost:11000 in the README). */
function readme(addr: string): Record<string, string> {
  return {
    livez: `curl -i ${addr}/livez`,
    readyz: `curl -i '${addr}/readyz?verbose'`,
    readyzHead: `curl -sI ${addr}/readyz`,
    readyzSync: `curl -s -o /dev/null -w '%{http_code}\\n' '${addr}/readyz?sync&timeout=2s'`,
    statusHealth: `curl -s ${addr}/status`,
  };
}


test("probes, one election line per survivor, no error line, JSON on every stderr line", async () => {
  const node0 = await cluster.add({ id: "node0" });
  await cluster.waitLeader([node0], 5_000);
  const node1 = await cluster.add({ id: "node1", join: node0 });
  const node2 = await cluster.add({ id: "node2", join: node0 });
  const all = [node0, node1, node2];
  await cluster.waitVoters(node0, ["node0", "node1", "node2"]);
  const leader = await cluster.waitLeader(all);
  // A follower learns the leader's commit index with the next heartbeat; wait for all to be ready.
  for (const node of all) await cluster.poll(`${node.id} ready`, async () => (sh(`curl -s -o /dev/null -w '%{http_code}' ${node.httpAddr}/readyz`).out === "200" ? true : undefined), 5_000);

  for (const node of all) {
    const ex = readme(node.httpAddr);
    const live = sh(ex.livez!);
    expect(live.out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(live.out.endsWith("\r\n\r\nok\n")).toBe(true);
    const ready = sh(ex.readyz!);
    expect(ready.out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(ready.out.split("\r\n\r\n")[1]).toBe("[+]leader ok\n[+]storage ok\n[+]member ok\nreadyz check passed\n");
    expect(sh(ex.readyzHead!).out).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: 0\r\n/i);
    expect(sh(ex.readyzSync!).out).toBe("200\n");
    const status = await node.status();
    expect(status.version).toMatch(/^hraftd \S+ \(/);
    expect(status.uptime).toBeGreaterThan(0);
    expect(status.health).toEqual({ ready: true, checks: { leader: { ok: true }, storage: { ok: true }, member: { ok: true } } });
    expect(JSON.parse(sh(ex.statusHealth!).out)).toMatchObject({ version: status.version, health: { ready: true } });
  }

  // SIGKILL of the leader: each survivor logs one election line, with the new term.
  const survivors = all.filter((n) => n !== leader);
  const before = new Map(survivors.map((n) => [n.id, jsonLines(n).length]));
  await leader.kill9();
  const next = await cluster.waitLeader(survivors, 10_000);
  const term = (await next.status()).term;
  // Both know the outcome; give the slower one's line a moment to be written.
  await cluster.poll("one election line per survivor", async () => {
    const counts = survivors.map((n) => jsonLines(n).slice(before.get(n.id)).filter((l) => l["event"] === "election").length);
    return counts.every((c) => c >= 1) ? true : undefined;
  }, 5_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const n of survivors) {
    const since = jsonLines(n).slice(before.get(n.id));
    const elections = since.filter((l) => l["event"] === "election");
    expect(elections).toHaveLength(1);
    expect(elections[0]!["term"]).toBe(term);
    expect(elections[0]!["leader"]).toBe(next.id);
    expect(String(elections[0]!["outcome"])).toMatch(n === next ? /^won$/ : /^(lost|follower)$/);
    // The link to the dead leader went down once: one line with its address.
    expect(since.filter((l) => l["event"] === "peer_down" && l["peer"] === leader.raftAddr)).toHaveLength(1);
    expect((await request(n, "/readyz")).status).toBe(200);
  }
  for (const n of all) expect(jsonLines(n).filter((l) => l.level === "error")).toEqual([]);

  // Kill the new leader too: the lone survivor has no quorum, loses its leader, is not ready.
  const lone = survivors.find((n) => n !== next)!;
  await next.kill9();
  const notReady = await cluster.poll("the lone survivor to be not ready", async () => {
    const r = await request(lone, "/readyz?verbose");
    return r.status === 503 ? r : undefined;
  }, 10_000, 100);
  expect(notReady.text).toMatch(/^\[-\]leader failed: no leader known \(\w+ in term \d+\)\n\[\+\]storage ok\n\[\+\]member ok\nreadyz check failed\n$/);
  expect(sh(`curl -s -o /dev/null -w '%{http_code}' ${lone.httpAddr}/livez`).out).toBe("200");
  expect(sh(`curl -s -o /dev/null -w '%{http_code}' '${lone.httpAddr}/readyz?noleader'`).out).toBe("200");

  // SIGTERM: the shutdown line is JSON too; then every line any node wrote is.
  await lone.stop("SIGTERM");
  for (const n of all) jsonLines(n);
  expect(jsonLines(lone).some((l) => l["event"] === "shutdown" && l["signal"] === "SIGTERM")).toBe(true);
  for (const n of all) expect(jsonLines(n).filter((l) => l.level === "error")).toEqual([]);
}, 40_000);

/** GET `path` on `node` with a short deadline. */
async function request(node: TestNode, path: string): Promise<{ status: number; text: string }> {
  const r = await fetch(node.url(path), { signal: AbortSignal.timeout(3_000) });
  return { status: r.status, text: await r.text() };
}
