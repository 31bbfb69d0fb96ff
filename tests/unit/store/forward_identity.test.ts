// Goal: a forwarded request carries the user the asking node authenticated; the leader checks
// that user's permission with its own users file only when the Raft transport authenticates
// peers, and otherwise gives the request the "*" user's permissions and says why; frames
// without a user (from nodes without -auth, or older ones) decode as anonymous, and a frame
// with a malformed user is refused on decode.
// Method: the wire format through storeMessageValue / parseStoreMessage and the real envelope
// codec; then three production nodes built by openNode on simulated seams (disk, wire, clock),
// each with its own users file, requests sent to a follower's HTTP handler with Basic auth.
// n1 has the shortest election timeout, so it leads and n2, n3 are followers.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openNode, type OpenedNode, StartError } from "../../../open_node.ts";
import { decodeEnvelope, encodeEnvelope } from "../../../raft/envelope.ts";
import { parseStoreMessage, type StoreMessage, storeMessageValue } from "../../../store/forward.ts";
import { createSimRng } from "../../sim/prng.ts";
import { Scheduler } from "../../sim/scheduler.ts";
import { SimDisk } from "../../sim/sim_disk.ts";
import { drainMicrotasks, SimProcess } from "../../sim/world/sim_process.ts";
import { simSeams } from "../../sim/world/sim_seams.ts";
import { SimWire } from "../../sim/world/sim_wire.ts";

describe("the forwarded request's user on the wire", () => {
  const op = { type: "set", pairs: [["k", "v"]] } as const;
  const roundTrip = (m: StoreMessage): StoreMessage | null => {
    const env = decodeEnvelope(encodeEnvelope({ kind: "store", fromAddr: "n2:1", payload: storeMessageValue(m) }));
    return env.kind === "store" ? parseStoreMessage(env.payload) : null;
  };

  test("a user travels; no user is the old three-element frame; an old frame decodes as anonymous", () => {
    expect(roundTrip({ type: "forward", reqId: "i.1", op, user: "alice" })).toEqual({ type: "forward", reqId: "i.1", op, user: "alice" });
    expect(storeMessageValue({ type: "forward", reqId: "i.1", op, user: null })).toEqual([0, "i.1", [0, ["k", "v"]]]);
    expect(parseStoreMessage([0, "i.1", [0, ["k", "v"]]])).toEqual({ type: "forward", reqId: "i.1", op, user: null });
    expect(parseStoreMessage([0, "i.1", [0, ["k", "v"]], null])).toEqual({ type: "forward", reqId: "i.1", op, user: null });
  });

  test("a malformed user refuses the whole frame", () => {
    for (const user of [5, "", "*", "a:b", "a\nb", "x".repeat(257), ["alice"], { user: "alice" }]) {
      expect(parseStoreMessage([0, "i.1", [0, ["k", "v"]], user])).toBeNull();
    }
    expect(parseStoreMessage([0, "i.1", [0, ["k", "v"]], "alice", "extra"])).toBeNull();
  });
});

const dir = mkdtempSync(join(tmpdir(), "forward-identity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hashOf = (pw: string): string => Bun.password.hashSync(pw, { algorithm: "bcrypt", cost: 4 });
const hashes = { everywhere: hashOf("e-pw"), local: hashOf("l-pw") };
const ids = ["n1", "n2", "n3"] as const;
const addrOf = (id: string): string => `${id}.sim:7000`;

/**
 * Node `id`'s users file: "everywhere" may write on every node, "local-<id>" only on its own,
 * "reader" only reads, "*" gets `anonymous`.
 */
function usersFileOf(id: string, anonymous: string[]): string {
  const path = join(dir, `${id}-${anonymous.join("-")}.json`);
  writeFileSync(path, JSON.stringify([
    { username: "everywhere", password: hashes.everywhere, perms: ["write", "read"] },
    { username: `local-${id}`, password: hashes.local, perms: ["write"] },
    { username: "reader", password: hashes.everywhere, perms: ["read"] },
    { username: "*", perms: anonymous },
  ]));
  return path;
}

/** Three nodes by openNode on one simulated wire; n1 leads. */
async function openCluster(options: { peersAuthenticated: boolean; anonymous: string[] }) {
  const scheduler = new Scheduler();
  const rng = createSimRng(7);
  const wire = new SimWire(scheduler, rng.fork("wire"));
  const log: string[] = [];
  let checks = 0;
  const nodes = new Map<string, OpenedNode>();
  for (const id of ids) {
    const proc = new SimProcess(scheduler, id);
    const logger = { info: (l: string) => log.push(`${id} ${l}`), warn: (l: string) => log.push(`${id} WARN ${l}`), error: (l: string) => log.push(`${id} ERROR ${l}`) };
    const opened = openNode(
      {
        nodeId: id, raftAddr: addrOf(id), dataDir: `/data/${id}`, isJoining: false,
        electionTicks: id === "n1" ? 10 : 40, heartbeatTicks: 2, tickMs: 10,
        snapshotThresholdEntries: 1_000_000, snapshotTrailingEntries: 5, walPreallocateBytes: 0,
        requestTimeoutMs: 2000, bodyBytesMax: 1024,
        bootstrapMembers: ids.map((m) => ({ id: m, addr: addrOf(m), suffrage: "voter" as const })),
        authFile: usersFileOf(id, options.anonymous),
        peersAuthenticated: options.peersAuthenticated,
      },
      {
        ...simSeams({ proc, disk: proc.fence(new SimDisk()), wire, addr: addrOf(id), tickMs: 10, rng: rng.fork(id), logger }),
        onFatal: (e) => log.push(`${id} FATAL ${String(e)}`),
        // Answered without the thread pool, so that simulated time alone drives a request.
        verifyPassword: (password, hash) => {
          checks++;
          return Promise.resolve(Bun.password.verifySync(password, hash));
        },
      },
    );
    nodes.set(id, opened);
    await opened.start();
  }
  /** Runs simulated time until `promise` settles. */
  const settle = async <T>(promise: Promise<T>): Promise<T> => {
    let done = false;
    promise.then(() => (done = true), () => (done = true));
    for (let i = 0; i < 200_000 && !done; i++) {
      scheduler.runOne();
      await drainMicrotasks();
    }
    return promise;
  };
  const n1 = nodes.get("n1")!;
  await settle(new Promise<void>((resolve) => {
    const poll = (): void => (n1.node.core.status().role === "leader" && n1.node.core.status().commitIndex > 0 ? resolve() : void scheduler.schedule(10, poll));
    poll();
  }));
  const post = (id: string, authorization: string | null, body = `{"k":"v"}`): Promise<Response> => {
    const headers: Record<string, string> = authorization === null ? {} : { authorization };
    return settle(Promise.resolve(nodes.get(id)!.fetch(new Request(`http://${id}/key`, { method: "POST", body, headers }))));
  };
  const run = async (ms: number): Promise<void> => {
    const end = scheduler.now + ms;
    while (scheduler.peekTime() <= end) {
      scheduler.runOne();
      await drainMicrotasks();
    }
  };
  return { nodes, log, post, run, wire, checks: () => checks, value: (id: string, k: string) => nodes.get(id)!.store.peek(k, "stale") };
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
async function errorOf(r: Response): Promise<string> {
  return ((await r.json()) as { error: string }).error;
}

describe("the leader's check of a forwarded request", () => {
  test("peers authenticated: the user's own permissions on the leader decide", async () => {
    const c = await openCluster({ peersAuthenticated: true, anonymous: ["status"] });
    expect(c.log.filter((l) => l.includes("authentication on"))).toEqual(ids.map((id) => `${id} authentication on: 3 users (without credentials: status)`));
    // Allowed on the follower and on the leader: written.
    const ok = await c.post("n2", basic("everywhere", "e-pw"), `{"a":"1"}`);
    expect(ok.status).toBe(200);
    expect(c.value("n1", "a")).toBe("1");
    // The follower checked the password; the leader never does.
    expect(c.checks()).toBe(1);
    // Allowed on the follower (its own file), but the leader's file does not give it write.
    const refused = await c.post("n2", basic("local-n2", "l-pw"), `{"b":"2"}`);
    expect(refused.status).toBe(403);
    expect(await errorOf(refused)).toBe(`user "local-n2" does not have the "write" permission in the users file of the leader (node n1)`);
    expect(c.value("n1", "b")).toBeNull();
    // The follower checked locally first: refused there, nothing was forwarded.
    const local = await c.post("n2", basic("reader", "e-pw"));
    expect(local.status).toBe(403);
    expect(await errorOf(local)).toBe(`user "reader" does not have the "write" permission`);
    // A user of another node's file is unknown here.
    expect((await c.post("n2", basic("local-n3", "l-pw"))).status).toBe(401);
  });

  test("peers not authenticated: the leader trusts no user name and applies '*', saying why", async () => {
    const c = await openCluster({ peersAuthenticated: false, anonymous: ["status"] });
    expect(c.log.some((l) => l.startsWith("n2 WARN requests forwarded by other nodes get only the permissions of \"*\""))).toBe(true);
    const refused = await c.post("n2", basic("everywhere", "e-pw"), `{"a":"1"}`);
    expect(refused.status).toBe(403);
    const message = await errorOf(refused);
    expect(message).toContain("forwarded to it over an unauthenticated Raft connection");
    expect(message).toContain(`applied the permissions of the user "*", which lack "write"`);
    expect(message).toContain("-node-cert");
    expect(c.value("n1", "a")).toBeNull();
    // Sent to the leader itself, the same user may write.
    expect((await c.post("n1", basic("everywhere", "e-pw"), `{"a":"1"}`)).status).toBe(200);
    expect(c.value("n1", "a")).toBe("1");
  });

  test("peers not authenticated: what '*' grants on the leader is what a forwarded request may do", async () => {
    const c = await openCluster({ peersAuthenticated: false, anonymous: ["status", "write"] });
    const ok = await c.post("n3", null, `{"c":"3"}`);
    expect(ok.status).toBe(200);
    expect(c.value("n1", "c")).toBe("3");
  });

  test("a frame with a malformed user from a peer is dropped on decode, and logged", async () => {
    const c = await openCluster({ peersAuthenticated: true, anonymous: ["status"] });
    const from = "evil.sim:1";
    const inject = (user: unknown, key: string): void => {
      const payload = [0, `x.${key}`, [0, [key, "1"]], user];
      c.wire.send(from, addrOf("n1"), encodeEnvelope({ kind: "store", fromAddr: from, payload }));
    };
    // What a broken or hostile peer could send: a forwarded write claiming the user "*".
    inject("*", "z");
    inject("a:b", "y");
    await c.run(200);
    expect(c.value("n1", "z")).toBeNull();
    expect(c.value("n1", "y")).toBeNull();
    expect(c.log.filter((l) => l === `n1 WARN malformed store message from ${from}; dropped`).length).toBe(2);
    // The same frame with a well-formed user is served: it is the user that refused the frames above.
    inject("everywhere", "x");
    await c.run(200);
    expect(c.value("n1", "x")).toBe("1");
  });
});

describe("start", () => {
  test("a users file that cannot be used fails openNode with one line naming it (StartError), before storage is touched", () => {
    const scheduler = new Scheduler();
    const proc = new SimProcess(scheduler, "n1");
    const disk = new SimDisk();
    const bad = join(dir, "plain.json");
    writeFileSync(bad, JSON.stringify([{ username: "bob", password: "hunter2", perms: ["all"] }]));
    const open = () =>
      openNode(
        {
          nodeId: "n1", raftAddr: addrOf("n1"), dataDir: "/data/n1", isJoining: false, electionTicks: 10, heartbeatTicks: 2,
          snapshotThresholdEntries: 1000, snapshotTrailingEntries: 5, walPreallocateBytes: 0, requestTimeoutMs: 2000,
          bodyBytesMax: 1024, authFile: bad,
        },
        {
          ...simSeams({ proc, disk: proc.fence(disk), wire: new SimWire(scheduler, createSimRng(1)), addr: addrOf("n1"), tickMs: 10, rng: createSimRng(2), logger: { info() {}, warn() {}, error() {} } }),
          onFatal: () => undefined,
        },
      );
    expect(open).toThrow(StartError);
    expect(open).toThrow(`-auth ${bad}: entry 1 (user "bob"): the password is not a hash`);
    expect(disk.list("/")).toEqual([]);
  });
});
