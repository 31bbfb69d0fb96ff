// Goal: a second hraftd started on a data directory in use is refused at once, with one line
// naming the directory and the running node's pid, and exit status 1, while the first node
// keeps serving; a node killed with SIGKILL leaves nothing that blocks its restart (issue 12,
// item 7).
// Method: the compiled binary, real processes: node0 runs; a second process is started on
// node0's directory (other ports, so no port clash can be what stops it); then node0 is
// killed with SIGKILL and started again with its original command.

import { afterEach, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { Cluster, freePort } from "../support/cluster.ts";

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = null;
});

test("a second process on a data directory in use exits 1 with one line; after SIGKILL of the first, a start succeeds", async () => {
  const c = (cluster = new Cluster());
  const node0 = await c.add({ id: "node0" });
  await c.waitLeader([node0], 10_000);
  expect((await node0.set({ before: "1" })).status).toBe(200);

  const intruder = await c.define({
    id: "intruder",
    exactArgs: ["-id", "node0", "-haddr", `localhost:${await freePort()}`, "-raddr", `localhost:${await freePort()}`, node0.dataDir],
  });
  intruder.start();
  const exit = await c.poll("the second process to exit", async () => {
    if (intruder.isRunning) return undefined;
    return true;
  }, 15_000);
  expect(exit).toBe(true);
  const lines = intruder.log.split("\n").filter((l) => l !== "" && !l.startsWith("---- "));
  const pid = runningPid(node0.args);
  expect(lines).toEqual([
    `hraftd: data directory ${node0.dataDir} is in use by another process (pid ${pid}); stop that node first, or give this one another directory`,
  ]);
  expect(intruder.log).toContain("---- exit: code 1 signal null");

  // The first node never noticed.
  expect(node0.isRunning).toBe(true);
  expect((await node0.set({ during: "2" })).status).toBe(200);
  expect(await node0.value("before")).toBe("1");

  // A lock held by a killed process does not outlive it.
  expect((await node0.kill9()).signal).toBe("SIGKILL");
  node0.start();
  await c.waitLeader([node0], 10_000);
  expect(await node0.value("during")).toBe("2");
  expect((await node0.set({ after: "3" })).status).toBe(200);
}, 60_000);

/** The pid of the one running process whose command line ends with `args` (from /proc). */
function runningPid(args: readonly string[]): number {
  const want = args.join("\0");
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0$/, "");
      if (cmdline.endsWith(want)) found.push(Number(name));
    } catch {
      // The process ended meanwhile.
    }
  }
  if (found.length !== 1) throw new Error(`expected one process running ${args.join(" ")}, found ${found.length}`);
  return found[0]!;
}
