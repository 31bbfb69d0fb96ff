// The Raft class: all state of one server, role changes (§5.1, §5.2, thesis §9.6), the tick
// dispatcher and the flush of batched work. The rules themselves live in election.ts,
// replication.ts, etc., which see this class only as the RaftState type (state.ts) and never
// import one another: this file and step.ts (where a message goes, what a reply or a commit
// makes possible) are the places that chain one rule into the next.

import type { ConfChange, InitialState, ProposeResult, RaftConfig, RaftCore, RaftStatus } from "./api.ts";
import { assert } from "./assert.ts";
import { resolveConfig, type ResolvedConfig } from "./config.ts";
import { campaign, noteLeaderDisconnected, tickCheckQuorum, tickElection, tickStart } from "./election.ts";
import { RaftLog } from "./log.ts";
import { ConfigHistory, EMPTY_MEMBERSHIP } from "./membership_state.ts";
import { proposeConfChange, syncProgress } from "./membership.ts";
import type { Message } from "./messages.ts";
import type { Progress } from "./progress.ts";
import {
  askReadRound,
  dropForwardedReads,
  dropLeaderReads,
  forwardReads,
  openReadRound,
  quorumRound,
  readsDue,
  releaseReads,
  requestRead,
  widenReadRound,
} from "./read_index.ts";
import { ReadQueue } from "./read_queue.ts";
import type { ReadState, Ready, SoftState } from "./ready.ts";
import { advanceReady, buildReady, hasReady } from "./ready_builder.ts";
import { broadcastAppend, broadcastDue, fillPipes, isSpare, pipesDue, sendAppend, sendHeartbeat, tickHeartbeat, tickSpares } from "./replication.ts";
import { takeSnapshot } from "./snapshot.ts";
import type { IncomingSnapshot, RaftState } from "./state.ts";
import { commit, step } from "./step.ts";
import { startTransfer, tickTransfer } from "./transfer.ts";
import type { Entry, HardState, LogIndex, NodeId, Role, Snapshot, Term } from "./types.ts";

/** Creates a Raft core from its configuration and what storage held at start. */
export function createRaft(config: RaftConfig, initial: InitialState): RaftCore {
  return new Raft(resolveConfig(config), initial);
}

/**
 * One Raft server. Fields are public to the sibling modules of raft/core through RaftState
 * (which marks what the rules may not reassign) but not exported from mod.ts: outside code
 * sees only the RaftCore interface.
 */
export class Raft implements RaftCore, RaftState {
  readonly cfg: ResolvedConfig;
  readonly id: NodeId;
  /** Figure 2 persistent state. */
  term: Term;
  votedFor: NodeId | null;
  role: Role = "follower";
  /** The leader of `term` as far as we know. Invariant: role leader ⇒ leader === id. */
  leader: NodeId | null = null;
  readonly log: RaftLog;
  readonly config: ConfigHistory;
  /** Newest snapshot held (sent to followers that fell behind the log's first index). */
  snapshot: Snapshot | null;

  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** Ticks left of the quiet period after start in which no (pre)vote is granted (inLease). */
  startTicksLeft: number;
  randomizedElectionTimeout = 0;
  goneLeader: NodeId | null = null;
  goneLeaderTimeout = 0;
  /** Votes received in the current (pre)election, voters only count. */
  readonly votes = new Map<NodeId, boolean>();
  /** Leader only: one Progress per member other than self (and per departing server), sorted by id. */
  readonly progress = new Map<NodeId, Progress>();
  /**
   * Leader only: servers no longer in the configuration that are still sent the log, with
   * the index of the configuration that leaves them out; dropped once they hold it.
   */
  readonly departing = new Map<NodeId, LogIndex>();
  /** Leader only: index of the newest config entry it appended (in flight while > commit). */
  pendingConfIndex: LogIndex = 0;
  /** Leader only: data bytes appended but not yet committed (flow control). */
  uncommittedBytes = 0;
  /** Leader only: target of a leadership transfer in progress (thesis §3.10). */
  transferee: NodeId | null = null;
  transferElapsed = 0;
  readonly reads = new ReadQueue();
  incoming: IncomingSnapshot | null = null;

  // Outbox, drained by ready().
  msgs: Message[] = [];
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];
  droppedReads: string[] = [];
  snapshotToInstall: Snapshot | null = null;
  /** Set when followers may need an append (new entries or a new commit index). */
  needBroadcast = false;
  sparesDue = false;
  sparesCommittedOnly = false;
  lastAtSpareTick: LogIndex = 0;
  commitAtSpareTick: LogIndex = 0;
  spareTicksElapsed = 0;
  /** Leader only: followers that replied since the last flush, whose pipe it refills (replication.ts). */
  readonly pipesDue = new Set<NodeId>();
  /**
   * Set by a tick when a follower has not heard the commit index: only then does a commit
   * alone earn a heartbeat. Under load the next AppendEntries carries it anyway; an immediate
   * heartbeat per commit would double the messages of every write (and their acks).
   */
  commitNoticeDue = false;
  prevHard: HardState;
  prevSoft: SoftState;
  /** The Ready handed out and not yet advanced. */
  outstanding: Ready | null = null;

  constructor(cfg: ResolvedConfig, initial: InitialState) {
    this.cfg = cfg;
    // Only a node that may have acknowledged some leader before (it has a term) waits: a
    // brand-new one has never heard from a leader, so no lease counts on it.
    this.startTicksLeft = cfg.quietAfterRestart && initial.hardState.currentTerm > 0 ? cfg.electionTicks : 0;
    this.id = cfg.id;
    this.term = initial.hardState.currentTerm;
    this.votedFor = initial.hardState.votedFor;
    this.snapshot = initial.snapshot;
    const snap = initial.snapshot?.meta;
    this.log = new RaftLog(snap?.lastIncludedIndex ?? 0, snap?.lastIncludedTerm ?? 0);
    this.config = new ConfigHistory(snap?.membership ?? EMPTY_MEMBERSHIP, snap?.lastIncludedIndex ?? 0, cfg.id);
    const entries = initial.entries.filter((e) => e.index > this.log.firstIndex - 1);
    this.appendEntries(entries);
    this.log.unstableFrom = this.log.lastIndex() + 1;
    this.log.persistedIndex = this.log.lastIndex();
    this.prevHard = { currentTerm: this.term, votedFor: this.votedFor };
    if (initial.snapshot === null && entries.length === 0 && initial.bootstrap !== null) {
      this.bootstrap(initial);
    }
    // `removed` starts false so that a server removed before this start says so in its
    // first Ready (its driver logs it and refuses clients from then on).
    this.prevSoft = { role: this.role, leader: this.leader, term: this.term, removed: false };
    this.resetRandomizedTimeout();
  }

  /**
   * Bootstrap scheme: a brand-new node given a membership writes it as entry (1, term 1), a
   * config entry, and moves to term 1. Both come out in the first Ready, so they are
   * persisted; every node bootstrapped with the same membership holds the identical entry.
   */
  private bootstrap(initial: InitialState): void {
    const membership = initial.bootstrap;
    assert(membership !== null, "bootstrap without membership");
    const entry: Entry = { index: 1, term: 1, kind: "config", data: new Uint8Array(0), membership };
    this.term = Math.max(this.term, 1);
    this.appendEntries([entry]);
  }

  /** Appends entries at the end of the log; config entries take effect at once (§4.1). */
  private appendEntries(entries: readonly Entry[]): void {
    this.log.append(entries);
    this.noteConfigs(entries, 0);
  }

  /** Leader appends its own entries; followers get them at the next flush, batched. */
  appendAsLeader(entries: readonly Entry[]): void {
    this.appendEntries(entries);
    for (const e of entries) this.uncommittedBytes += e.data.length;
    this.needBroadcast = true;
  }

  /** Records config entries among `entries` with index ≥ `from` (after an append). */
  noteConfigs(entries: readonly Entry[], from: LogIndex): void {
    let changed = false;
    for (const e of entries) {
      if (e.index >= from && e.kind === "config" && e.membership !== undefined && e.index > this.config.currentIndex) {
        this.config.push(e.index, e.membership);
        changed = true;
      }
    }
    if (changed) this.onMembershipChanged();
  }

  onMembershipChanged(): void {
    if (this.role === "leader") syncProgress(this);
  }

  private resetRandomizedTimeout(): void {
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.rng.int(this.cfg.electionTicks);
  }

  /** A voter of the current configuration may campaign; learners and outsiders never do. */
  isPromotable(): boolean {
    if (this.config.isVoter(this.id)) return true;
    // Thesis §4.2.2: a server manages the cluster until the configuration removing it is
    // committed. Until it knows that, it may still campaign (under that configuration, where
    // its own vote does not count) if it was a voter just before: a leader that appended its
    // own removal and then lost its majority holds the newest entry, and without it no one
    // else could be elected. After a restart the commit index is forgotten, so such a server
    // may campaign again until it learns the commit; the leader tells a departing server the
    // commit before it stops sending to it.
    if (this.config.currentIndex <= this.log.commitIndex) return false;
    return this.config.at(this.config.currentIndex - 1).members.some((m) => m.id === this.id && m.suffrage === "voter");
  }

  /** This server was a member and the configuration in force no longer lists it (thesis §4.2.2). */
  isRemoved(): boolean {
    return this.config.isSelfRemoved();
  }

  send(m: Message, afterPersist: boolean): void {
    if (afterPersist) this.msgsAfterPersist.push(m);
    else this.msgs.push(m);
  }

  private reset(term: Term): void {
    if (term !== this.term) {
      this.term = term;
      this.votedFor = null;
    }
    const wasLeader = this.role === "leader";
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedTimeout();
    this.votes.clear();
    this.transferee = null;
    this.transferElapsed = 0;
    this.uncommittedBytes = 0;
    this.pipesDue.clear();
    if (wasLeader) {
      this.progress.clear();
      this.departing.clear();
      dropLeaderReads(this);
    }
  }

  /** §5.1: step down (or stay) as follower of `term`, following `leader` if known. */
  becomeFollower(term: Term, leader: NodeId | null): void {
    const oldLeader = this.leader;
    this.reset(term);
    this.role = "follower";
    this.leader = leader;
    if (oldLeader !== leader) dropForwardedReads(this);
  }

  /** Thesis §9.6: a PreVote round asks whether we could win, without bumping the term. */
  becomePreCandidate(): void {
    assert(this.role !== "leader", "leader cannot become precandidate");
    const term = this.term;
    this.reset(term);
    this.role = "precandidate";
    this.setLeader(null);
  }

  /** §5.2: increment the term, vote for self. */
  becomeCandidate(): void {
    assert(this.role !== "leader", "leader cannot become candidate");
    this.reset(this.term + 1);
    this.role = "candidate";
    this.votedFor = this.id;
    this.setLeader(null);
  }

  /** §5.2, §8: the winner appends a no-op of its term so it can commit promptly. */
  becomeLeader(): void {
    assert(this.role === "candidate", "only a candidate becomes leader");
    this.reset(this.term);
    this.role = "leader";
    this.leader = this.id;
    this.reads.startTerm();
    syncProgress(this);
    // Any config entry still uncommitted blocks changes until this term commits one.
    this.pendingConfIndex = this.log.lastIndex();
    this.appendAsLeader([{ index: this.log.lastIndex() + 1, term: this.term, kind: "noop", data: new Uint8Array(0) }]);
  }

  private setLeader(leader: NodeId | null): void {
    if (this.leader !== leader) dropForwardedReads(this);
    this.leader = leader;
  }

  // ---- RaftCore ----

  tick(): void {
    // Pipes of replies since the last Ready are filled before a tick moves any follower's
    // progress (a stalled one turned to probing), as if filled when the replies arrived.
    if (this.role === "leader") fillPipes(this);
    tickStart(this);
    if (this.role === "leader") {
      this.reads.nextRound();
      this.tickLeader();
    } else {
      tickElection(this);
    }
  }

  /** Leader tick: transfer deadline, CheckQuorum (§6.2), then heartbeats or a commit notice. */
  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    tickTransfer(this);
    if (!tickCheckQuorum(this)) return;
    tickHeartbeat(this);
    tickSpares(this);
    const more = widenReadRound(this);
    // A heartbeat went to every follower this tick already, carrying the latest round.
    if (this.heartbeatElapsed !== 0) this.sendReadHeartbeats(more);
  }

  /** Heartbeats carrying the latest read round to `peers` (§6.4). */
  private sendReadHeartbeats(peers: readonly NodeId[]): void {
    for (const peer of peers) {
      const pr = this.progress.get(peer);
      if (pr !== undefined) sendHeartbeat(this, peer, pr);
    }
  }

  step(m: Message): void {
    step(this, m);
  }

  propose(data: Uint8Array): ProposeResult {
    if (this.role !== "leader") return { ok: false, reason: "notLeader", leader: this.leader };
    if (this.transferee !== null) return { ok: false, reason: "transferring", leader: this.leader };
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.length > this.cfg.uncommittedBytesMax) {
      return { ok: false, reason: "busy", leader: this.leader };
    }
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, kind: "normal", data };
    this.appendAsLeader([entry]);
    return { ok: true, id: { index: entry.index, term: entry.term } };
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    return proposeConfChange(this, change);
  }

  leaderDisconnected(from: NodeId): void {
    noteLeaderDisconnected(this, from);
  }

  leaseTicks(): number {
    return this.cfg.leaseTicks;
  }

  readIndex(ctx: string): void {
    requestRead(this, ctx, null);
  }

  transferLeadership(id: NodeId): boolean {
    const outcome = startTransfer(this, id);
    if (outcome === null) return false;
    if (outcome === "catchUp") {
      const pr = this.progress.get(id);
      assert(pr !== undefined, "transfer target without progress");
      sendAppend(this, id, pr, true);
    }
    this.reads.forfeitLease();
    return true;
  }

  readRound(): number {
    return this.reads.latestRound;
  }

  quorumRound(): number {
    return quorumRound(this);
  }

  /** Starts an election now (tests and single-node start). */
  campaign(): void {
    campaign(this, false);
  }

  /** Only looks: batched appends and reads are flushed by ready(), not here. */
  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    return hasReady(this) || this.isFlushDue();
  }

  ready(): Ready {
    assert(this.outstanding === null, "ready() called again before advance()");
    this.flush();
    return buildReady(this);
  }

  advance(ready: Ready): void {
    advanceReady(this, ready);
    // Our own entries may now count toward a majority (thesis §10.2.1).
    if (this.role === "leader") commit(this);
  }

  takeReadStates(): readonly ReadState[] {
    const states = this.readStates;
    if (states.length > 0) this.readStates = [];
    return states;
  }

  takeLoneAppends(): readonly Message[] {
    const last = this.log.lastIndex();
    if (this.role !== "leader" || this.outstanding === null || this.log.unstableFrom !== last) return [];
    const from = this.msgs.length;
    for (const [id, pr] of this.progress) {
      // Idle and short of exactly the newest entry: what the next Ready would send it alone.
      if (pr.state === "replicate" && pr.nextIndex === last && pr.matchIndex === last - 1 && !isSpare(this, id, pr)) sendAppend(this, id, pr, false);
    }
    return this.msgs.splice(from);
  }

  takeCommitted(entriesMax: number, bytesMax: number): readonly Entry[] {
    const log = this.log;
    if (log.commitIndex <= log.handedOut || entriesMax < 1) return [];
    const entries = log.slice(log.handedOut + 1, Math.min(log.commitIndex, log.handedOut + entriesMax), bytesMax);
    const last = entries[entries.length - 1];
    if (last !== undefined) {
      log.handedOut = last.index;
      log.lastApplied = last.index;
    }
    return entries;
  }

  snapshotTaken(index: LogIndex, data: Uint8Array, trailingEntries: number): void {
    takeSnapshot(this, index, data, trailingEntries);
  }

  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      votedFor: this.votedFor,
      commitIndex: this.log.commitIndex,
      lastApplied: this.log.lastApplied,
      lastLogIndex: this.log.lastIndex(),
      lastLogTerm: this.log.lastTerm(),
      snapshotIndex: this.snapshot?.meta.lastIncludedIndex ?? 0,
      members: this.config.current.members,
      removed: this.isRemoved(),
    };
  }

  isLeader(): boolean {
    return this.role === "leader";
  }

  entries(): readonly Entry[] {
    return this.log.all();
  }

  /** Would flush() send anything? (It mirrors flush's conditions without acting.) */
  private isFlushDue(): boolean {
    if (this.role === "leader" && ((this.needBroadcast && broadcastDue(this)) || pipesDue(this))) return true;
    return readsDue(this);
  }

  /**
   * Sends the work batched since the last Ready: appends to every follower (one message
   * carries every entry proposed meanwhile, and the pipes of followers that replied are
   * refilled with it), then one heartbeat round for the reads batched meanwhile (§6.4), or
   * their forwarding to the leader. The round opens before the appends leave, so each carries
   * it and a follower sent one needs no heartbeat (askReadRound). Called by ready() only.
   */
  private flush(): void {
    const round = openReadRound(this);
    if (this.role === "leader") fillPipes(this);
    this.pipesDue.clear();
    if (this.needBroadcast && this.role === "leader") broadcastAppend(this);
    this.needBroadcast = false;
    this.sparesDue = false;
    this.sparesCommittedOnly = false;
    this.commitNoticeDue = false;
    if (round !== null) {
      this.sendReadHeartbeats(askReadRound(this, round));
      releaseReads(this);
    }
    forwardReads(this);
  }
}
