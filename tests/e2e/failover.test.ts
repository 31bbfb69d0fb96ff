// Goal: kill -9 of the leader (issue 5, item 3): a survivor accepts writes within 2 seconds,
// reads work on the survivors, and the old leader, restarted with its original command,
// catches up on everything written while it was down.
// Method: a 3-node cluster on default timing; each round SIGKILLs the current leader and then
// writes to both survivors in parallel (each attempt bounded, retried on 503) until one answers
// 200; the failover time is from just before the kill to that first 200, printed per round.
// TIMING-SENSITIVE: the 2 s bound (DESIGN aims for under 1 s: election timeout 500-1000 ms plus
// a PreVote and a vote round). Rounds: HRAFTD_E2E_FAILOVER_ROUNDS (default 3).

import { afterAll, expect, test } from "bun:test";
import { Cluster, type TestNode } from "../support/cluster.ts";

const cluster = new Cluster();
afterAll(() => cluster.cleanup());

const rounds = Number(process.env["HRAFTD_E2E_FAILOVER_ROUNDS"] ?? "3");
const failoverMsMax = 2_000;
/** How long the measurement keeps trying, so a slow failover is measured, not just failed. */
const measureMsMax = 10_000;
/** One write attempt's bound: a write to a dead leader's forwarder must not block the race. */
const attemptMsMax = 1_000;

/** Writes a fresh key to `survivors` in parallel until one is accepted; the ms since `t0` and the key. */
async function firstAcceptedWrite(
  survivors: readonly TestNode[],
  t0: number,
  tag: string,
): Promise<{ ms: number; key: string; node: string }> {
  let winner: { ms: number; key: string; node: string } | null = null;
  let attempt = 0;
  const tries: string[] = [];
  const loop = async (node: TestNode): Promise<void> => {
    while (winner === null && performance.now() - t0 < measureMsMax) {
      const key = `${tag}-${node.id}-${attempt++}`;
      try {
        const r = await node.set({ [key]: "written after failover" }, attemptMsMax);
        if (r.status === 200) {
          winner ??= { ms: performance.now() - t0, key, node: node.id };
          return;
        }
        tries.push(`${node.id}:${r.status}`);
        // 503 must come with a JSON error and Retry-After (no leader, or outcome unknown).
        expect(r.status).toBe(503);
        expect(JSON.parse(r.text)).toHaveProperty("error");
      } catch (e) {
        if (e instanceof Error && e.name === "TimeoutError") tries.push(`${node.id}:timeout`);
        else throw e;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await Promise.all(survivors.map(loop));
  if (winner === null) throw new Error(`no write accepted within ${measureMsMax} ms (${tries.join(" ")})${cluster.logs()}`);
  return winner;
}

test("SIGKILL of the leader: a survivor takes writes within 2 s; the old leader catches up", async () => {
  const node0 = await cluster.add({ id: "node0" });
  await cluster.waitLeader([node0], 5_000);
  const node1 = await cluster.add({ id: "node1", join: node0 });
  const node2 = await cluster.add({ id: "node2", join: node0 });
  const all = [node0, node1, node2];
  await cluster.waitVoters(node0, ["node0", "node1", "node2"]);

  const written: Record<string, string> = {};
  const failoverMs: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const leader = await cluster.waitLeader(all);
    const survivors = all.filter((n) => n !== leader);
    for (let i = 0; i < 5; i++) {
      const key = `r${round}-before-${i}`;
      expect((await survivors[i % 2]!.set({ [key]: `v${i}` })).status).toBe(200);
      written[key] = `v${i}`;
    }

    const t0 = performance.now();
    const exit = await leader.kill9();
    expect(exit.signal).toBe("SIGKILL");
    const first = await firstAcceptedWrite(survivors, t0, `r${round}-failover`);
    written[first.key] = "written after failover";
    failoverMs.push(first.ms);
    console.log(`round ${round}: killed leader ${leader.id}; first write accepted by ${first.node} after ${first.ms.toFixed(0)} ms`);

    // Reads on the survivors, at every level, see everything acknowledged so far.
    const newLeader = await cluster.waitLeader(survivors);
    expect(newLeader).not.toBe(leader);
    for (const node of survivors) {
      for (const [key, value] of Object.entries(written)) expect(await node.value(key)).toBe(value);
      expect(await node.value(first.key, "leader")).toBe("written after failover");
    }
    for (let i = 0; i < 5; i++) {
      const key = `r${round}-during-${i}`;
      expect((await survivors[i % 2]!.set({ [key]: "while down" })).status).toBe(200);
      written[key] = "while down";
    }

    // The original command again (node0's has no -join; the others' -join is harmless).
    leader.start();
    // It catches up by itself: its own local state (a stale read) holds everything.
    await cluster.waitHolds(leader, written, 15_000);
    await cluster.waitLeader(all);
    const s = await leader.status();
    expect(s.members.filter((m) => m.suffrage === "voter")).toHaveLength(3);
  }
  console.log(`failover ms (kill -9 of leader -> first accepted write): ${failoverMs.map((m) => m.toFixed(0)).join(", ")}`);
  // TIMING-SENSITIVE: checked after all rounds so every measurement is printed first.
  for (const ms of failoverMs) expect(ms).toBeLessThan(failoverMsMax);
}, 30_000 + rounds * 20_000);
