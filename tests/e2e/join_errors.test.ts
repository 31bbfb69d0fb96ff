// Goal (issue 12, item 11): joins that cannot work end clearly.
// - POST /join of a well-formed address where nothing listens, sent to a follower: answered
//   before the follower's own request timeout (so never "outcome unknown"), with a JSON error
//   naming the learner it left and the POST /remove that undoes it; that undo works.
// - -join at a member that accepts connections but never answers, or where nothing listens:
//   the node gives up after -join-timeout, prints one line naming the address, exits 1.
// - -join at a member that comes up a little later: the node keeps trying and joins.
// Method: the compiled binary, real processes on loopback; a TCP server that never answers.

import { afterAll, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { Cluster, freePort, jsonOf, request } from "../support/cluster.ts";

const cluster = new Cluster();
afterAll(() => cluster.cleanup());

test("a join of an address where nothing listens, through a follower: a clear 503 naming the learner, and its undo", async () => {
  const n1 = await cluster.add({ id: "n1" });
  await cluster.waitLeader([n1], 5_000);
  const n2 = await cluster.add({ id: "n2", join: n1 });
  await cluster.waitVoters(n1, ["n1", "n2"]);
  const ghostAddr = `localhost:${await freePort()}`;

  const started = performance.now();
  const r = await request("POST", n2.url("/join"), { id: "ghost", addr: ghostAddr });
  const tookMs = performance.now() - started;
  expect(r.status).toBe(503);
  expect(tookMs).toBeLessThan(9_000);
  const error = (jsonOf(r) as { error: string }).error;
  expect(error).not.toMatch(/outcome/i);
  expect(error).toContain(`ghost (${ghostAddr})`);
  expect(error).toContain("learner");
  expect(error).toContain('POST /remove {"id":"ghost"}');
  const members = (await n1.status()).members;
  expect(members.find((m) => m.id === "ghost")).toEqual({ id: "ghost", addr: ghostAddr, suffrage: "learner" });

  expect((await request("POST", n2.url("/remove"), { id: "ghost" })).status).toBe(200);
  await cluster.waitVoters(n1, ["n1", "n2"]);
}, 30_000);

/** A TCP server on 127.0.0.1 that accepts every connection and never writes a byte. */
async function silentServer(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return { server, port: typeof address === "object" && address !== null ? address.port : 0, sockets };
}

/** Starts `id` with -join `joinAddr` and -join-timeout 2s; returns its exit, log and time taken. */
async function startJoining(id: string, joinAddr: string) {
  const node = await cluster.add({ id, join: joinAddr, extraArgs: ["-join-timeout", "2s"] });
  const started = performance.now();
  const exit = await cluster.poll(`${id} to exit`, async () => (node.isRunning ? undefined : true), 20_000);
  return { exit, tookMs: performance.now() - started, node };
}

for (const kind of ["accepts connections but never answers", "has nothing listening"] as const) {
  test(`-join at an address that ${kind}: gives up after -join-timeout with one line, exit 1`, async () => {
    const silent = kind.startsWith("accepts") ? await silentServer() : null;
    const joinAddr = `127.0.0.1:${silent?.port ?? (await freePort())}`;
    try {
      const id = silent === null ? "lonely" : "hopeful";
      const { tookMs, node } = await startJoining(id, joinAddr);
      expect(tookMs).toBeLessThan(8_000);
      const lines = node.log.trimEnd().split("\n");
      expect(lines.at(-1)).toMatch(/^---- exit: code 1 /);
      const last = lines.at(-2) ?? "";
      expect(last).toStartWith(`hraftd: could not join the cluster through ${joinAddr} within 2s`);
      expect(last).toContain("-join-timeout");
      expect(node.log).not.toMatch(/\n\s+at |Bun v/);
    } finally {
      for (const s of silent?.sockets ?? []) s.destroy();
      silent?.server.close();
    }
  }, 30_000);
}

test("-join at a member that starts a little later: the node keeps trying and joins", async () => {
  const leader = await cluster.define({ id: "late" });
  await cluster.add({ id: "early", join: leader });
  await Bun.sleep(1_500);
  leader.start();
  await cluster.waitVoters(leader, ["late", "early"], 20_000);
}, 30_000);
