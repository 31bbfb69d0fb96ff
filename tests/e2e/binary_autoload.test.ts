// Goal: the release binary runs only its own code and reads its configuration from its flags,
// never from files in the directory it is started in (issue 12, item 9).
// Method: start dist/hraftd-linux-x64 in a temp directory holding a bunfig.toml whose preload
// writes a marker file, and a .env that sets HTTP_PROXY to a listener of this test; the node
// is told to -join an address that only that proxy could answer. A compiled Bun executable
// with autoloading on runs the preload and sends the join through the proxy. A control run
// with HTTP_PROXY in the real environment shows that the proxy is reached when the variable
// is set, and how soon, so the absence of a request is not a matter of waiting too little.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, poll } from "../support/cluster.ts";
import { ensureBinary } from "../support/binary.ts";

/** A host no resolver knows (RFC 6761): without the proxy the join cannot reach anything. */
const joinHost = "hraftd-join.invalid:11000";

let binary = "";
let dir = "";
let proxy: Server | null = null;
/** First request line of every connection the proxy received. */
const proxied: string[] = [];
const children = new Set<ChildProcess>();

beforeAll(async () => {
  binary = ensureBinary();
  dir = mkdtempSync(join(tmpdir(), "hraftd-autoload-"));
  proxy = createServer((socket) => {
    let head = "";
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n");
      if (end >= 0) {
        proxied.push(head.slice(0, end));
        socket.end("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
      }
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => proxy!.listen(0, "127.0.0.1", resolve));
}, 600_000);

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await new Promise<void>((resolve) => (proxy === null ? resolve() : proxy.close(() => resolve())));
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

function proxyUrl(): string {
  const address = proxy?.address();
  if (typeof address !== "object" || address === null) throw new Error("proxy is not listening");
  return `http://127.0.0.1:${address.port}`;
}

/** Starts the binary in `cwd` as a node that joins through `joinHost`; extra environment in `env`. */
async function startJoiner(cwd: string, id: string, env: Record<string, string>): Promise<ChildProcess> {
  const args = ["-id", id, "-haddr", `127.0.0.1:${await freePort()}`, "-raddr", `127.0.0.1:${await freePort()}`, "-join", joinHost, join(cwd, `data-${id}`)];
  const baseEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(https?|all|no)_proxy$/i.test(k)) baseEnv[k] = v;
  }
  const child = spawn(binary, args, { cwd, env: { ...baseEnv, ...env }, stdio: ["ignore", "ignore", "ignore"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

test("bunfig.toml and .env in the working directory are not loaded by the binary", async () => {
  // Control: the environment variable, when really set, reaches the proxy.
  const controlDir = mkdtempSync(join(dir, "control-"));
  const started = performance.now();
  const control = await startJoiner(controlDir, "control", { HTTP_PROXY: proxyUrl(), http_proxy: proxyUrl() });
  await poll("the control node's join to reach the proxy", async () => (proxied.length > 0 ? true : undefined), {
    timeoutMs: 20_000,
  });
  const reachedAfterMs = performance.now() - started;
  await stop(control);
  expect(proxied[0]).toContain("/join");
  proxied.length = 0;

  const hostile = mkdtempSync(join(dir, "hostile-"));
  const marker = join(hostile, "preload-ran");
  writeFileSync(join(hostile, "x.ts"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`);
  writeFileSync(join(hostile, "bunfig.toml"), `preload = ["./x.ts"]\n`);
  writeFileSync(join(hostile, ".env"), `HTTP_PROXY=${proxyUrl()}\nhttp_proxy=${proxyUrl()}\n`);
  const node = await startJoiner(hostile, "hostile", {});
  // Five times as long as the control needed, and never less than three seconds.
  const waitMs = Math.max(3_000, 5 * reachedAfterMs);
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  await stop(node);
  expect({ preloadRan: existsSync(marker), proxiedRequests: proxied }).toEqual({ preloadRan: false, proxiedRequests: [] });
}, 120_000);
