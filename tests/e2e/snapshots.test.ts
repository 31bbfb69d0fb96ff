// Goal: more than a snapshot's worth of writes makes snapshots (two kept), removes old log
// segments, and a node joining afterwards is brought up by InstallSnapshot and serves every key
// (issue 5, item 6).
// Method: 3 nodes with -snapshot-threshold 200 -snapshot-trailing 50. First about 70 MB of
// large values overwriting three keys, which fills the first 64 MiB WAL segment and rolls to a
// second (the segment size has no flag); then several hundred keys of 3 KB, past three snapshots
// (a state past 1 MiB also waits for log bytes of a quarter of the last snapshot).
// Each node must then hold exactly two snapshot directories and no longer the first segment.
// A fourth node joins through a follower; the leader's log no longer starts at index 1, so only
// InstallSnapshot can bring it up; it must then hold every key in its own state.

import { afterAll, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Cluster, type TestNode } from "../support/cluster.ts";

const cluster = new Cluster({ commonArgs: ["-snapshot-threshold", "200", "-snapshot-interval", "0", "-snapshot-trailing", "50"] });
afterAll(() => cluster.cleanup());

/** Writes in flight at once: enough to batch appends (group commit) on 2 cores. */
const writersMax = 8;
const bigValueBytes = 600_000;
/** Large entries: 115 × 600 KB ≈ 69 MB, past one 64 MiB segment. */
const bigEntries = 115;
const smallEntries = 800;
/** 800 × 3 KB: enough log bytes for two more snapshots of a ~2-4 MB state after the first. */
const smallPad = "s".repeat(3000);

function snapshotDirs(node: TestNode): string[] {
  const dir = join(node.dataDir, "snapshots");
  return existsSync(dir) ? readdirSync(dir).filter((n) => /^\d+-\d+$/.test(n)).sort() : [];
}

function segments(node: TestNode): string[] {
  const dir = join(node.dataDir, "raft", "wal");
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".seg")) : [];
}

/** Runs `count` writes, `writersMax` at a time, spread over `nodes`; each must answer 200. */
async function writeAll(nodes: readonly TestNode[], count: number, pairOf: (i: number) => Record<string, string>) {
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const r = await nodes[(i + w) % nodes.length]!.set(pairOf(i), 30_000);
      if (r.status !== 200) throw new Error(`write ${i}: ${r.status} ${r.text}`);
    }
  };
  await Promise.all(Array.from({ length: writersMax }, (_, w) => worker(w)));
}

test("snapshots (two kept), old segments removed, a late joiner caught up by InstallSnapshot", async () => {
  const node0 = await cluster.add({ id: "node0" });
  await cluster.waitLeader([node0], 5_000);
  const node1 = await cluster.add({ id: "node1", join: node0 });
  const node2 = await cluster.add({ id: "node2", join: node0 });
  const three = [node0, node1, node2];
  await cluster.waitVoters(node0, ["node0", "node1", "node2"]);
  const firstSegments = three.map((n) => segments(n));
  for (const segs of firstSegments) expect(segs).toHaveLength(1);

  const expected: Record<string, string> = {};
  const big = (i: number): string => `${String(i).padStart(6, "0")}${"b".repeat(bigValueBytes)}`;
  const t0 = performance.now();
  await writeAll(three, bigEntries, (i) => ({ [`big${i % 3}`]: big(i) }));
  const tBig = performance.now();
  await writeAll(three, smallEntries, (i) => ({ [`key${i}`]: `value${i}${smallPad}` }));
  console.log(
    `${bigEntries} writes of ${bigValueBytes} B in ${(tBig - t0).toFixed(0)} ms; ` +
      `${smallEntries} small writes in ${(performance.now() - tBig).toFixed(0)} ms`,
  );
  for (let i = 0; i < smallEntries; i++) expected[`key${i}`] = `value${i}${smallPad}`;

  // Snapshots are taken after apply, so each node may lag its answer a little: poll.
  for (const [n, node] of three.entries()) {
    await cluster.poll(`${node.id} to take 3 snapshots, keep 2 and drop its first segment`, async () => {
      const taken = node.log.match(/snapshot taken at index/g)?.length ?? 0;
      const segs = segments(node);
      const firstGone = !segs.includes(firstSegments[n]![0]!);
      return taken >= 3 && snapshotDirs(node).length === 2 && firstGone ? true : undefined;
    }, 20_000, 100);
    expect(snapshotDirs(node)).toHaveLength(2);
    // What is left of the log starts past index 1: compaction removed whole segments.
    const firstIndexes = segments(node).map((s) => Number(s.replace(".seg", ""))).sort((a, b) => a - b);
    expect(firstIndexes[0]!).toBeGreaterThan(1);
  }
  // The three big keys hold the last value written to each (the writes raced, so read them).
  for (let k = 0; k < 3; k++) {
    const v = await node0.value(`big${k}`);
    expect(v).not.toBeNull();
    expect(v!.length).toBe(6 + bigValueBytes);
    expected[`big${k}`] = v!;
  }

  // A late joiner, through a follower: only a snapshot can bring it up.
  const leader = await cluster.waitLeader(three);
  const follower = three.find((n) => n !== leader)!;
  const node3 = await cluster.add({ id: "node3", join: follower });
  await cluster.waitVoters(leader, ["node0", "node1", "node2", "node3"], 30_000);
  await cluster.waitHolds(node3, expected, 30_000);
  expect(node3.log).toMatch(/installed snapshot at index \d+/);
  expect(snapshotDirs(node3).length).toBeGreaterThanOrEqual(1);
  // Its reads at the default level agree, and it takes part in new writes.
  expect(await node3.value("key0")).toBe(`value0${smallPad}`);
  expect((await node3.set({ late: "joiner" })).status).toBe(200);
  for (const node of [...three, node3]) expect(await node.value("late")).toBe("joiner");
}, 120_000);
