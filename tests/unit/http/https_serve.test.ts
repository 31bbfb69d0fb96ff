// Goal: serve() with TLS (issue 14, items 1 and 4): HTTPS that a client trusting the CA can
// use; plain HTTP on the HTTPS port gets no answer; TLS 1.1 refused; with verifyClient only a
// client certificate from the CA gets in; a rotated certificate reaches new connections
// without a restart and without failing a client that writes throughout; nobody else can
// bind the port although HTTPS opens it with SO_REUSEPORT.
// Method: real servers on loopback port 0, certificates made with openssl at test time
// (tests/support/certs.ts), Bun's fetch with tls options, and `openssl s_client` (spawned
// asynchronously: the server answers from this process's event loop).

import { afterAll, describe, expect, test } from "bun:test";
import { serve, type ServerHandle } from "../../../http/serve.ts";
import { type CertFiles, makeCa } from "../../support/certs.ts";

const ca = makeCa("serve");
const otherCa = makeCa("stranger");
const server1 = ca.issue("server-one");
const server2 = ca.issue("server-two");
const client = ca.issue("client");
const strangerClient = otherCa.issue("stranger-client");

const answer = async (request: Request): Promise<Response> => {
  await request.text();
  return new Response(`hello ${new URL(request.url).pathname}`);
};
const servers: ServerHandle[] = [];
afterAll(() => Promise.all(servers.map((s) => s.close())));

async function https(leaf: CertFiles, opts: { verifyClient?: boolean; drainMs?: number } = {}): Promise<ServerHandle> {
  const s = await serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: answer,
    tls: { cert: leaf.certPem(), key: leaf.keyPem(), ca: ca.certPem(), verifyClient: opts.verifyClient ?? false },
    ...(opts.drainMs === undefined ? {} : { drainMs: opts.drainMs }),
  });
  servers.push(s);
  return s;
}

/** GET over HTTPS trusting `ca`, with a client certificate when given; the body, or the error's message. */
async function get(port: number, cert?: CertFiles): Promise<string> {
  try {
    const tls = { ca: ca.certPem(), ...(cert === undefined ? {} : { cert: cert.certPem(), key: cert.keyPem() }) };
    const r = await fetch(`https://localhost:${port}/x`, { tls, signal: AbortSignal.timeout(5000) });
    return `${r.status} ${await r.text()}`;
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

/** `openssl s_client` against the port: its whole output. */
async function sClient(port: number, extra: readonly string[] = []): Promise<string> {
  const p = Bun.spawn(["openssl", "s_client", ...extra, "-connect", `127.0.0.1:${port}`, "-CAfile", ca.cert], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
  await p.exited;
  return out;
}
const subjectCn = async (port: number): Promise<string> => (await sClient(port)).match(/subject=.*CN\s*=\s*([\w-]+)/)?.[1] ?? "none";

describe("HTTPS", () => {
  test("a client trusting the CA gets answers; plain HTTP to the port gets none", async () => {
    const s = await https(server1);
    expect(await get(s.port)).toBe("200 hello /x");
    const plain = await fetch(`http://127.0.0.1:${s.port}/x`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => `answered ${r.status}`,
      (e: Error) => `error: ${e.message}`,
    );
    expect(plain).toStartWith("error:");
  });

  test("a client that does not trust the CA refuses the server", async () => {
    const s = await https(server1);
    const r = await fetch(`https://localhost:${s.port}/x`, { signal: AbortSignal.timeout(5000) }).then(
      (x) => `answered ${x.status}`,
      (e: Error) => `error: ${e.message}`,
    );
    expect(r).toStartWith("error:");
  });

  test("TLS 1.1 is refused, TLS 1.2 and 1.3 accepted", async () => {
    const s = await https(server1);
    expect(await sClient(s.port, ["-tls1_1"])).toMatch(/alert protocol version|no protocols available|wrong version/);
    expect(await sClient(s.port, ["-tls1_2"])).toMatch(/Protocol\s*:\s*TLSv1\.2[\s\S]*Verify return code: 0 \(ok\)/);
    expect(await sClient(s.port, ["-tls1_3"])).toMatch(/TLSv1\.3[\s\S]*Verify return code: 0 \(ok\)/);
  });

  test("with verifyClient: a client certificate from the CA gets in; none, or another CA's, does not", async () => {
    const s = await https(server1, { verifyClient: true });
    expect(await get(s.port, client)).toBe("200 hello /x");
    expect(await get(s.port)).toStartWith("error:");
    expect(await get(s.port, strangerClient)).toStartWith("error:");
  });

  test("nobody else can bind an HTTPS server's port, with or without TLS", async () => {
    const s = await https(server1);
    await expect(serve({ hostname: "127.0.0.1", port: s.port, fetch: answer })).rejects.toThrow("address already in use");
    await expect(
      serve({ hostname: "127.0.0.1", port: s.port, fetch: answer, tls: { cert: server2.certPem(), key: server2.keyPem(), verifyClient: false } }),
    ).rejects.toThrow("address already in use");
    expect(await subjectCn(s.port)).toBe("server-one");
  });
});

describe("rotation", () => {
  test("new connections get the new certificate; a client writing throughout sees no error", async () => {
    const drainMs = 200;
    const s = await https(server1, { drainMs });
    expect(await subjectCn(s.port)).toBe("server-one");
    // Four clients POST in a loop on keep-alive connections across three rotations.
    let isWriting = true;
    const failures: string[] = [];
    let answered = 0;
    const writer = async (): Promise<void> => {
      while (isWriting) {
        try {
          const r = await fetch(`https://localhost:${s.port}/w`, { method: "POST", body: "v", tls: { ca: ca.certPem() } });
          if ((await r.text()) === "hello /w") answered++;
          else failures.push(`status ${r.status}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    const writers = [writer(), writer(), writer(), writer()];
    const rotations = [server2, server1, server2];
    for (const leaf of rotations) {
      await Bun.sleep(100);
      await s.rotateTls({ cert: leaf.certPem(), key: leaf.keyPem() });
    }
    // Once the old listeners have drained, every new connection gets the newest certificate.
    await Bun.sleep(drainMs + 100);
    const seen = await Promise.all([1, 2, 3, 4].map(() => subjectCn(s.port)));
    isWriting = false;
    await Promise.all(writers);
    expect(seen).toEqual(["server-two", "server-two", "server-two", "server-two"]);
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(100);
  });

  test("a new client CA takes effect for new connections", async () => {
    const s = await https(server1, { verifyClient: true, drainMs: 50 });
    expect(await get(s.port, strangerClient)).toStartWith("error:");
    // The stranger CA signs both the new server certificate and the clients it accepts now.
    const strangerServer = otherCa.issue("stranger-server");
    await s.rotateTls({ cert: strangerServer.certPem(), key: strangerServer.keyPem(), ca: otherCa.certPem() });
    await Bun.sleep(150);
    const r = await fetch(`https://localhost:${s.port}/x`, {
      tls: { ca: otherCa.certPem(), cert: strangerClient.certPem(), key: strangerClient.keyPem() },
    });
    expect(`${r.status} ${await r.text()}`).toBe("200 hello /x");
    expect(await get(s.port, client)).toStartWith("error:");
  });

  test("material that cannot be used throws and the old certificate stays", async () => {
    const s = await https(server1, { drainMs: 50 });
    await expect(s.rotateTls({ cert: server2.certPem(), key: "not a key" })).rejects.toThrow();
    await Bun.sleep(100);
    expect(await subjectCn(s.port)).toBe("server-one");
    expect(await get(s.port)).toBe("200 hello /x");
  });

  test("close stops the draining listeners too", async () => {
    const s = await serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: answer,
      tls: { cert: server1.certPem(), key: server1.keyPem(), verifyClient: false },
      drainMs: 60_000,
    });
    await s.rotateTls({ cert: server2.certPem(), key: server2.keyPem() });
    await s.close();
    // Bound again without SO_REUSEPORT: nothing of the old server holds the port.
    const again = await serve({ hostname: "127.0.0.1", port: s.port, fetch: answer });
    await again.close();
  });
});
