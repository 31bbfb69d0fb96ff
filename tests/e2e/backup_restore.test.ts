// Goal (issue 15, item 6): GET /backup on a follower of a 3-node cluster while writes continue
// gives a checksummed file naming its index and term, holding every write acknowledged before
// it; -restore starts a new node from it with exactly that state, and a node joining it gets the
// state by InstallSnapshot; a damaged copy and a data directory with state are refused with one
// line and nothing created; ?format=json is the same state for people.
// Method: the compiled binary, and the README's curl commands run by curl itself.

import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "../support/binary.ts";
import { Cluster } from "../support/cluster.ts";
import { readBackup } from "../../store/backup.ts";

const cluster = new Cluster();
afterAll(() => cluster.cleanup());

/** Runs a shell command line as the README shows it; returns stdout (stderr in the error). */
function sh(line: string): string {
  const r = spawnSync("sh", ["-c", line], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${line}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** The binary run to its end: exit code and stderr. */
function runBinary(args: readonly string[]): { code: number | null; stderr: string } {
  const r = spawnSync(ensureBinary(), args, { encoding: "utf8", timeout: 20_000 });
  return { code: r.status, stderr: r.stderr ?? "" };
}

test("backup from a follower under writes, restore into a new cluster, damage refused, JSON dump", async () => {
  const node0 = await cluster.add({ id: "node0" });
  await cluster.waitLeader([node0], 5_000);
  const node1 = await cluster.add({ id: "node1", join: node0 });
  const node2 = await cluster.add({ id: "node2", join: node0 });
  await cluster.waitVoters(node0, ["node0", "node1", "node2"]);
  const leader = await cluster.waitLeader();
  const follower = [node0, node1, node2].find((n) => n !== leader)!;

  const before: Record<string, string> = {};
  for (let i = 0; i < 300; i++) before[`key${i}`] = `value${i}`;
  for (let i = 0; i < 300; i += 50) {
    const chunk = Object.fromEntries(Object.entries(before).slice(i, i + 50));
    expect((await leader.set(chunk)).status).toBe(200);
  }

  // Writes keep coming while the backup is taken.
  let writing = true;
  let written = 0;
  const writer = (async () => {
    while (writing) {
      const r = await node0.set({ [`during${written}`]: "x" });
      if (r.status === 200) written++;
    }
  })();
  await cluster.poll("writes under way", async () => (written >= 20 ? true : undefined), 5_000);
  const dir = cluster.root;
  const file = join(dir, "backup.bak");
  // README: take a backup from any node.
  const headers = sh(`curl -sS -D - -o ${file} http://${follower.httpAddr}/backup`);
  writing = false;
  await writer;
  expect(headers).toMatch(/^HTTP\/1.1 200/);
  const index = Number(/x-raft-index: (\d+)/i.exec(headers)?.[1]);
  const term = Number(/x-raft-term: (\d+)/i.exec(headers)?.[1]);
  expect(index).toBeGreaterThan(6);
  expect(term).toBeGreaterThanOrEqual(1);
  expect(written).toBeGreaterThan(0);
  const bytes = readFileSync(file);
  expect(bytes.subarray(0, 8).toString("latin1")).toBe("HRAFTDBK");
  console.log(`backup of ${bytes.length} bytes at index ${index} term ${term}; ${written} writes during it`);

  // README: a human-readable dump.
  const dump = JSON.parse(sh(`curl -sS "http://${follower.httpAddr}/backup?format=json"`)) as {
    index: number;
    pairs: Record<string, string>;
  };
  expect(dump.index).toBeGreaterThanOrEqual(index);
  for (const [k, v] of Object.entries(before)) expect(dump.pairs[k]).toBe(v);

  // A damaged copy: one byte changed in the middle. Refused, nothing created.
  const damaged = join(dir, "damaged.bak");
  const copy = Buffer.from(bytes);
  copy[copy.length >> 1] = copy[copy.length >> 1]! ^ 0xff;
  writeFileSync(damaged, copy);
  const damagedDir = join(dir, "from-damaged");
  const restored = await cluster.define({ id: "restored", extraArgs: ["-restore", file] });
  const refusedAgain = runBinary(["-id", "r1", "-haddr", restored.httpAddr, "-raddr", restored.raftAddr, "-restore", damaged, damagedDir]);
  for (const r of [refusedAgain]) {
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/-restore .*damaged\.bak: (checksum mismatch|record at byte|trailer)/);
  }
  expect(existsSync(damagedDir)).toBe(false);

  // README: restore into a new node, which starts a cluster of its own.
  restored.start();
  const newLeader = await cluster.waitLeader([restored], 10_000);
  expect(newLeader).toBe(restored);
  expect(restored.log).toMatch(/restored \d+ keys from .*backup\.bak/);
  const status = await restored.status();
  expect(status.members.map((m) => m.id)).toEqual(["restored"]);
  expect(status.applied).toBeGreaterThanOrEqual(index);
  // Exactly the backup's state: compare with the JSON dump of the restored node at its index.
  // Exactly the file's state, as the production reader reads it.
  const inFile: Record<string, string> = {};
  readBackup({ size: bytes.length, read: (p, n) => bytes.subarray(p, p + n) }, (pairs) => {
    for (const [k, v] of pairs) inFile[k] = v;
  });
  const restoredDump = JSON.parse(sh(`curl -sS "http://${restored.httpAddr}/backup?format=json"`)) as { pairs: Record<string, string> };
  expect(restoredDump.pairs).toEqual(inFile);
  for (const [k, v] of Object.entries(before)) expect(restoredDump.pairs[k]).toBe(v);
  const duringKeys = Object.keys(restoredDump.pairs).filter((k) => k.startsWith("during"));
  expect(Object.keys(restoredDump.pairs)).toHaveLength(300 + duringKeys.length);
  // The backup holds a prefix of the writes made during it (they were sequential).
  for (let i = 0; i < duringKeys.length; i++) expect(restoredDump.pairs[`during${i}`]).toBe("x");

  // A node joining the restored cluster gets the state by InstallSnapshot.
  expect((await restored.set({ after: "restore" })).status).toBe(200);
  const joiner = await cluster.add({ id: "joiner", join: restored });
  await cluster.waitVoters(restored, ["restored", "joiner"]);
  await cluster.waitHolds(joiner, { ...before, after: "restore" });

  // -restore again into a directory with state: refused, one line.
  await restored.stop();
  const again = runBinary([...restored.args.slice(0, -1), restored.dataDir]);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/already holds a node's state/);
}, 40_000);
