// Test helper for driving one core directly: build a core with a given log, run its Ready,
// craft messages. Not a test itself.

import {
  type AppendEntries,
  type AppendEntriesReply,
  checkInvariants,
  createRaft,
  createRng,
  type Entry,
  type InitialState,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftCore,
  type Ready,
  type RequestVote,
  type RequestVoteReply,
  type Term,
} from "../../../raft/core/mod.ts";
import { voters } from "./core_net.ts";

export interface CoreOptions {
  /** Terms of entries 1..n; when given the core starts from this log instead of bootstrap. */
  readonly terms?: readonly Term[];
  readonly term?: Term;
  readonly votedFor?: NodeId | null;
  readonly seed?: number;
  readonly config?: Partial<RaftConfig>;
}

export const ELECTION_TICKS = 10;

export function entry(index: number, term: Term): Entry {
  return { index, term, kind: "normal", data: new TextEncoder().encode(`e${index}t${term}`) };
}

/** A core `id` in a cluster of voters `ids`, PreVote and CheckQuorum off unless configured. */
export function mkCore(id: NodeId, ids: readonly NodeId[], opts: CoreOptions = {}): RaftCore {
  const membership = voters(ids);
  const initial: InitialState =
    opts.terms === undefined
      ? { hardState: { currentTerm: opts.term ?? 0, votedFor: opts.votedFor ?? null }, snapshot: null, entries: [], bootstrap: membership }
      : {
          hardState: { currentTerm: opts.term ?? Math.max(0, ...opts.terms), votedFor: opts.votedFor ?? null },
          // An empty snapshot at index 0 carries the membership, so the log is exactly `terms`.
          snapshot: { meta: { lastIncludedIndex: 0, lastIncludedTerm: 0, membership }, data: new Uint8Array(0) },
          entries: opts.terms.map((t, i) => entry(i + 1, t)),
          bootstrap: null,
        };
  return createRaft(
    {
      id,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: 1,
      rng: createRng(opts.seed ?? 7),
      preVote: false,
      checkQuorum: false,
      ...opts.config,
    },
    initial,
  );
}

/** Runs one Ready (if any) as a driver would, returning it. */
export function drain(core: RaftCore): Ready | null {
  if (!core.hasReady()) return null;
  const rd = core.ready();
  core.advance(rd);
  checkInvariants(core);
  return rd;
}

/** All messages from every Ready until the core is quiet. */
export function drainMsgs(core: RaftCore): Message[] {
  const out: Message[] = [];
  for (let rd = drain(core); rd !== null; rd = drain(core)) out.push(...rd.messages, ...rd.messagesAfterPersist);
  return out;
}

/** Ticks until the core's role changes away from follower (or the bound runs out). */
export function tickUntilCampaign(core: RaftCore, ticksMax = 4 * ELECTION_TICKS): number {
  for (let i = 1; i <= ticksMax; i++) {
    core.tick();
    if (core.status().role !== "follower") return i;
  }
  throw new Error("no campaign");
}

/** Makes `core` leader of its cluster by granting every vote it asks for. */
export function makeLeader(core: RaftCore): void {
  tickUntilCampaign(core);
  for (const m of drainMsgs(core)) {
    if (m.type !== "RequestVote") continue;
    core.step(voteReply(m.to, m.from, m.term, true, m.preVote));
  }
  if (core.status().role !== "leader") throw new Error("not elected");
  drainMsgs(core);
}

export function voteReply(from: NodeId, to: NodeId, term: Term, granted: boolean, preVote = false): RequestVoteReply {
  return { type: "RequestVoteReply", from, to, term, preVote, voteGranted: granted };
}

export function voteReq(from: NodeId, to: NodeId, term: Term, lastLogIndex: number, lastLogTerm: Term, preVote = false): RequestVote {
  return { type: "RequestVote", from, to, term, preVote, lastLogIndex, lastLogTerm, transfer: false };
}

export function app(
  from: NodeId, to: NodeId, term: Term, prevLogIndex: number, prevLogTerm: Term, entries: Entry[], leaderCommit: number,
): AppendEntries {
  return { type: "AppendEntries", from, to, term, prevLogIndex, prevLogTerm, entries, leaderCommit, readRound: 0 };
}

export function appReply(from: NodeId, to: NodeId, term: Term, matchIndex: number): AppendEntriesReply {
  return { type: "AppendEntriesReply", from, to, term, success: true, matchIndex, conflictIndex: 0, conflictTerm: 0, readRound: 0 };
}

export function ofType<T extends Message["type"]>(msgs: readonly Message[], type: T): Extract<Message, { type: T }>[] {
  return msgs.filter((m): m is Extract<Message, { type: T }> => m.type === type);
}

/**
 * A leader of a, b, c (heartbeats every 9 ticks) whose first entry both followers acked and
 * heard committed, and a maker of AppendEntries acks carrying a read round: for the ReadIndex
 * tests, so that no commit notice is due while they count rounds.
 */
export function leaderWithCommit(): { core: RaftCore; ack: (from: string, round: number) => AppendEntriesReply } {
  const core = mkCore("a", ["a", "b", "c"], { config: { heartbeatTicks: 9 } });
  makeLeader(core);
  drainMsgs(core);
  const term = core.status().term;
  const last = core.status().lastLogIndex;
  const ack = (from: string, round: number): AppendEntriesReply => ({
    type: "AppendEntriesReply", from, to: "a", term, success: true, matchIndex: last, conflictIndex: 0, conflictTerm: 0, readRound: round,
  });
  core.step(ack("b", 0));
  core.step(ack("c", 0));
  core.tick(); // both followers hear the commit: no commit notice is due during the tests
  drainMsgs(core);
  return { core, ack };
}
