// Goal: serve() with TLS under Deno (http/serve.ts's Deno.serve branch): HTTPS with the
// certificate, rotation to a new certificate, nobody else on the port, TLS 1.1 refused, and
// client certificates refused with a clear error (Deno.serve cannot request them).
// Method: `deno eval` of a script that imports http/serve.ts and reports what it saw as JSON
// (openssl s_client for the served certificate). Skipped when node_modules/.bin/deno is missing.

import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../../support/binary.ts";
import { makeCa } from "../../support/certs.ts";

const deno = join(repoRoot, "node_modules", ".bin", "deno");
const haveDeno = existsSync(deno);

const script = (serveTs: string) => `
import { serve } from ${JSON.stringify(serveTs)};
const [cert, key, cert2, key2, caFile] = JSON.parse(Deno.env.get("CERTS"));
const read = (p) => Deno.readTextFileSync(p);
const out = {};
const sClient = async (port, extra = []) => {
  const r = await new Deno.Command("openssl", { args: ["s_client", ...extra, "-connect", "127.0.0.1:" + port, "-CAfile", caFile], stdin: "null", stdout: "piped", stderr: "piped" }).output();
  return new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
};
const cn = async (port) => (await sClient(port)).match(/subject=.*CN\\s*=\\s*([\\w-]+)/)?.[1] ?? "none";
const s = await serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok"), tls: { cert: read(cert), key: read(key), verifyClient: false } });
out.before = await cn(s.port);
out.second = await serve({ hostname: "127.0.0.1", port: s.port, fetch: () => new Response("x") }).then(() => "bound", (e) => e.message);
out.tls11 = /alert/.test(await sClient(s.port, ["-tls1_1"])) ? "refused" : "accepted";
await s.rotateTls({ cert: read(cert2), key: read(key2) });
out.after = await cn(s.port);
out.verifyClient = await serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("x"), tls: { cert: read(cert), key: read(key), ca: read(caFile), verifyClient: true } }).then(() => "served", (e) => e.message);
await s.close();
console.log(JSON.stringify(out));
`;

test.skipIf(!haveDeno)("HTTPS under Deno: served, rotated, port kept, TLS 1.1 and client certificates refused", () => {
  const ca = makeCa("deno");
  const one = ca.issue("deno-one");
  const two = ca.issue("deno-two");
  const run = spawnSync(deno, ["eval", "--ext=ts", script(join(repoRoot, "http", "serve.ts"))], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, CERTS: JSON.stringify([one.cert, one.key, two.cert, two.key, ca.cert]), NO_COLOR: "1" },
  });
  const lastLine = run.stdout.trim().split("\n").pop() ?? "";
  expect(run.status, run.stderr).toBe(0);
  const out = JSON.parse(lastLine) as Record<string, string>;
  expect(out["before"]).toBe("deno-one");
  expect(out["after"]).toBe("deno-two");
  expect(out["second"]).toContain("address already in use");
  expect(out["tls11"]).toBe("refused");
  expect(out["verifyClient"]).toContain("client certificates (-http-verify-client) need Bun");
}, 60_000);
