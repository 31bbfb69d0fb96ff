// Goal: -join over HTTPS (issue 14, items 3 and 5): joinCluster verifies the member with the
// given CA, presents this node's client certificate, sends -join-as's Basic credentials; a
// 401/403 or an untrusted member certificate ends the join at once; a member that refuses the
// client certificate is retried until the deadline with a hint; the password never appears
// in a log line or an error. Plain host:port stays http://.
// Method: joinCluster (the production code) against a small Bun.serve standing in for a
// member, with certificates made by openssl at test time.

import { afterAll, describe, expect, test } from "bun:test";
import { JoinRefusedError, joinCluster, type JoinOptions, joinUrl } from "../../join.ts";
import type { Logger } from "../../raft/host.ts";
import { makeCa } from "../support/certs.ts";

const ca = makeCa("join");
const otherCa = makeCa("join-stranger");
const memberCert = ca.issue("member");
const nodeCert = ca.issue("joining-node");
const password = "s3cret-Pa55word";

/** What the stand-in member saw. */
interface Seen {
  readonly authorization: string | null;
  readonly body: unknown;
}

function member(status: number, opts: { requireClientCert?: boolean } = {}) {
  const seen: Seen[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: {
      cert: memberCert.certPem(),
      key: memberCert.keyPem(),
      ca: ca.certPem(),
      requestCert: opts.requireClientCert ?? true,
      rejectUnauthorized: true,
    },
    async fetch(request) {
      seen.push({ authorization: request.headers.get("authorization"), body: await request.json() });
      return status === 200 ? new Response("") : Response.json({ error: `refused with ${status}` }, { status });
    },
  });
  servers.push(server);
  return { seen, addr: `https://localhost:${server.port}` };
}
const servers: ReturnType<typeof Bun.serve>[] = [];
afterAll(() => Promise.all(servers.map((s) => s.stop(true))));

const lines: string[] = [];
const log: Logger = { info: (l) => lines.push(l), warn: (l) => lines.push(l), error: (l) => lines.push(l) };

function join(joinAddr: string, extra: Partial<JoinOptions> = {}): Promise<void> {
  return joinCluster({
    joinAddr,
    id: "node9",
    raftAddr: "localhost:12009",
    log,
    deadlineMs: 1500,
    tls: { ca: ca.certPem(), cert: nodeCert.certPem(), key: nodeCert.keyPem() },
    credentials: { user: "joiner", password },
    ...extra,
  });
}

/** The error joinCluster ended with (it must end with one). */
async function failure(p: Promise<void>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    lines.push((e as Error).message);
    return e as Error;
  }
  throw new Error("the join succeeded");
}

describe("join over HTTPS", () => {
  test("verifies the member with the CA, presents the client certificate, sends Basic credentials", async () => {
    const m = member(200);
    await join(m.addr);
    expect(m.seen).toEqual([
      {
        authorization: `Basic ${Buffer.from(`joiner:${password}`).toString("base64")}`,
        body: { id: "node9", addr: "localhost:12009" },
      },
    ]);
  });

  test("401 ends the join at once, naming what to check, without the password", async () => {
    const m = member(401);
    const e = await failure(join(m.addr));
    expect(e).toBeInstanceOf(JoinRefusedError);
    expect(e.message).toContain("refused: 401");
    expect(e.message).toContain('check the password of -join-as "joiner" in HRAFTD_JOIN_PASSWORD');
    expect(m.seen.length).toBe(1);
  });

  test("403 ends the join at once: the user lacks the join permission", async () => {
    const m = member(403);
    const e = await failure(join(m.addr));
    expect(e).toBeInstanceOf(JoinRefusedError);
    expect(e.message).toContain('user "joiner" lacks the join permission');
    expect(m.seen.length).toBe(1);
  });

  test("401 without -join-as says to give it", async () => {
    const m = member(401);
    const e = await failure(join(m.addr, { credentials: undefined }));
    expect(e.message).toContain("give -join-as USER with the password in HRAFTD_JOIN_PASSWORD");
    expect(m.seen).toEqual([{ authorization: null, body: { id: "node9", addr: "localhost:12009" } }]);
  });

  test("a member certificate this node does not trust ends the join at once", async () => {
    const m = member(200);
    const noCa = await failure(join(m.addr, { tls: { cert: nodeCert.certPem(), key: nodeCert.keyPem() } }));
    expect(noCa).toBeInstanceOf(JoinRefusedError);
    expect(noCa.message).toContain("the member's certificate is not trusted");
    expect(noCa.message).toContain("give -http-ca-cert");
    const wrongCa = await failure(join(m.addr, { tls: { ca: otherCa.certPem(), cert: nodeCert.certPem(), key: nodeCert.keyPem() } }));
    expect(wrongCa).toBeInstanceOf(JoinRefusedError);
    expect(wrongCa.message).toContain("check -http-ca-cert");
    expect(m.seen).toEqual([]);
  });

  test("a member that requires a client certificate this node lacks: retried until the deadline, with a hint", async () => {
    const m = member(200, { requireClientCert: true });
    const e = await failure(join(m.addr, { tls: { ca: ca.certPem() } }));
    expect(e).not.toBeInstanceOf(JoinRefusedError);
    expect(e.message).toContain("within 1.5s");
    expect(e.message).toContain("this node has no -http-cert and -http-key to present");
    expect(m.seen).toEqual([]);
  });

  test("the password is in no log line and no error", () => {
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.includes(password))).toEqual([]);
  });
});

describe("plain addresses stay HTTP", () => {
  test("host:port and :port are http://; https:// is kept", () => {
    expect(joinUrl("localhost:11000")).toBe("http://localhost:11000/join");
    expect(joinUrl(":11000")).toBe("http://localhost:11000/join");
    expect(joinUrl("https://node1.example:11000")).toBe("https://node1.example:11000/join");
  });

  test("a plain address with HTTPS flags, against an HTTPS member: the hint says -join https://", async () => {
    const m = member(200);
    const e = await failure(join(m.addr.replace("https://", "")));
    expect(e.message).toContain("give -join https://host:port");
  });
});
