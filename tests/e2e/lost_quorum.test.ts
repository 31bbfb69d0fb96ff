// Goal (issue 15, item 7): recovery from lost quorum as the README describes it. Five nodes take
// writes; three are killed for good (data deleted); the two survivors cannot elect a leader.
// They are stopped, peers.json naming both is written into each data directory, and they are
// started again: they elect a leader, hold every acknowledged write, take new writes, consume
// the file, and three fresh nodes join to make five again.
// Method: the compiled binary; the README's shell steps (cat > peers.json) run by sh.

import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Cluster, type TestNode } from "../support/cluster.ts";

const cluster = new Cluster();
afterAll(() => cluster.cleanup());

function sh(line: string): string {
  const r = spawnSync("sh", ["-c", line], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${line}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

test("five nodes, three lost for good, two survivors recovered with peers.json, grown back to five", async () => {
  const node0 = await cluster.add({ id: "node0" });
  await cluster.waitLeader([node0], 5_000);
  const others: TestNode[] = [];
  for (const id of ["node1", "node2", "node3", "node4"]) {
    others.push(await cluster.add({ id, join: node0 }));
    await cluster.waitVoters(node0, ["node0", ...others.map((n) => n.id)]);
  }
  const five = [node0, ...others];
  const acknowledged: Record<string, string> = {};
  for (let i = 0; i < 200; i++) {
    const r = await five[i % 5]!.set({ [`key${i}`]: `value${i}` });
    expect(r.status).toBe(200);
    acknowledged[`key${i}`] = `value${i}`;
  }
  // Every acknowledged write is on a majority; wait until the survivors hold them all, so
  // that "reached them" is every write (Raft alone promises only that 3 of 5 have them).
  const [survivorA, survivorB] = [others[0]!, others[1]!];
  await cluster.waitHolds(survivorA, acknowledged);
  await cluster.waitHolds(survivorB, acknowledged);

  // Three lost for good: killed, their data deleted.
  for (const lost of [node0, others[2]!, others[3]!]) {
    await lost.kill9();
    rmSync(lost.dataDir, { recursive: true, force: true });
  }
  // Two of five: no quorum, no writes.
  const stuck = await survivorA.set({ stuck: "yes" }, 3_000).catch(() => ({ status: 0 }));
  expect(stuck.status).not.toBe(200);

  // The README's check before recovering several survivors: their logs end at the same index
  // in the same term, so (Log Matching) they are the same log and keep the same entries.
  const ends = await Promise.all([survivorA, survivorB].map(async (s) => {
    const st = await s.status();
    return `${st.lastTerm}/${st.lastIndex}`;
  }));
  expect(ends[0]).toBe(ends[1]);

  // The procedure: stop the survivors, write peers.json into each data directory, start them.
  await survivorA.stop();
  await survivorB.stop();
  const peers = JSON.stringify([
    { id: survivorA.id, address: survivorA.raftAddr },
    { id: survivorB.id, address: survivorB.raftAddr },
  ]);
  for (const s of [survivorA, survivorB]) sh(`cat > ${s.dataDir}/peers.json <<'EOF'\n${peers}\nEOF`);
  survivorA.start();
  survivorB.start();
  const leader = await cluster.waitLeader([survivorA, survivorB], 10_000);
  for (const s of [survivorA, survivorB]) {
    expect(s.log).toMatch(/recovered from lost quorum with peers\.json/);
    expect(existsSync(join(s.dataDir, "peers.json"))).toBe(false);
    expect(readdirSync(s.dataDir).some((n) => n.startsWith("peers.json.applied-"))).toBe(true);
  }
  const status = await leader.status();
  expect(status.members.map((m) => `${m.id}:${m.suffrage}`).sort()).toEqual([`${survivorA.id}:voter`, `${survivorB.id}:voter`]);
  for (const [k, v] of Object.entries(acknowledged)) expect(await leader.value(k)).toBe(v);
  expect((await survivorB.set({ after: "recovery" })).status).toBe(200);

  // Grown back to five by fresh nodes.
  const fresh: TestNode[] = [];
  for (const id of ["node5", "node6", "node7"]) {
    fresh.push(await cluster.add({ id, join: survivorA }));
    await cluster.waitVoters(survivorA, [survivorA.id, survivorB.id, ...fresh.map((n) => n.id)]);
  }
  for (const n of fresh) await cluster.waitHolds(n, { ...acknowledged, after: "recovery" });
  // A restart does not apply the file again (it is gone): still five.
  await survivorA.stop();
  survivorA.start();
  await cluster.waitVoters(survivorA, [survivorA.id, survivorB.id, ...fresh.map((n) => n.id)]);
  expect(survivorA.log.match(/recovered from lost quorum/g)).toHaveLength(1);
}, 40_000);
