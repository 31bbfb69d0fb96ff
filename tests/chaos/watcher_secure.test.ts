// Goal: the chaos watcher reaches secure nodes (issue 16 item 5 in the chaos suite's secure
// mode): from the environment secure.ts gives the proxy, it watches over HTTPS, trusting the
// run's CA, presenting the client certificate a node with -http-verify-client demands, and
// sending the Basic credentials -auth demands; the events it gets make its chain.
// Method: a stand-in node (Bun.serve with TLS, client certificates required) that answers
// only a request with those credentials, with one event; the watcher's environment built with
// the names secure.ts uses.

import { afterEach, expect, test } from "bun:test";
import { createSimRng } from "../sim/prng.ts";
import { makeCa } from "../support/certs.ts";
import { proxyTlsEnv, upstreamFromEnv } from "./secure.ts";
import { watch, type WatcherOutput } from "./watcher.ts";

let server: ReturnType<typeof Bun.serve> | null = null;
afterEach(() => {
  server?.stop(true);
  server = null;
});

test("with secure mode's environment the watcher watches over HTTPS with a client certificate and credentials", async () => {
  const ca = makeCa("watcher");
  const node = ca.issue("node0-http", { dns: ["localhost"], ips: ["127.0.0.1"] });
  const client = ca.issue("chaos-client", { dns: ["chaos-client"], ips: [] });
  const basic = "operator:secret";
  const seen: Array<string | null> = [];
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: node.certPem(), key: node.keyPem(), ca: ca.certPem(), requestCert: true, rejectUnauthorized: true },
    fetch(req) {
      seen.push(req.headers.get("authorization"));
      if (req.headers.get("authorization") !== `Basic ${btoa(basic)}`) return new Response("{}", { status: 401 });
      const body = 'id: 6\ndata: {"key":"k1","value":"v","version":6}\n\n';
      return new Response(body, { headers: { "content-type": "text/event-stream", "x-applied-index": "5" } });
    },
  });
  const env = { [proxyTlsEnv.ca]: ca.cert, [proxyTlsEnv.cert]: client.cert, [proxyTlsEnv.key]: client.key, [proxyTlsEnv.basic]: basic };
  const out: WatcherOutput = { chains: [], counts: { connects: 0, resumes: 0, gone: 0, refused: 0, errors: 0 } };
  await watch("k", [`127.0.0.1:${server.port}`], createSimRng(7), out, () => seen.length < 2 && out.counts.errors < 3, upstreamFromEnv(env));
  expect(seen[0]).toBe(`Basic ${btoa(basic)}`);
  expect(out.counts.refused).toBe(0);
  expect(out.chains).toHaveLength(1);
  expect(out.chains[0]!.from).toBe(5);
  expect(out.chains[0]!.changes[0]).toEqual({ index: 6, key: "k1", value: "v" });
});
