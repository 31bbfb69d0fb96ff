// Goal (issue 18: no pause above 20 ms while installing a ten-million-key snapshot): a leader
// keeps at most a few MiB of entries in flight to one follower, not its whole window of 256
// messages of up to 1 MiB each. A follower that just installed a snapshot acknowledges it and
// is then owed everything the leader logged since (~16 MB at 10 M keys): the leader encoded
// and sent all of it in one driver turn (123 ms, 37 ms of CPU traced at 10 M keys, bench/
// stall_snapshot.ts), and the follower took it in one Ready. Once the follower acknowledges,
// more leaves; a single entry larger than the bound still goes (nothing else in flight).
// Method: the production core as leader of three voters; followers' acknowledgements stepped
// in by hand; bytes of AppendEntries entries counted per follower per drained Ready.

import { expect, test } from "bun:test";
import type { AppendEntries } from "../../../raft/core/mod.ts";
import { inflightBytesMax } from "../../../raft/core/progress.ts";
import { appReply, drainMsgs, makeLeader, mkCore, ofType } from "./core_kit.ts";

const entryBytes = 256 * 1024;

function leaderInReplicate() {
  const core = mkCore("a", ["a", "b", "c"]);
  makeLeader(core);
  const term = core.status().term;
  const last = core.status().lastLogIndex;
  for (const f of ["b", "c"]) core.step(appReply(f, "a", term, last));
  drainMsgs(core);
  return { core, term };
}

const bytesTo = (msgs: readonly AppendEntries[], to: string): number =>
  msgs.filter((m) => m.to === to).reduce((n, m) => n + m.entries.reduce((k, e) => k + e.data.length, 0), 0);
const lastTo = (msgs: readonly AppendEntries[], to: string): number =>
  Math.max(0, ...msgs.filter((m) => m.to === to && m.entries.length > 0).map((m) => m.entries[m.entries.length - 1]!.index));

test("a leader keeps at most inflightBytesMax of entries in flight to a follower; acks let more go", () => {
  const { core, term } = leaderInReplicate();
  const total = 48; // 12 MiB
  for (let i = 0; i < total; i++) expect(core.propose(new Uint8Array(entryBytes).fill(i)).ok).toBe(true);
  const first = ofType(drainMsgs(core), "AppendEntries");
  // One message may cross the bound (checked before each send); never more.
  const sent = bytesTo(first, "b");
  expect(sent).toBeGreaterThan(0);
  expect(sent).toBeLessThanOrEqual(inflightBytesMax + 1024 * 1024);
  expect(bytesTo(first, "c")).toBe(sent);
  // Each acknowledgement of everything sent so far lets the next bound's worth go, until all did.
  let acked = lastTo(first, "b");
  let rounds = 1;
  while (acked < core.status().lastLogIndex && rounds < 100) {
    core.step(appReply("b", "a", term, acked));
    const next = ofType(drainMsgs(core), "AppendEntries");
    const bytes = bytesTo(next, "b");
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(inflightBytesMax + 1024 * 1024);
    acked = lastTo(next, "b");
    rounds++;
  }
  expect(acked).toBe(core.status().lastLogIndex);
  expect(rounds).toBeGreaterThanOrEqual(Math.ceil((total * entryBytes) / (inflightBytesMax + 1024 * 1024)));
});

test("an entry larger than the bound still goes when nothing is in flight", () => {
  const { core } = leaderInReplicate();
  const big = inflightBytesMax + 4096;
  expect(core.propose(new Uint8Array(big)).ok).toBe(true);
  const msgs = ofType(drainMsgs(core), "AppendEntries");
  expect(bytesTo(msgs, "b")).toBe(big);
});
