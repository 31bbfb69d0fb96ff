// Goal: under load a leader sends each follower one AppendEntries per Ready, however many
// replies arrived since the last one (issue 18: CPU per write). Replies reach a loaded leader
// while clients keep proposing (its own fdatasync runs off the loop meanwhile); refilling a
// follower's pipe at each reply sent it the entries proposed before the reply in one message
// and those proposed after it in another, both in the same Ready: twice the messages, decodes,
// log appends and acks per batch on every follower, for the same entries and one fsync.
// Method: three and five cores (core_net.ts); replies delivered between proposals, then the
// leader's next Ready counted per follower. What is sent stays what it was: every entry the
// follower lacks, from its nextIndex, in order.
import { expect, test } from "bun:test";
import type { AppendEntries, Message } from "../../../raft/core/mod.ts";
import { bytes, Net } from "./core_net.ts";

function appendsTo(msgs: readonly Message[], id: string): AppendEntries[] {
  return msgs.filter((m): m is AppendEntries => m.type === "AppendEntries" && m.to === id);
}

/** Data of the entries `msgs` carry, decoded as text. */
function carried(msgs: readonly AppendEntries[]): string[] {
  return msgs.flatMap((m) => m.entries.filter((e) => e.kind === "normal").map((e) => new TextDecoder().decode(e.data)));
}

for (const ids of [["a", "b", "c"], ["a", "b", "c", "d", "e"]]) {
  test(`${ids.length} voters: replies between proposals, then one append per follower in the next Ready`, () => {
    const net = Net.cluster(ids);
    net.elect("a");
    net.settle();
    const followers = ids.slice(1);
    // Of five, d and e (equal match, highest ids) are the spares: sent their entries at a later tick.
    const spares = ids.length === 5 ? ["d", "e"] : [];
    const a = net.core("a");
    a.propose(bytes("p1"));
    // The appends of p1 reach every follower, whose acknowledgements come back later.
    const replies: Message[] = [];
    for (const m of net.readyOnce("a")) {
      net.deliver(m);
      replies.push(...net.readyOnce(m.to));
    }
    expect(replies.filter((m) => m.type === "AppendEntriesReply")).toHaveLength(followers.length - spares.length);
    // Clients propose before, between and after the replies.
    a.propose(bytes("p2"));
    for (const [i, reply] of replies.entries()) {
      net.deliver(reply);
      a.propose(bytes(`p3-${i}`));
    }
    const next = net.readyOnce("a");
    const later = replies.map((_, i) => `p3-${i}`);
    for (const f of followers) {
      const appends = appendsTo(next, f);
      if (spares.includes(f)) {
        expect(appends).toHaveLength(0);
        continue;
      }
      expect(appends).toHaveLength(1);
      expect(carried(appends)).toEqual(["p2", ...later]);
      expect(appends[0]!.prevLogIndex).toBe(net.core(f).status().lastLogIndex);
    }
    // And everything still commits and applies everywhere.
    for (const m of next) net.deliver(m);
    net.settle();
    net.tickAll(4); // spares take theirs at every fourth tick
    for (const id of ids) expect(net.appliedData(id)).toEqual(["p1", "p2", ...later]);
  });
}

test("a reply with nothing new to send, and no proposal since: no append at all", () => {
  const net = Net.cluster(["a", "b", "c"]);
  net.elect("a");
  net.settle();
  const a = net.core("a");
  a.propose(bytes("p1"));
  const replies: Message[] = [];
  for (const m of net.readyOnce("a")) {
    net.deliver(m);
    replies.push(...net.readyOnce(m.to));
  }
  for (const reply of replies) net.deliver(reply);
  // The commit alone earns no heartbeat (a tick's commit notice does that): nothing to send.
  const next = a.hasReady() ? net.readyOnce("a") : [];
  expect(next.filter((m) => m.type === "AppendEntries")).toHaveLength(0);
});
