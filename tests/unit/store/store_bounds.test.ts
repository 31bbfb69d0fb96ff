// Goal: clients cannot grow a node's memory without bound while reads cannot be confirmed
// (issue 12, item 14: a node reached 1.3 GB during a long loss of quorum). Linearizable reads
// of one turn share one ReadIndex request, and the core bounds how many requests wait
// (pendingReadsMax), but not how many reads share each: with a leader that never answers,
// every turn parked more HTTP requests for the full request timeout. The driver bounds the
// reads waiting in all (raft/requests.ts), and the store answers the next one 503 at once.
// Method: production nodes on cluster_kit's wire; the follower's ReadIndex frames to the
// leader are held (a leader that is known but silent); many turns of many reads.

import { expect, test } from "bun:test";
import { readsWaitingMaxDefault } from "../../../raft/node_options.ts";
import { StoreError } from "../../../store/errors.ts";
import { Cluster, flushMicrotasks, isRaft } from "./cluster_kit.ts";

function silentLeader(readsWaitingMax?: number): Cluster {
  const c = new Cluster(["a", "b", "c"], readsWaitingMax === undefined ? {} : { readsWaitingMax });
  c.elect("a");
  c.tick(["a", "b", "c"], 3);
  c.hold = (f) => isRaft(f, "ReadIndex");
  return c;
}

/** Runs `turns` driver turns of `perTurn` linearizable reads on b; counts refusals and waiters. */
async function flood(c: Cluster, turns: number, perTurn: number): Promise<{ refused: StoreError[]; pending: number }> {
  const refused: StoreError[] = [];
  let settled = 0;
  const b = c.proc("b").store;
  for (let t = 0; t < turns; t++) {
    for (let i = 0; i < perTurn; i++) {
      b.get(`k${i}`, "linearizable").then(
        () => settled++,
        (e: unknown) => {
          settled++;
          refused.push(e as StoreError);
        },
      );
    }
    c.run();
  }
  await flushMicrotasks();
  return { refused, pending: turns * perTurn - settled };
}

test("reads waiting for a silent leader are bounded; the rest are refused 503 at once", async () => {
  const c = silentLeader(1000);
  const { refused, pending } = await flood(c, 200, 50); // 10,000 reads
  expect(pending).toBe(1000);
  expect(refused.length).toBe(9000);
  for (const e of refused.slice(0, 3)) {
    expect(e).toBeInstanceOf(StoreError);
    expect(e.code).toBe("unavailable");
    expect(e.message).toContain("too many reads waiting");
  }
  c.close();
});

test("the default bound holds too, and room comes back as reads complete", async () => {
  const c = silentLeader();
  const { pending } = await flood(c, 200, 100); // 20,000 reads
  expect(pending).toBeLessThanOrEqual(readsWaitingMaxDefault);
  expect(pending).toBeGreaterThan(0);
  // The leader answers every request it was sent: the reads are served and room frees up.
  c.hold = () => false;
  c.release();
  await c.settle();
  const again = await flood(c, 10, 10);
  expect(again.refused).toEqual([]);
  c.close();
});
