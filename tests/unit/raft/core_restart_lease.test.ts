// Goal: a leader's lease (raft/lease.ts) survives a follower's restart. A follower that
// acknowledged the leader's heartbeat and then restarted has forgotten when it last heard from
// the leader; were it to grant votes at once, a successor could be elected inside the old
// leader's lease and a lease read would be stale. Method: a core restarted from a log (as
// openStorage recovers it) with CheckQuorum on refuses higher-term (pre)votes for one minimum
// election timeout, then grants them; a transfer (TimeoutNow) still bypasses the wait.
import { describe, expect, test } from "bun:test";
import { drainMsgs, ELECTION_TICKS, mkCore, ofType, voteReq } from "./core_kit.ts";

const restarted = () => mkCore("b", ["a", "b", "c"], { terms: [1, 1], term: 1, config: { checkQuorum: true, preVote: true } });

describe("a restarted voter waits an election timeout before it votes", () => {
  test("(pre)votes for a higher term are ignored until electionTicks ticks have passed", () => {
    const b = restarted();
    drainMsgs(b);
    b.step(voteReq("c", "b", 2, 2, 1, true));
    expect(ofType(drainMsgs(b), "RequestVoteReply")).toEqual([]);
    for (let i = 0; i < ELECTION_TICKS - 1; i++) b.tick();
    b.step(voteReq("c", "b", 2, 2, 1));
    expect(b.status().term).toBe(1);
    expect(ofType(drainMsgs(b), "RequestVoteReply")).toEqual([]);
    b.tick();
    b.step(voteReq("c", "b", 2, 2, 1));
    expect(b.status().term).toBe(2);
    expect(ofType(drainMsgs(b), "RequestVoteReply")[0]?.voteGranted).toBe(true);
  });

  test("a leadership transfer's RequestVote is granted at once", () => {
    const b = restarted();
    drainMsgs(b);
    b.step({ ...voteReq("c", "b", 2, 2, 1), transfer: true });
    expect(ofType(drainMsgs(b), "RequestVoteReply")[0]?.voteGranted).toBe(true);
  });
});
