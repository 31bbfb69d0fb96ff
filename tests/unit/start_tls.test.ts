// Goal: the real node's TLS wiring (issue 14, items 1-4 as server.ts starts them):
// - a missing, broken or mismatched certificate, key or CA file fails the start with one line
//   naming the flag and the file, before the data directory is created;
// - with every TLS flag on, the node serves HTTPS requiring client certificates, logs one
//   line saying so, a second node joins it over HTTPS with its client certificate across node
//   TLS, and a rewritten HTTPS certificate file reaches new connections without a restart.
// Method: startNode (server.ts) in this process with flags parsed by parseFlags, on loopback
// ports, -inmem; certificates made with openssl at test time.

import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFlags } from "../../flags.ts";
import type { Logger } from "../../raft/host.ts";
import { type RunningNode, startNode, StartError } from "../../server.ts";
import { type CertFiles, makeCa } from "../support/certs.ts";
import { freePort } from "../support/cluster.ts";

const root = mkdtempSync(join(tmpdir(), "hraftd-start-tls-"));
const ca = makeCa("start");
const otherCa = makeCa("start-other");
const leaf = ca.issue("node-a");
const leafB = ca.issue("node-b");
const running: RunningNode[] = [];
afterAll(async () => {
  for (const n of running) await n.stop();
  rmSync(root, { recursive: true, force: true });
});

const garbage = join(root, "garbage.pem");
writeFileSync(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
const missing = join(root, "missing.pem");

function logger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (l) => lines.push(`INFO ${l}`), warn: (l) => lines.push(`WARN ${l}`), error: (l) => lines.push(`ERROR ${l}`) };
}

async function args(id: string, extra: readonly string[]): Promise<{ args: string[]; dataDir: string; httpPort: number }> {
  const httpPort = await freePort();
  const dataDir = join(root, id);
  return { args: ["-id", id, "-inmem", "-haddr", `localhost:${httpPort}`, "-raddr", `localhost:${await freePort()}`, ...extra, dataDir], dataDir, httpPort };
}

async function start(id: string, extra: readonly string[], log: Logger = logger()): Promise<{ node: RunningNode; httpPort: number }> {
  const a = await args(id, extra);
  const out = parseFlags(a.args, "test", { HRAFTD_JOIN_PASSWORD: "pw" });
  if (out.kind !== "run") throw new Error(out.stderr);
  const node = await startNode(out.config, log);
  running.push(node);
  return { node, httpPort: a.httpPort };
}

const https = (c: CertFiles) => ["-http-cert", c.cert, "-http-key", c.key];
const nodeTls = (c: CertFiles, caFile = ca.cert) => ["-node-cert", c.cert, "-node-key", c.key, "-node-ca-cert", caFile];

describe("a TLS file that cannot be used fails the start, naming the flag and the file", () => {
  const cases: ReadonlyArray<readonly [string, readonly string[], string]> = [
    ["missing -http-cert", ["-http-cert", missing, "-http-key", leaf.key], `cannot use -http-cert: certificate file ${missing} does not exist`],
    ["broken -http-cert", ["-http-cert", garbage, "-http-key", leaf.key], `cannot use -http-cert: certificate file ${garbage}: not a PEM certificate`],
    ["-http-key a certificate", ["-http-cert", leaf.cert, "-http-key", leaf.cert], `cannot use -http-key: key file ${leaf.cert}: not a PEM private key`],
    ["-http-key of another certificate", ["-http-cert", leaf.cert, "-http-key", leafB.key], `cannot use -http-key: key file ${leafB.key} does not match the certificate in ${leaf.cert}`],
    ["missing -http-ca-cert", [...https(leaf), "-http-ca-cert", missing], `cannot use -http-ca-cert: CA certificate file ${missing} does not exist`],
    ["broken -http-ca-cert alone", ["-http-ca-cert", garbage], `cannot use -http-ca-cert: CA certificate file ${garbage}: not a PEM certificate`],
    ["-http-ca-cert a directory", ["-http-ca-cert", root], `cannot use -http-ca-cert: CA certificate file ${root} is a directory`],
    ["missing -node-key", ["-node-cert", leaf.cert, "-node-key", missing, "-node-ca-cert", ca.cert], `cannot use -node-key: key file ${missing} does not exist`],
    ["broken -node-ca-cert", nodeTls(leaf, garbage), `cannot use -node-ca-cert: CA certificate file ${garbage}: not a PEM certificate`],
    ["-node-key of another certificate", ["-node-cert", leaf.cert, "-node-key", leafB.key, "-node-ca-cert", ca.cert], `cannot use -node-key: key file ${leafB.key} does not match`],
  ];
  for (const [name, extra, message] of cases) {
    test(name, async () => {
      const a = await args(`bad-${name.replace(/\W+/g, "-")}`, extra);
      const out = parseFlags(a.args, "test", {});
      if (out.kind !== "run") throw new Error(out.stderr);
      const error = await startNode(out.config, logger()).then(() => null, (e: Error) => e);
      expect(error).toBeInstanceOf(StartError);
      expect(error!.message).toStartWith(message);
      expect(error!.message).not.toContain("\n");
      expect(existsSync(a.dataDir)).toBe(false);
    });
  }
});

describe("every TLS option on", () => {
  test("HTTPS with client certificates, node TLS, a join over HTTPS, and HTTP certificate rotation", async () => {
    const client = ca.issue("client");
    // node-a's HTTPS files are copies, rewritten below to rotate them.
    const dir = mkdtempSync(join(root, "rot-"));
    const certFile = join(dir, "http.pem");
    const keyFile = join(dir, "http-key.pem");
    copyFileSync(leaf.cert, certFile);
    copyFileSync(leaf.key, keyFile);
    const secure = (c: { cert: string; key: string }) => ["-http-cert", c.cert, "-http-key", c.key, "-http-ca-cert", ca.cert, "-http-verify-client", ...nodeTls(leaf), "-node-no-verify"];
    const logA = logger();
    const a = await start("sec-a", secure({ cert: certFile, key: keyFile }), logA);
    expect(logA.lines).toEqual(expect.arrayContaining([expect.stringMatching(/^INFO security: HTTPS on localhost:\d+, client certificates required; node TLS on localhost:\d+/)]));
    expect(logA.lines).toEqual(expect.arrayContaining([expect.stringMatching(/^WARN -node-no-verify: /)]));
    const url = (port: number, path: string) => `https://localhost:${port}${path}`;
    const withCert = { tls: { ca: ca.certPem(), cert: client.certPem(), key: client.keyPem() } };
    await poll(async () => ((await (await fetch(url(a.httpPort, "/status"), withCert)).json()) as { state: string }).state === "leader");
    // No client certificate, or one from another CA: refused.
    const noCert = await fetch(url(a.httpPort, "/status"), { tls: { ca: ca.certPem() } }).then(() => "answered", () => "refused");
    expect(noCert).toBe("refused");
    const stranger = otherCa.issue("stranger");
    const strangerCert = await fetch(url(a.httpPort, "/status"), { tls: { ca: ca.certPem(), cert: stranger.certPem(), key: stranger.keyPem() } }).then(
      () => "answered",
      () => "refused",
    );
    expect(strangerCert).toBe("refused");

    // node-b joins over HTTPS, presenting its -http-cert as client certificate.
    const b = await start("sec-b", ["-join", `https://localhost:${a.httpPort}`, ...secure(leafB)]);
    await poll(async () => a.node.store.status().members.some((m) => m.id === "sec-b" && m.suffrage === "voter"));
    const put = await fetch(url(a.httpPort, "/key"), { method: "POST", body: JSON.stringify({ k: "v" }), ...withCert });
    expect(put.status).toBe(200);
    await poll(async () => (await fetch(url(b.httpPort, "/key/k?level=stale"), withCert).then((r) => r.text())) === '{"k":"v"}');

    // Rotation: new files; within the watcher's period and the drain, new connections get them.
    const rotated = ca.issue("node-a-rotated");
    copyFileSync(rotated.key, keyFile);
    copyFileSync(rotated.cert, certFile);
    await poll(async () => (await subjectCn(a.httpPort, client)) === "node-a-rotated", 5000);
    expect(logA.lines).toEqual(expect.arrayContaining([expect.stringMatching(/^INFO tls: loaded a new certificate \(CN=node-a-rotated/)]));
    expect((await fetch(url(a.httpPort, "/key/k"), withCert)).status).toBe(200);
  }, 30_000);
});

async function poll(ok: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      if (await ok()) return;
    } catch {
      // not yet
    }
    if (performance.now() > deadline) throw new Error("timed out");
    await Bun.sleep(50);
  }
}

async function subjectCn(port: number, client: CertFiles): Promise<string> {
  const p = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-CAfile", ca.cert, "-cert", client.cert, "-key", client.key], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
  await p.exited;
  return out.match(/subject=.*CN\s*=\s*([\w-]+)/)?.[1] ?? "none";
}
