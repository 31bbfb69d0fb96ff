// Goal: a follower that comes back with less log than it acknowledged (restarted with
// -inmem: its log and term lived in memory) is brought up to date again instead of being
// stuck forever. Raft assumes acknowledged entries are never lost, so the leader must notice
// the follower's short log in its rejection and resend from its end. Method: three
// cores on the synchronous in-memory network; one restarts with an empty disk.
import { expect, test } from "bun:test";
import { bytes, Net } from "./core_net.ts";

test("a follower that lost its whole log is re-probed from its end and catches up", () => {
  const net = Net.cluster(["a", "b", "c"]);
  net.elect("a");
  for (let i = 0; i < 20; i++) net.core("a").propose(bytes(`v${i}`));
  net.settle();
  net.tickAll(3);
  const last = net.core("a").status().lastLogIndex;
  expect(net.core("c").status().lastLogIndex).toBe(last);

  // Crash c and give it back an empty disk, keeping only its id (as -inmem does).
  net.disks.set("c", { hardState: { currentTerm: 0, votedFor: null }, snapshot: null, entries: [] });
  net.restart("c");
  expect(net.core("c").status().lastLogIndex).toBe(0);

  // Heartbeats alone (no new proposals) must be enough to repair it.
  for (let i = 0; i < 10 && net.core("c").status().lastLogIndex < last; i++) {
    net.tickAll(1);
    net.settle();
  }
  expect(net.core("c").status().lastLogIndex).toBe(last);
  expect(net.core("c").status().commitIndex).toBe(net.core("a").status().commitIndex);
  expect(net.leader()).toBe("a");
});
