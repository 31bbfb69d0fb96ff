// Safety checkers run after every simulator step (Raft paper Figure 3): election safety, log
// matching, leader completeness, state machine safety, commitIndex monotonic, no acknowledged
// write lost, plus the core's own checkInvariants.

import { checkInvariants, type Entry, type RaftCore } from "../../../raft/core/mod.ts";

/** Thrown when a checker sees a violation; the message names the property and the evidence. */
export class SafetyViolation extends Error {
  override name = "SafetyViolation";
}

function fail(property: string, detail: string): never {
  throw new SafetyViolation(`${property}: ${detail}`);
}

/** A short fingerprint of an entry's content (kind, payload, membership). */
export function entryDigest(e: Entry): string {
  let h = 0x811c9dc5;
  for (const b of e.data) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  const m = e.membership === undefined ? "" : e.membership.members.map((x) => `${x.id}/${x.suffrage}`).join(",");
  return `${e.kind}:${e.data.length}:${h.toString(16)}:${m}`;
}

interface CommittedEntry {
  readonly term: number;
  readonly digest: string;
  /** Smallest currentTerm of a node seen holding it as committed: an upper bound of the term it was committed in. */
  observedTerm: number;
}

interface NodeTrack {
  incarnation: number;
  commitIndex: number;
  lastApplied: number;
  wasLeaderTerm: number;
}

/** The whole run's view of safety. One instance per simulated cluster. */
export class SafetyChecker {
  /** term → leader id (Election Safety, §5.2). */
  readonly leaders = new Map<number, string>();
  /** index → the entry known committed there (State Machine Safety, §5.4.3). */
  readonly committed = new Map<number, CommittedEntry>();
  /** `${index}:${term}` → digest and predecessor term (Log Matching, §5.3). */
  readonly #logIds = new Map<string, { digest: string; prevTerm: number | null }>();
  /** index → digest of the first entry any state machine applied there. */
  readonly #applied = new Map<number, string>();
  /** index → that entry itself (a copy): the committed log as applied, for checkers that replay it (watchers.ts). */
  readonly appliedEntries = new Map<number, Entry>();
  /** index → snapshot bytes fingerprint (equal states at equal indexes). */
  readonly #snapshots = new Map<number, string>();
  readonly #nodes = new Map<string, NodeTrack>();
  #maxCommitted = 0;

  get maxCommitted(): number {
    return this.#maxCommitted;
  }

  /** Log Matching: entries with the same index and term carry the same content and follow the same term. */
  persisted(entries: readonly Entry[], prevTermOf: (index: number) => number | null): void {
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const digest = entryDigest(e);
      const prevTerm = prevTermOf(e.index - 1);
      const seen = this.#logIds.get(key);
      if (seen === undefined) {
        this.#logIds.set(key, { digest, prevTerm });
        continue;
      }
      if (seen.digest !== digest) fail("log matching", `two different entries at index ${e.index} term ${e.term}`);
      if (seen.prevTerm !== null && prevTerm !== null && seen.prevTerm !== prevTerm) {
        fail("log matching", `entry ${e.index}/${e.term} follows term ${prevTerm} in one log and ${seen.prevTerm} in another`);
      }
      if (seen.prevTerm === null) seen.prevTerm = prevTerm;
    }
  }

  /** State machine safety: every node applies the same entry at each index, in order. */
  applied(nodeId: string, e: Entry): void {
    const digest = `${e.term}:${entryDigest(e)}`;
    const seen = this.#applied.get(e.index);
    if (seen === undefined) {
      this.#applied.set(e.index, digest);
      this.appliedEntries.set(e.index, { ...e, data: e.data.slice() });
    }
    else if (seen !== digest) fail("state machine safety", `${nodeId} applied ${digest} at ${e.index}, another node ${seen}`);
    this.#noteCommitted(e, Infinity, nodeId);
  }

  /** Snapshots at the same index hold the same state. */
  snapshotAt(nodeId: string, index: number, data: Uint8Array): void {
    let h = 0x811c9dc5;
    for (const b of data) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    const digest = `${data.length}:${h}`;
    const seen = this.#snapshots.get(index);
    if (seen === undefined) this.#snapshots.set(index, digest);
    else if (seen !== digest) fail("state machine safety", `${nodeId}'s snapshot at ${index} differs from another node's`);
  }

  #noteCommitted(e: Entry, term: number, nodeId: string): void {
    const seen = this.committed.get(e.index);
    const digest = entryDigest(e);
    if (seen === undefined) {
      this.committed.set(e.index, { term: e.term, digest, observedTerm: term });
      if (e.index > this.#maxCommitted) this.#maxCommitted = e.index;
      return;
    }
    if (seen.term !== e.term || seen.digest !== digest) {
      fail("state machine safety", `${nodeId} holds ${e.index}/${e.term} committed; ${e.index}/${seen.term} was committed before`);
    }
    if (term < seen.observedTerm) seen.observedTerm = term;
  }

  /** Checks one live node after a step: its invariants, leadership, commit progress. */
  observe(nodeId: string, incarnation: number, core: RaftCore, lastApplied: number, restartFloor: number): void {
    checkInvariants(core);
    const st = core.status();
    let track = this.#nodes.get(nodeId);
    if (track === undefined || track.incarnation !== incarnation) {
      // After a restart, commitIndex and lastApplied are volatile (Figure 2) and restart from the durable snapshot.
      if (st.commitIndex < restartFloor) fail("commitIndex monotonic", `${nodeId} restarted with commit ${st.commitIndex} below its snapshot ${restartFloor}`);
      track = { incarnation, commitIndex: st.commitIndex, lastApplied, wasLeaderTerm: 0 };
      this.#nodes.set(nodeId, track);
    }
    if (st.commitIndex < track.commitIndex) fail("commitIndex monotonic", `${nodeId} commit went ${track.commitIndex} → ${st.commitIndex}`);
    if (lastApplied < track.lastApplied) fail("lastApplied monotonic", `${nodeId} applied went ${track.lastApplied} → ${lastApplied}`);
    if (st.commitIndex > track.commitIndex) this.#recordCommits(nodeId, core, track.commitIndex, st.commitIndex, st.term);
    track.commitIndex = st.commitIndex;
    track.lastApplied = lastApplied;
    if (st.role === "leader" && track.wasLeaderTerm !== st.term) {
      const other = this.leaders.get(st.term);
      if (other !== undefined && other !== nodeId) fail("election safety", `${other} and ${nodeId} both leaders in term ${st.term}`);
      this.leaders.set(st.term, nodeId);
      track.wasLeaderTerm = st.term;
      this.#leaderCompleteness(nodeId, core, st.term);
    }
  }

  #recordCommits(nodeId: string, core: RaftCore, from: number, to: number, term: number): void {
    const entries = core.entries();
    const first = entries[0]?.index ?? Infinity;
    for (let i = Math.max(from + 1, first); i <= to; i++) {
      const e = entries[i - first];
      if (e === undefined) fail("log", `${nodeId} has commitIndex ${to} but no entry ${i} in memory`);
      this.#noteCommitted(e, term, nodeId);
    }
  }

  /** Leader Completeness (§5.4): a new leader of term T holds every entry committed in a term < T. */
  #leaderCompleteness(nodeId: string, core: RaftCore, term: number): void {
    const st = core.status();
    const entries = core.entries();
    const first = entries[0]?.index ?? st.lastLogIndex + 1;
    for (const [index, c] of this.committed) {
      if (c.observedTerm >= term || index <= st.snapshotIndex) continue;
      const e = index >= first ? entries[index - first] : undefined;
      if (index > st.lastLogIndex || (e !== undefined && (e.term !== c.term || entryDigest(e) !== c.digest))) {
        fail("leader completeness", `${nodeId} leads term ${term} without committed entry ${index}/${c.term}`);
      }
    }
  }

  /** No acknowledged write lost: each acknowledged (index, term) is the committed entry at that index. */
  acknowledged(index: number, term: number): void {
    const c = this.committed.get(index);
    if (c === undefined) fail("acknowledged write", `acknowledged ${index}/${term} was never seen committed`);
    if (c.term !== term) fail("acknowledged write lost", `acknowledged ${index}/${term}, but ${index}/${c.term} is committed`);
  }
}
