// Goal: README's "A secure cluster across machines" works as written, on the compiled binary
// (issue 14): its openssl commands make a CA and certificates, its users file loads, three
// nodes start with every security option and two join over HTTPS as `joiner`, and each curl
// of the walkthrough gets the answer its comment promises (200s with credentials and a client
// certificate, 401 without credentials or with a wrong password, refused without a client
// certificate or over plain HTTP).
// Method: the test reads the README's `<!-- readme-run: NAME -->` blocks and runs them with
// bash in a temporary directory (HOME pointed there too, so ~/node0 lands inside it), with
// `npx bun main.ts` replaced by the compiled binary and `npx bun` by the repository's bun. Node
// blocks run in the background; the test waits on /status (which the "*" user may read) between
// them. The README's ports are used when free, else every one is mapped to a free port.

import { afterAll, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary, repoRoot } from "../support/binary.ts";
import { freePort, poll, portsFree } from "../support/cluster.ts";
import { readmeRunBlocks } from "../support/readme_blocks.ts";

const readmePorts = [11000, 11001, 11002, 12000, 12001, 12002];

/** One curl command of the curl block (continuation lines joined) and what its comment promises. */
interface CurlCase {
  readonly command: string;
  readonly expect: string;
}

function curlCases(block: string): CurlCase[] {
  const joined = block.replace(/\\\n\s*/g, "");
  return joined.split("\n").filter((l) => l.startsWith("curl ")).map((line) => {
    const m = /^(.*?)\s+# → (.*)$/.exec(line);
    if (m === null) throw new Error(`README curl without an expectation comment: ${line}`);
    return { command: m[1]!, expect: m[2]! };
  });
}

const work = mkdtempSync(join(tmpdir(), "hraftd-readme-secure-"));
const nodes: ChildProcess[] = [];
afterAll(() => {
  for (const n of nodes) {
    try {
      process.kill(-n.pid!, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  rmSync(work, { recursive: true, force: true });
});

test("README: a secure cluster across machines, step by step", async () => {
  const binary = ensureBinary();
  const bun = join(repoRoot, "node_modules", ".bin", "bun");
  const blocks = readmeRunBlocks("## A secure cluster across machines");
  expect([...blocks.keys()]).toEqual(["certs", "users", "node0", "node1", "node2", "curl"]);

  const portMap = new Map<number, number>();
  if (!(await portsFree(readmePorts))) for (const p of readmePorts) portMap.set(p, await freePort());
  const adapt = (script: string): string => {
    let s = script.replaceAll("npx bun main.ts", binary).replaceAll("npx bun", bun);
    for (const [from, to] of portMap) s = s.replaceAll(`:${from}`, `:${to}`);
    return s;
  };
  const port = (p: number): number => portMap.get(p) ?? p;
  const env = { ...process.env, HOME: work };
  const run = (name: string): void => {
    const r = spawnSync("bash", ["-euo", "pipefail", "-c", adapt(blocks.get(name)!)], { cwd: work, env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`README block ${name} failed (${r.status}): ${r.stderr}`);
  };
  const start = (name: string): void => {
    const log = openSync(join(work, `${name}.log`), "a");
    nodes.push(spawn("bash", ["-c", adapt(blocks.get(name)!)], { cwd: work, env, stdio: ["ignore", log, log], detached: true }));
  };
  const logs = (): string => ["node0", "node1", "node2"].map((n) => {
    try {
      return `\n--- ${n}.log\n${readFileSync(join(work, `${n}.log`), "utf8").slice(-3000)}`;
    } catch {
      return "";
    }
  }).join("");
  const curlStatus = (url: string): { code: string; body: string } => {
    const r = spawnSync("curl", ["-s", "--cacert", "tls/ca.pem", "--cert", "tls/client.pem", "--key", "tls/client-key.pem", "-w", "\n%{http_code}", url], { cwd: work, encoding: "utf8" });
    const lines = r.stdout.split("\n");
    return { code: lines.pop() ?? "", body: lines.join("\n") };
  };
  const voters = (): string[] => {
    const s = curlStatus(`https://localhost:${port(11000)}/status`);
    if (s.code !== "200") return [];
    return (JSON.parse(s.body) as { members: { id: string; suffrage: string }[] }).members.filter((m) => m.suffrage === "voter").map((m) => m.id);
  };

  run("certs");
  run("users");
  start("node0");
  await poll("node0 to lead over HTTPS", async () => (JSON.parse(curlStatus(`https://localhost:${port(11000)}/status`).body || "{}").state === "leader" ? true : undefined), { timeoutMs: 15_000, intervalMs: 200, context: logs });
  start("node1");
  await poll("node1 to join as a voter", async () => (voters().includes("node1") ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, context: logs });
  start("node2");
  await poll("node2 to join as a voter", async () => (voters().includes("node2") ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, context: logs });

  const cases = curlCases(blocks.get("curl")!);
  expect(cases.length).toBeGreaterThanOrEqual(8);
  for (const c of cases) {
    const r = spawnSync("bash", ["-c", `${adapt(c.command)} -s -w '\\n%{http_code}'`], { cwd: work, encoding: "utf8" });
    const lines = r.stdout.split("\n");
    const code = lines.pop() ?? "";
    const body = lines.join("\n");
    const seen = r.status !== 0 || code === "000" ? "refused" : code;
    const [want, ...rest] = c.expect.split(" ");
    expect({ command: c.command, got: seen }).toEqual({ command: c.command, got: want! });
    // A body promised verbatim (JSON) must be exactly it.
    const promised = rest.join(" ");
    if (promised.startsWith("{")) expect(body).toBe(promised);
  }
}, 120_000);
