// Goal: hasReady() only looks, and looks right: when it says false, a ready() taken anyway
// is empty (the appends and read rounds batched since the last Ready are flushed by ready(),
// so hasReady must see them without sending them), and asking twice gives the same answer.
// Method: a seeded five-node cluster (core_net.ts) with loss, partitions, restarts,
// snapshots, proposals and reads; after every delivered message and every quiet point, each
// core that reports no Ready is made to produce one, which must be empty.
import { expect, test } from "bun:test";
import { createRng, type Message, type RaftCore, type Ready } from "../../../raft/core/mod.ts";
import { bytes, Net, voters } from "./core_net.ts";

function isEmpty(rd: Ready): boolean {
  return rd.hardState === null && rd.softState === null && rd.snapshot === null && rd.entries.length === 0 &&
    rd.messages.length === 0 && rd.messagesAfterPersist.length === 0 && rd.committed.length === 0 &&
    rd.readStates.length === 0 && rd.droppedReads.length === 0;
}

/** A Net that, after each delivery, checks the receiver's hasReady() against a real ready(). */
class CheckedNet extends Net {
  checks = 0;

  override deliver(m: Message): void {
    super.deliver(m);
    const to = this.cores.get(m.to);
    if (to !== undefined) this.check(to);
  }

  check(core: RaftCore): void {
    const says = core.hasReady();
    expect(core.hasReady()).toBe(says);
    if (says) return;
    const rd = core.ready();
    expect(isEmpty(rd)).toBe(true);
    core.advance(rd);
    this.checks++;
  }
}

function runSeed(seed: number): number {
  const ids = ["a", "b", "c", "d", "e"];
  const net = new CheckedNet({ seed, heartbeatTicks: 3, config: { snapshotChunkBytes: 64, inflightMessagesMax: 2 } });
  for (const id of ids) net.add(id, voters(ids));
  const rng = createRng(seed);
  net.filter = () => rng.int(10) !== 0;
  for (let step = 0; step < 300; step++) {
    const roll = rng.int(100);
    const id = ids[rng.int(ids.length)] as string;
    if (roll < 3) net.isolate(id);
    else if (roll < 8) net.heal();
    else if (roll < 10) net.restart(id);
    else if (roll < 12) {
      const s = net.core(id).status();
      if (s.lastApplied > 0) net.core(id).snapshotTaken(s.lastApplied, bytes(`snap-${id}-${s.lastApplied}`), rng.int(4));
    } else if (roll < 30) {
      net.core(id).readIndex(`read-${seed}-${step}`);
    }
    const leader = net.leader();
    if (leader !== null) {
      for (let i = rng.int(4); i > 0; i--) net.core(leader).propose(bytes(`p${step}-${i}`));
    }
    net.tickAll(1);
    for (const core of net.cores.values()) net.check(core);
  }
  return net.checks;
}

test("hasReady() false means an empty Ready, over 6 seeds", () => {
  let checks = 0;
  for (let seed = 1; seed <= 6; seed++) checks += runSeed(seed);
  expect(checks).toBeGreaterThan(1000);
});
