// Goal (issue 12, item 10): the common mistakes at start print one clear line and exit 1, with
// no stack trace and no minified source: an address that cannot work (-haddr localhost:99999
// or :abc, -raddr localhost, -join not an address), a Raft or HTTP port already in use, and a
// data directory that is a file or not writable. A start refused for an address leaves no data
// directory behind (nothing created, no id stamped).
// Method: the compiled binary, run to completion; exit code, stderr line count and text, and
// the data directory afterwards.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary, repoRoot } from "../support/binary.ts";
import { freePort } from "../support/cluster.ts";

let binary: string;
let root: string;
beforeAll(() => {
  binary = ensureBinary();
  root = mkdtempSync(join(tmpdir(), "hraftd-start-"));
  // Readable by everyone: the not-writable case runs as an unprivileged user when we are root.
  chmodSync(root, 0o755);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Ran {
  readonly code: number | null;
  readonly stderr: string;
  readonly stdout: string;
}

/** Runs the binary to its end (bounded); `uid` runs it as another user (needs root). */
function start(args: readonly string[], uid?: number): Ran {
  const r = spawnSync(binary, args, {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 20_000,
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  return { code: r.status, stderr: r.stderr ?? "", stdout: r.stdout ?? "" };
}

/** Exit 1 and exactly one line on stderr that says `parts`, with no trace of source or stack. */
function expectOneLine(r: Ran, ...parts: RegExp[]): void {
  const lines = r.stderr.trimEnd().split("\n");
  expect({ code: r.code, lines }).toEqual({ code: 1, lines: [expect.stringMatching(/^hraftd: /)] });
  expect(r.stdout).toBe("");
  expect(r.stderr).not.toMatch(/\n\s+at |\| |error: |throw /);
  for (const part of parts) expect(r.stderr).toMatch(part);
}

let dirs = 0;
/** A data directory path under the test root that does not exist yet. */
function freshDir(): string {
  return join(root, `d${dirs++}`);
}

async function addrArgs(): Promise<string[]> {
  return ["-haddr", `localhost:${await freePort()}`, "-raddr", `localhost:${await freePort()}`];
}

const badAddresses: ReadonlyArray<readonly [string, readonly string[], RegExp]> = [
  ["an HTTP port out of range", ["-haddr", "localhost:99999"], /-haddr.*99999/],
  ["an HTTP port that is not a number", ["-haddr", ":abc"], /-haddr.*:abc/],
  ["a Raft address without a port", ["-raddr", "localhost"], /-raddr.*missing port/],
  ["a Raft address without a host", ["-raddr", ":12000"], /-raddr.*no host/],
  ["a -join that is not an address", ["-join", "not an address"], /-join.*not an address/],
];

for (const [name, args, pattern] of badAddresses) {
  test(`${name}: one line, exit 1, no data directory created`, () => {
    const dir = freshDir();
    expectOneLine(start([...args, dir]), pattern);
    expect(existsSync(dir)).toBe(false);
  });
}

/** Holds a port on 127.0.0.1 (where "localhost" binds) for the duration of `body`. */
async function withPortTaken(body: (port: number) => Promise<void>): Promise<void> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  try {
    await body(port);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

test("the Raft port already in use: one line naming it, exit 1, no data directory created", async () => {
  await withPortTaken(async (port) => {
    const dir = freshDir();
    const r = start(["-haddr", `localhost:${await freePort()}`, "-raddr", `localhost:${port}`, dir]);
    expectOneLine(r, new RegExp(`localhost:${port}`), /in use/);
    expect(existsSync(dir)).toBe(false);
  });
});

test("the HTTP port already in use: one line naming it, exit 1, no data directory created", async () => {
  await withPortTaken(async (port) => {
    const dir = freshDir();
    const r = start(["-haddr", `localhost:${port}`, "-raddr", `localhost:${await freePort()}`, dir]);
    expectOneLine(r, new RegExp(`${port}`), /in use/);
    expect(existsSync(dir)).toBe(false);
  });
});

test("a data directory that is a file: one line naming it, exit 1, the file untouched", async () => {
  const file = join(root, "a-file");
  writeFileSync(file, "precious");
  expectOneLine(start([...(await addrArgs()), file]), new RegExp(file), /not a directory/);
  expect(spawnSync("cat", [file], { encoding: "utf8" }).stdout).toBe("precious");
  // Below a file, too.
  expectOneLine(start([...(await addrArgs()), join(file, "sub")]), new RegExp(file));
});

test("a data directory that is not writable: one line naming it, exit 1", async () => {
  const isRoot = process.getuid?.() === 0;
  const dir = join(root, "read-only");
  mkdirSync(dir);
  chmodSync(dir, 0o555);
  // Root writes anywhere: run the node as "nobody" (65534) to meet the permission check.
  const uid = isRoot ? 65534 : undefined;
  expectOneLine(start([...(await addrArgs()), dir], uid), new RegExp(dir), /writ|permission/i);
  expectOneLine(start([...(await addrArgs()), join(dir, "sub")], uid), new RegExp(dir), /writ|permission/i);
  expect(existsSync(join(dir, "sub"))).toBe(false);
});
