// Goal: serve() hands the fetch handler the server's per-request timeouts (RequestTimeouts) as
// its second argument, over plain HTTP and over HTTPS (whose listener wraps the handler for
// certificate rotation), so a blocking read can hold its connection past the idle timeout
// whichever the node serves; over HTTPS a handler that lifts it for a request answers after
// the idle timeout has passed (over HTTP, blocking_wait.test.ts shows it on a real node).
// Method: real servers on loopback port 0 (certificates made with openssl at test time), real
// fetch; over HTTPS one request held 11 s, past the 10 s idle timeout.

import { afterAll, expect, test } from "bun:test";
import { idleTimeoutSeconds, type RequestTimeouts, serve, type ServerHandle } from "../../../http/serve.ts";
import { makeCa } from "../../support/certs.ts";

const ca = makeCa("timeouts");
const leaf = ca.issue("server", { dns: ["localhost"], ips: ["127.0.0.1"] });
const servers: ServerHandle[] = [];
afterAll(() => Promise.all(servers.map((s) => s.close())));

/** Answers after `?hold=<ms>`, lifting the idle timeout meanwhile as a blocking read does. */
const answer = async (request: Request, server?: RequestTimeouts): Promise<Response> => {
  const hold = Number(new URL(request.url).searchParams.get("hold") ?? "0");
  if (server === undefined) return new Response("no timeouts", { status: 500 });
  server.timeout(request, 0);
  await Bun.sleep(hold);
  server.timeout(request, idleTimeoutSeconds);
  return new Response(`held ${hold}`);
};

for (const scheme of ["http", "https"] as const) {
  test.concurrent(`${scheme}: the handler gets the server's timeouts, and a request held past the idle timeout is answered`, async () => {
    const s = await serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: answer,
      ...(scheme === "https" ? { tls: { cert: leaf.certPem(), key: leaf.keyPem(), verifyClient: false } } : {}),
    });
    servers.push(s);
    const tls = scheme === "https" ? { tls: { ca: ca.certPem() } } : {};
    const quick = await fetch(`${scheme}://127.0.0.1:${s.port}/?hold=0`, tls);
    expect(await quick.text()).toBe("held 0");
    if (scheme === "http") return;
    const held = await fetch(`${scheme}://127.0.0.1:${s.port}/?hold=${(idleTimeoutSeconds + 1) * 1000}`, tls);
    expect(await held.text()).toBe(`held ${(idleTimeoutSeconds + 1) * 1000}`);
  }, 30_000);
}
