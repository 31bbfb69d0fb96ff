// Goal: a cluster across machines can be run safely (issue 14): three nodes of the compiled
// binary with HTTPS, client certificates required, and mutual TLS between nodes.
// - hraftd's walkthrough with curl --cacert/--cert/--key: POST /key on one node, GET from
//   another, DELETE; nodes join over HTTPS (-join https://…) presenting their certificate;
// - plain HTTP to -haddr gets no answer; a client certificate from another CA is refused;
// - a node whose node certificate comes from another CA never becomes a member and receives
//   nothing (a log line says why on the side that refused the handshake);
// - one node's node certificate is rotated (files rewritten) while writes continue: new
//   connections to it get the new certificate, and every acknowledged write is readable.
// Method: tests/support/cluster.ts on random loopback ports; certificates made with openssl
// at test time (tests/support/certs.ts); curl for the walkthrough, Bun's fetch with tls
// options for polling and the writer, openssl s_client to see a served certificate.
// Flags for every node are in one place (everyNode), and so are curl's (curlEvery).

import { afterAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { copyFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CertFiles, makeCa } from "../support/certs.ts";
import { Cluster, type Status, type TestNode } from "../support/cluster.ts";

const cluster = new Cluster();
afterAll(() => cluster.cleanup());

const httpCa = makeCa("http");
const nodeCa = makeCa("node");
const strangerCa = makeCa("stranger");
const client = httpCa.issue("client");

// -auth: an administrator, a read-only user, the user joining nodes authenticate as, and "*"
// (clients without credentials) allowed only /status. Passwords hashed as an operator would.
const usersFile = join(cluster.root, "users.json");
writeFileSync(usersFile, JSON.stringify([
  { username: "admin", password: await Bun.password.hash("admin-pw"), perms: ["all"] },
  { username: "reader", password: await Bun.password.hash("reader-pw"), perms: ["read"] },
  { username: "joiner", password: await Bun.password.hash("join-pw"), perms: ["join"] },
  { username: "*", perms: ["status"] },
]));
// -join-as takes its password from the environment only; the nodes inherit this process's.
process.env["HRAFTD_JOIN_PASSWORD"] = "join-pw";

/** Flags every node gets. */
const everyNode: readonly string[] = ["-auth", usersFile];
/** Arguments every curl gets besides its TLS ones. */
const curlEvery: readonly string[] = ["-u", "admin:admin-pw"];
/** The same credentials as HTTP headers, for the test's own fetches. */
const headersEvery: Readonly<Record<string, string>> = { authorization: `Basic ${btoa("admin:admin-pw")}` };

/** A node's TLS flags; its node certificate and key are copied to paths the test can rewrite. */
function secureArgs(id: string, nodeCert: CertFiles = nodeCa.issue(`${id}-node`)): string[] {
  const http = httpCa.issue(`${id}-http`);
  const cert = join(cluster.root, `${id}-node.pem`);
  const key = join(cluster.root, `${id}-node-key.pem`);
  copyFileSync(nodeCert.cert, cert);
  copyFileSync(nodeCert.key, key);
  return [
    "-http-cert", http.cert, "-http-key", http.key, "-http-ca-cert", httpCa.cert, "-http-verify-client",
    "-node-cert", cert, "-node-key", key, "-node-ca-cert", nodeCa.cert,
    ...everyNode,
  ];
}

async function addSecure(id: string, join?: TestNode, nodeCert?: CertFiles): Promise<TestNode> {
  return cluster.add({
    id,
    ...(join === undefined ? {} : { join: `https://${join.httpAddr}` }),
    extraArgs: [...secureArgs(id, nodeCert), ...(join === undefined ? [] : ["-join-as", "joiner"])],
  });
}

const httpsUrl = (node: TestNode, path: string) => `https://${node.httpAddr}${path}`;
const clientTls = { ca: httpCa.certPem(), cert: client.certPem(), key: client.keyPem() };

/** A request with the client certificate: status and body. */
async function api(node: TestNode, method: string, path: string, body?: object): Promise<{ status: number; text: string }> {
  const r = await fetch(httpsUrl(node, path), {
    method,
    tls: clientTls,
    headers: headersEvery,
    signal: AbortSignal.timeout(10_000),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, text: await r.text() };
}

const statusOf = async (node: TestNode): Promise<Status> => JSON.parse((await api(node, "GET", "/status")).text) as Status;

/** Runs curl; its exit code, stdout and stderr. */
function curl(args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn("curl", ["-sS", "--max-time", "10", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (c: Buffer) => (out += c.toString()));
    p.stderr.on("data", (c: Buffer) => (err += c.toString()));
    p.on("close", (code) => resolve({ code, out, err }));
  });
}
/** curl as a cluster client: the CA, the client certificate and key. */
const curlAs = (args: readonly string[], who: CertFiles = client) =>
  curl(["--cacert", httpCa.cert, "--cert", who.cert, "--key", who.key, ...curlEvery, ...args]);

/** The CN of the certificate a TLS endpoint serves (openssl s_client, with a client certificate). */
async function servedCn(addr: string, caFile: string, who: CertFiles): Promise<string> {
  const p = spawn("openssl", ["s_client", "-connect", addr, "-CAfile", caFile, "-cert", who.cert, "-key", who.key], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  p.stdout.on("data", (c: Buffer) => (out += c.toString()));
  p.stderr.on("data", (c: Buffer) => (out += c.toString()));
  await new Promise((resolve) => p.on("close", resolve));
  return out.match(/subject=.*CN\s*=\s*([\w-]+)/)?.[1] ?? "none";
}

function voters(s: Status): string {
  return s.members.filter((m) => m.suffrage === "voter").map((m) => m.id).sort().join(",");
}

test("a 3-node cluster with HTTPS, client certificates and node TLS", async () => {
  // Three nodes; the second and third join over HTTPS with their certificates.
  const n1 = await addSecure("n1");
  await cluster.poll("n1 to lead", async () => ((await statusOf(n1)).state === "leader" ? true : undefined), 15_000);
  const n2 = await addSecure("n2", n1);
  const n3 = await addSecure("n3", n1);
  await cluster.poll("three voters", async () => (voters(await statusOf(n1)) === "n1,n2,n3" ? true : undefined), 15_000);
  expect(n1.log).toMatch(/security: HTTPS on localhost:\d+, client certificates required; node TLS on/);
  expect(n1.log).toMatch(/authentication on: 3 users \(without credentials: status\)/);
  expect(n2.log).not.toContain("join-pw");

  // The walkthrough, with curl.
  const set = await curlAs(["-XPOST", httpsUrl(n1, "/key"), "-d", '{"user1": "batman"}']);
  expect(set).toEqual({ code: 0, out: "", err: "" });
  expect(await curlAs([httpsUrl(n2, "/key/user1")])).toEqual({ code: 0, out: '{"user1":"batman"}', err: "" });
  expect((await curlAs(["-XDELETE", httpsUrl(n3, "/key/user1")])).code).toBe(0);
  expect(await curlAs(["-o", "/dev/null", "-w", "%{http_code}", httpsUrl(n1, "/key/user1")])).toEqual({ code: 0, out: "404", err: "" });

  // Permissions: each user gets what its perms grant, on the leader and through a follower
  // (the leader trusts the forwarded user: node TLS authenticates the follower).
  const as = (user: string, args: readonly string[]) =>
    curl(["--cacert", httpCa.cert, "--cert", client.cert, "--key", client.key, "-o", "/dev/null", "-w", "%{http_code}", ...(user === "" ? [] : ["-u", user]), ...args]);
  const follower = [n1, n2, n3].find((n) => n.id !== n1.id)!;
  const codes = {
    adminWriteViaFollower: (await as("admin:admin-pw", ["-XPOST", httpsUrl(follower, "/key"), "-d", '{"perm": "ok"}'])).out,
    readerRead: (await as("reader:reader-pw", [httpsUrl(n3, "/key/perm")])).out,
    readerWrite: (await as("reader:reader-pw", ["-XPOST", httpsUrl(n1, "/key"), "-d", '{"perm": "no"}'])).out,
    readerDelete: (await as("reader:reader-pw", ["-XDELETE", httpsUrl(n2, "/key/perm")])).out,
    readerRemove: (await as("reader:reader-pw", ["-XPOST", httpsUrl(n1, "/remove"), "-d", '{"id": "n3"}'])).out,
    joinerRead: (await as("joiner:join-pw", [httpsUrl(n1, "/key/perm")])).out,
    wrongPassword: (await as("admin:nope", [httpsUrl(n1, "/key/perm")])).out,
    unknownUser: (await as("nobody:x", [httpsUrl(n1, "/key/perm")])).out,
    noCredentialsRead: (await as("", [httpsUrl(n1, "/key/perm")])).out,
    noCredentialsStatus: (await as("", [httpsUrl(n1, "/status")])).out,
  };
  expect(codes).toEqual({
    adminWriteViaFollower: "200", readerRead: "200", readerWrite: "403", readerDelete: "403", readerRemove: "403",
    joinerRead: "403", wrongPassword: "401", unknownUser: "401", noCredentialsRead: "401", noCredentialsStatus: "200",
  });
  const challenge = await curl(["--cacert", httpCa.cert, "--cert", client.cert, "--key", client.key, "-i", httpsUrl(n1, "/key/perm")]);
  expect(challenge.out).toMatch(/www-authenticate: Basic realm="hraftd"/i);
  expect(challenge.out).toMatch(/\{"error":/);
  expect((await api(n1, "GET", "/key/perm")).text).toBe('{"perm":"ok"}');

  // Plain HTTP gets no answer; a client certificate from another CA, or none, is refused.
  const plain = await curl([`http://${n1.httpAddr}/key/user1`]);
  expect(plain.code).not.toBe(0);
  const stranger = await curlAs([httpsUrl(n1, "/key/user1")], strangerCa.issue("stranger-client"));
  expect(stranger.code).not.toBe(0);
  const noCert = await curl(["--cacert", httpCa.cert, httpsUrl(n1, "/key/user1")]);
  expect(noCert.code).not.toBe(0);

  // A node whose node certificate another CA signed: its HTTPS join reaches the leader, which
  // adds it as a learner, but no Raft connection with it completes, so it holds nothing and
  // is never promoted (its join is answered 503 after the leader's wait, and retried).
  expect((await api(n1, "POST", "/key", { before: "intruder" })).status).toBe(200);
  const intruder = await addSecure("n4", n1, strangerCa.issue("n4-node"));
  const downLine = new RegExp(`transport: link to ${intruder.raftAddr} down \\(unable to verify the first certificate`);
  await cluster.poll("the leader's line about n4's certificate", async () => ([n1, n2, n3].some((n) => downLine.test(n.log)) ? true : undefined), 10_000);
  expect(voters(await statusOf(n1))).toBe("n1,n2,n3");
  expect((await api(intruder, "GET", "/key/before?level=stale")).status).toBe(404);
  await intruder.stop();
  expect((await api(n1, "POST", "/remove", { id: "n4" })).status).toBe(200);
  // The same certificate dialling a member's Raft port: refused there, with a line.
  expect(await servedCn(n1.raftAddr, nodeCa.cert, strangerCa.issue("n5-node"))).toBe("n1-node");
  await cluster.poll("n1's line about the refused connection", async () => (/refused a connection from 127\.0\.0\.1:\d+: TLS handshake failed/.test(n1.log) ? true : undefined), 5_000);

  // Rotation of n2's node certificate while a client writes to the leader.
  const leaderId = (await statusOf(n1)).leader.id;
  const leader = [n1, n2, n3].find((n) => n.id === leaderId)!;
  const acknowledged: string[] = [];
  let isWriting = true;
  const writer = (async () => {
    for (let i = 0; isWriting; i++) {
      const key = `w${i}`;
      try {
        if ((await api(leader, "POST", "/key", { [key]: String(i) })).status === 200) acknowledged.push(key);
      } catch {
        // Unacknowledged: not counted.
      }
    }
  })();
  const nodeClient = nodeCa.issue("probe");
  expect(await servedCn(n2.raftAddr, nodeCa.cert, nodeClient)).toBe("n2-node");
  const rotated = nodeCa.issue("n2-rotated");
  // Each file replaced by a rename, as a certificate manager does.
  for (const [from, to] of [[rotated.key, "n2-node-key.pem"], [rotated.cert, "n2-node.pem"]] as const) {
    copyFileSync(from, join(cluster.root, `${to}.new`));
    renameSync(join(cluster.root, `${to}.new`), join(cluster.root, to));
  }
  await cluster.poll("n2 to serve its new node certificate", async () => ((await servedCn(n2.raftAddr, nodeCa.cert, nodeClient)) === "n2-rotated" ? true : undefined), 10_000, 200);
  expect(n2.log).toMatch(/tls: loaded a new certificate \(CN=n2-rotated/);
  // Writes keep being acknowledged after the rotation (n2 still takes part).
  const atRotation = acknowledged.length;
  await cluster.poll("writes after the rotation", async () => (acknowledged.length > atRotation + 20 ? true : undefined), 10_000);
  isWriting = false;
  await writer;
  expect(acknowledged.length).toBeGreaterThan(20);
  // Every acknowledged write is on n2 (a linearizable read there) and on the others.
  const last = acknowledged[acknowledged.length - 1]!;
  for (const node of [n1, n2, n3]) {
    const r = await api(node, "GET", `/key/${last}`);
    expect({ node: node.id, status: r.status }).toEqual({ node: node.id, status: 200 });
  }
  const missing: string[] = [];
  for (const key of acknowledged) {
    const r = await api(n2, "GET", `/key/${key}?level=stale`);
    if (r.status !== 200) missing.push(key);
  }
  expect(missing).toEqual([]);
}, 60_000);
