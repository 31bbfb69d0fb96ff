// Goal: the same node runs under Deno (`deno run -A main.ts`, issue 5, item 9).
// Method: one node started from source with the npm package's deno binary on random ports;
// it must elect itself, take a write and serve it back; then a clean SIGTERM shutdown.
// Skipped, with the reason printed, when node_modules/.bin/deno is missing.

import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../support/binary.ts";
import { Cluster } from "../support/cluster.ts";

const deno = join(repoRoot, "node_modules", ".bin", "deno");
const haveDeno = existsSync(deno);
if (!haveDeno) console.log(`skipping the Deno smoke test: ${deno} is missing (npm install the deno package)`);

let cluster: Cluster | null = null;
afterAll(() => cluster?.cleanup());

test.skipIf(!haveDeno)("deno run -A main.ts: one node sets and gets a key", async () => {
  const c = (cluster = new Cluster({ command: [deno, "run", "-A", "main.ts"] }));
  const node = await c.add({ id: "deno0" });
  // Deno compiles the TypeScript on first start: allow it time to come up.
  await c.waitLeader([node], 30_000);
  const set = await node.set({ runtime: "deno" });
  expect({ status: set.status, body: set.text }).toEqual({ status: 200, body: "" });
  const get = await node.get("runtime");
  expect({ status: get.status, body: get.text }).toEqual({ status: 200, body: '{"runtime":"deno"}' });
  expect((await node.get("absent")).status).toBe(404);
  expect(await node.stop("SIGTERM")).toEqual({ code: 0, signal: null });
}, 60_000);
