// Goal (issue 12, items 11 and 13): joins that meet a change already under way answer as soon
// as the member is in, and a join of an address that never answers says what it left behind.
// - Two identical joins at once, while another change is in flight: both answer 200 as soon
//   as the node is a voter (the second used to wait for an entry already applied, or for one
//   the first was already waiting on, and failed).
// - A join of a well-formed address where nothing listens answers within the request timeout
//   (not "outcome unknown"), naming the learner it left and the POST /remove that undoes it.
// Method: real nodes in this process (server.ts's startNode: real core, driver, store,
// transport and HTTP on loopback, -inmem); the node being joined is a real node whose own
// -join is held by a stub member, so only the test's joins add it.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, parseFlags } from "../../../flags.ts";
import type { Logger } from "../../../raft/host.ts";
import { type RunningNode, startNode } from "../../../server.ts";
import { StoreError } from "../../../store/errors.ts";
import { freePort } from "../../support/cluster.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
let root: string;
const running: RunningNode[] = [];
const stubMembers: ReturnType<typeof Bun.serve>[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "hraftd-join-"));
});
afterAll(async () => {
  for (const node of running) await node.stop();
  for (const stub of stubMembers) stub.stop(true);
  rmSync(root, { recursive: true, force: true });
});

async function config(id: string, extra: string[] = []): Promise<Config> {
  const args = ["-id", id, "-inmem", "-haddr", `localhost:${await freePort()}`, "-raddr", `localhost:${await freePort()}`];
  const out = parseFlags([...args, ...extra, join(root, id)], "test");
  if (out.kind !== "run") throw new Error(out.stderr);
  return out.config;
}

async function leader(id: string): Promise<RunningNode> {
  const node = await startNode(await config(id), quiet);
  running.push(node);
  for (let i = 0; i < 200 && node.store.status().state !== "leader"; i++) await Bun.sleep(10);
  expect(node.store.status().state).toBe("leader");
  return node;
}

/**
 * A real node started with -join at a stub that holds its join request unanswered: its Raft
 * transport runs, but it is added only by the joins the test makes. Resolves with its Raft
 * address once the held request has arrived (the node is fully up by then).
 */
async function joiningNode(id: string): Promise<string> {
  let arrived: () => void = () => {};
  const held = new Promise<void>((resolve) => (arrived = resolve));
  const stubMember = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => {
      arrived();
      return new Promise<Response>(() => {});
    },
  });
  stubMembers.push(stubMember);
  const cfg = await config(id, ["-join", `127.0.0.1:${stubMember.port}`, "-join-timeout", "1m"]);
  void startNode(cfg, quiet).catch(() => {});
  await held;
  return cfg.raftAddr;
}

function voters(node: RunningNode): string[] {
  return node.store.status().members.filter((m) => m.suffrage === "voter").map((m) => m.id).sort();
}

// Sent in the same turn, the second finds each step proposed by the first and not yet applied;
// sent 10 ms apart, it finds a step already applied (the first proposed it, the second waited).
for (const [n, staggerMs] of [[2, 0], [3, 10]] as const) {
  test(`two identical joins ${staggerMs} ms apart while another change is in flight: both answer once the node is a voter`, async () => {
    const n1 = running[0] ?? (await leader("n1"));
    const id = `n${n}`;
    const addr = await joiningNode(id);
    // A join with a wrong address puts a change in flight; the corrected join, sent twice,
    // must replace it (remove, then add): the second must wait for the first's entries or
    // see them applied, never fail or wait for an entry that will not come.
    const wrongAddr = `localhost:${await freePort()}`;
    const before = n1.store.status().lastIndex;
    const wrong = n1.store.join(id, wrongAddr).catch(() => {});
    const started = performance.now();
    const first = n1.store.join(id, addr);
    if (staggerMs > 0) await Bun.sleep(staggerMs);
    const results = await Promise.allSettled([first, n1.store.join(id, addr)]);
    const tookMs = performance.now() - started;
    expect(results.map((r) => (r.status === "fulfilled" ? "ok" : String(r.reason)))).toEqual(["ok", "ok"]);
    expect(tookMs).toBeLessThan(3_000);
    expect(voters(n1)).toContain(id);
    expect(n1.store.status().members.find((m) => m.id === id)?.addr).toBe(addr);
    // Four membership entries and no more: add at the wrong address, remove it, add at the
    // right one, promote. A join that undid the other's steps would add more.
    expect(n1.store.status().lastIndex - before).toBe(4);
    await wrong;
  }, 15_000);
}

test("a join of an address where nothing listens answers in time, naming the learner and how to remove it", async () => {
  const n1 = running[0]!;
  const ghostAddr = `localhost:${await freePort()}`;
  const started = performance.now();
  const error = await n1.store.join("ghost", ghostAddr).then(() => null, (e: unknown) => e);
  const tookMs = performance.now() - started;
  expect(error).toBeInstanceOf(StoreError);
  const e = error as StoreError;
  // Answered before a follower forwarding this join would give up (10 s): never "outcome unknown".
  expect(e.code).toBe("timeout");
  expect(tookMs).toBeLessThan(9_000);
  expect(e.message).toContain(`ghost (${ghostAddr})`);
  expect(e.message).toContain("learner");
  expect(e.message).toContain('POST /remove {"id":"ghost"}');
  // What it says it left is what is there, and the undo it names works.
  expect(n1.store.status().members.find((m) => m.id === "ghost")?.suffrage).toBe("learner");
  await n1.store.remove("ghost");
  expect(n1.store.status().members.map((m) => m.id).sort()).toEqual(["n1", "n2", "n3"]);
}, 20_000);
