// How a transcript prints the core's values: one line per message, entry, read and state
// change, short enough to read a scenario step by step (tests/unit/raft/transcripts/).
// Positions are written index/term; node ids are the plain ids of the transcript.

import type { Entry, Membership, Message, RaftStatus, Ready } from "../../../raft/core/mod.ts";

const decoder = new TextDecoder();

function list(items: readonly string[]): string {
  return `(${items.join(",")})`;
}

/** `voters=(1,2,3)`, with ` learners=(4)` when there are any. */
export function formatMembership(m: Membership): string {
  const voters = m.members.filter((x) => x.suffrage === "voter").map((x) => x.id);
  const learners = m.members.filter((x) => x.suffrage === "learner").map((x) => x.id);
  return `voters=${list(voters)}` + (learners.length > 0 ? ` learners=${list(learners)}` : "");
}

/** `3/2 "v1"`, `2/2 noop` or `4/2 conf voters=(1,2,3) learners=(4)`. */
export function formatEntry(e: Entry): string {
  const id = `${e.index}/${e.term}`;
  if (e.kind === "noop") return `${id} noop`;
  if (e.kind === "config") return `${id} conf ${e.membership === undefined ? "?" : formatMembership(e.membership)}`;
  return `${id} ${JSON.stringify(decoder.decode(e.data))}`;
}

/** One message as `from->to Type term=T` and the fields that matter for its type. */
export function formatMessage(m: Message): string {
  const head = (type: string) => `${m.from}->${m.to} ${type} term=${m.term}`;
  const round = (r: number) => (r > 0 ? ` round=${r}` : "");
  switch (m.type) {
    case "RequestVote":
      return `${head(m.preVote ? "PreVote" : "RequestVote")} last=${m.lastLogIndex}/${m.lastLogTerm}` +
        (m.transfer ? " transfer" : "");
    case "RequestVoteReply":
      return `${head(m.preVote ? "PreVoteReply" : "RequestVoteReply")} ${m.voteGranted ? "granted" : "rejected"}`;
    case "AppendEntries": {
      const entries = m.entries.length > 0 ? ` entries=[${m.entries.map(formatEntry).join(", ")}]` : "";
      return `${head("AppendEntries")} prev=${m.prevLogIndex}/${m.prevLogTerm} commit=${m.leaderCommit}${entries}` +
        round(m.readRound);
    }
    case "AppendEntriesReply":
      return head("AppendEntriesReply") +
        (m.success ? ` match=${m.matchIndex}` : ` rejected prev=${m.matchIndex} hint=${m.conflictIndex}/${m.conflictTerm}`) +
        round(m.readRound);
    case "InstallSnapshot":
      return `${head("InstallSnapshot")} snap=${m.meta.lastIncludedIndex}/${m.meta.lastIncludedTerm} ` +
        `${formatMembership(m.meta.membership)} offset=${m.offset} bytes=${m.data.length}${m.done ? " done" : ""}`;
    case "InstallSnapshotReply":
      return `${head("InstallSnapshotReply")} snap=${m.lastIncludedIndex} next=${m.nextOffset}${m.done ? " done" : ""}`;
    case "TimeoutNow":
      return head("TimeoutNow");
    case "ReadIndex":
      return `${head("ReadIndex")} ctxs=${list(m.ctxs)}`;
    case "ReadIndexReply":
      return `${head("ReadIndexReply")} ctxs=${list(m.ctxs)} index=${m.readIndex}`;
  }
}

/**
 * A Ready in the order the driver carries it out: state, what to persist, what to send
 * (now, and only after persisting), what to apply, which reads to serve or fail.
 */
export function formatReady(rd: Ready): string[] {
  const out: string[] = [];
  const s = rd.softState;
  if (s !== null) out.push(`soft: ${s.role} term=${s.term} leader=${s.leader ?? "none"}${s.removed ? " removed" : ""}`);
  if (rd.hardState !== null) out.push(`hard: term=${rd.hardState.currentTerm} vote=${rd.hardState.votedFor ?? "none"}`);
  if (rd.snapshot !== null) {
    const meta = rd.snapshot.meta;
    out.push(`snapshot: ${meta.lastIncludedIndex}/${meta.lastIncludedTerm} ${formatMembership(meta.membership)} ` +
      `data=${JSON.stringify(decoder.decode(rd.snapshot.data))}`);
  }
  for (const e of rd.entries) out.push(`persist: ${formatEntry(e)}`);
  for (const m of rd.messages) out.push(`send: ${formatMessage(m)}`);
  for (const m of rd.messagesAfterPersist) out.push(`send-after-persist: ${formatMessage(m)}`);
  for (const e of rd.committed) out.push(`apply: ${formatEntry(e)}`);
  for (const r of rd.readStates) out.push(`read: ctx=${r.ctx} index=${r.readIndex}`);
  for (const ctx of rd.droppedReads) out.push(`read-dropped: ctx=${ctx}`);
  return out;
}

/** `2: leader term=2 leader=2 vote=2 commit=3 applied=3 last=3 snap=0 voters=(1,2,3)`. */
export function formatStatus(s: RaftStatus): string {
  return `${s.id}: ${s.role} term=${s.term} leader=${s.leader ?? "none"} vote=${s.votedFor ?? "none"} ` +
    `commit=${s.commitIndex} applied=${s.lastApplied} last=${s.lastLogIndex} snap=${s.snapshotIndex} ` +
    formatMembership({ members: s.members }) + (s.removed ? " removed" : "");
}
