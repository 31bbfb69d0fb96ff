// The leader stopped under load, ours and etcd's, measured the same way (issue 15, item 5):
// two clients write in a loop, one request at a time (each bounded at 2 s), one at a follower
// and one at the leader (moving to a survivor once the leader is gone); the leader is stopped
// with SIGTERM (graceful: ours hands leadership on, as etcd's EtcdServer.Stop transfers
// leadership when the member leads), then, with the cluster back to three, with SIGKILL.
// Printed per client: writes that failed, the longest window of consecutive failures (start
// of the first failed attempt to the end of the last) and the longest time between two
// acknowledged writes, and how long the stopped process took to exit.
// Usage: bun bench/handoff_etcd.ts [--binary dist/hraftd-linux-x64] [--port-base 23000]
// (etcd from Debian's etcd-server, as bench/run installs it; skipped when absent). Light: two
// serial writers per cluster, about 15 s in all. Not a test.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Cluster, EtcdCluster, HraftdCluster, type MemberSpec } from "./clusters.ts";
import { killAllOnExit, setRunDirs, sleep } from "./procs.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
};
const binary = flag("--binary", "dist/hraftd-linux-x64");
const portBase = Number(flag("--port-base", "23000"));
const attemptMs = 2_000;

interface Attempt {
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
}

/** A client writing unique keys serially; `target()` is re-read after every failure. */
function writer(c: Cluster, name: string, target: () => number): { stop: () => Promise<Attempt[]> } {
  const attempts: Attempt[] = [];
  let isRunning = true;
  let n = 0;
  const loop = (async (): Promise<void> => {
    while (isRunning) {
      const start = performance.now();
      const ok = await c.writeMany(target(), [[`${name}-${n++}`, "v"]], attemptMs).catch(() => false);
      attempts.push({ start, end: performance.now(), ok });
      if (!ok) await sleep(5);
    }
  })();
  return {
    stop: async () => {
      isRunning = false;
      await loop;
      return attempts;
    },
  };
}

function measure(attempts: readonly Attempt[], t0: number): { failed: number; windowMs: number; stallMs: number } {
  let windowMs = 0;
  let stallMs = 0;
  let runStart: number | null = null;
  let lastOk = t0;
  let failed = 0;
  for (const a of attempts.filter((x) => x.end >= t0)) {
    if (!a.ok) {
      failed++;
      runStart ??= a.start;
      windowMs = Math.max(windowMs, a.end - runStart);
      continue;
    }
    runStart = null;
    stallMs = Math.max(stallMs, a.end - lastOk);
    lastOk = a.end;
  }
  return { failed, windowMs: Math.round(windowMs), stallMs: Math.round(stallMs) };
}

async function leaderOf(c: Cluster): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const l = await c.leader();
    if (l !== null) return l;
    await sleep(50);
  }
  throw new Error(`${c.label}: no leader`);
}

async function stopLeaderUnderLoad(c: Cluster, signal: NodeJS.Signals): Promise<Record<string, unknown>> {
  const leader = await leaderOf(c);
  const [f1, f2] = c.running().filter((i) => i !== leader) as [number, number];
  let leaderGone = false;
  const atFollower = writer(c, `${c.label}-${signal}-f`, () => f1);
  const atLeader = writer(c, `${c.label}-${signal}-l`, () => (leaderGone ? f2 : leader));
  await sleep(1_000);
  const t0 = performance.now();
  await c.stop(leader, signal);
  const exitMs = Math.round(performance.now() - t0);
  leaderGone = true;
  await sleep(2_500);
  const result = {
    system: c.label,
    signal,
    exitMs,
    follower: measure(await atFollower.stop(), t0),
    leader: measure(await atLeader.stop(), t0),
  };
  console.log(JSON.stringify(result));
  c.spawn(leader);
  await sleep(2_000);
  await leaderOf(c);
  return result;
}

const root = mkdtempSync(join(tmpdir(), "handoff-"));
setRunDirs(root, join(root, "pids"));
killAllOnExit();
const specs = (offset: number, prefix: string): MemberSpec[] =>
  [0, 1, 2].map((i) => ({
    name: `${prefix}${i}`,
    clientPort: portBase + offset + i,
    peerPort: portBase + offset + 10 + i,
    dataDir: join(root, `${prefix}${i}`),
  }));
const clusters: Cluster[] = [new HraftdCluster(binary, specs(0, "node"))];
if (Bun.which("etcd") !== null) clusters.push(new EtcdCluster(specs(20, "etcd"), `handoff-${process.pid}`));
else console.log("etcd not installed (apt-get install etcd-server): measuring ours only");
try {
  for (const c of clusters) {
    await c.startAll();
    await stopLeaderUnderLoad(c, "SIGTERM");
    await stopLeaderUnderLoad(c, "SIGKILL");
    await c.stopAll();
  }
} finally {
  for (const c of clusters) await c.stopAll();
  rmSync(root, { recursive: true, force: true });
}
