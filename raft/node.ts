// The driver: feeds inputs (ticks, messages, proposals, reads) to the pure core and carries
// out each Ready in the order its type demands: send, persist, send after persist, apply,
// advance. Inputs arriving in the same turn of the event loop share one Ready, so one
// fdatasync covers all of them (group commit). It also completes client requests itself:
// propose() settles when the entry is applied or its outcome becomes unknown, read() when
// the state machine has applied past a confirmed read index (raft/requests.ts).

import type {
  ConfChange,
  Entry,
  LogIndex,
  Membership,
  Message,
  NodeId,
  ProposeResult,
  RaftCore,
  RaftStatus,
  Ready,
  Role,
  Snapshot,
  SnapshotMeta,
} from "./core/mod.ts";
import { LeaderLease } from "./lease.ts";
import { LoopSyncGate } from "./loop_sync.ts";
import { randomIncarnation, type RaftNodeOptions, readsWaitingMaxDefault, requestTimeoutMsDefault } from "./node_options.ts";
import { realTimers } from "./real_time.ts";
import { Proposals, type ReadDone, Reads, RequestError } from "./requests.ts";
import { entriesBytes, entrySlices, persistSlicedBytesMin, persistTurnBytesMax } from "./persist_slices.ts";
import { joinedSnapshot, snapshotSize } from "./snapshot_bytes.ts";
import { SnapshotPolicy } from "./snapshot_policy.ts";
import { TransferRequests } from "./transfer_request.ts";

export { RequestError, type RequestFailure } from "./requests.ts";

/** Readies handled in one turn before yielding to the event loop (ticks, sockets). */
const readiesPerTurnMax = 16;
/**
 * Committed entries applied in one turn of the event loop at most, and bytes of their data
 * (one entry at least, whatever its size); the rest in later turns, the Ready outstanding
 * meanwhile. A follower catching up is handed thousands of committed entries in one Ready
 * (147 ms of applying in one turn was seen in a traced install). The bytes bound bulk entries
 * (64 KiB is ~20 of the bench's 100-key, 3 KB entries: ~2,000 keys, a few ms); the count
 * bounds small ones (a few µs each) and is above what a leader commits per Ready under load,
 * so the steady write path never waits a turn for it.
 */
export const applyTurnEntriesMax = 1024;
export const applyTurnBytesMax = 64 * 1024;

/** The driver of one Raft server. Every method is synchronous; work is queued, never re-entered. */
export class RaftNode {
  readonly core: RaftCore;
  private readonly opts: RaftNodeOptions;
  private isScheduled = false;
  private isProcessing = false;
  private isStopped = false;
  /**
   * True while the outstanding Ready is carried out over later turns: its entries synced off
   * the loop, a snapshot installed, or its committed entries applied a slice per turn. No
   * other Ready is taken and no local snapshot begins meanwhile.
   */
  private isOutstanding = false;
  /**
   * True while this leader's own sync of the outstanding Ready is under way, or after a lone
   * write synced on the loop (isLoneWrite), and every committed entry handed out so far is
   * applied: what followers' replies commit meanwhile is applied at once (applyOnCommit).
   */
  private appliesOnCommit = false;
  /**
   * True while this leader's own sync of an outstanding Ready of one entry is under way: a
   * lone write then, whose successor may leave early (sendLoneAppends).
   */
  private isSyncingLone = false;
  /** Entries applied, and bytes of them, in the current turn (see applyTurnEntriesMax). */
  private turnApplied = 0;
  private turnAppliedBytes = 0;
  /** True while a snapshot is being encoded in the background. */
  private isSnapshotting = false;
  /** Whether the disk was fast enough of late for a sync on the loop (raft/loop_sync.ts). */
  private readonly loopSyncs: LoopSyncGate;
  /** Settles once the local snapshot under way (if any) is done, either way. */
  private snapshotSettled: Promise<void> = Promise.resolve();
  /** The role as of the Ready being handled (from its softState): decides how entries are synced. */
  private role: Role;
  /** Index covered by the newest snapshot this node holds. */
  private snapshotIndex: LogIndex;
  /** Term of the last applied entry and the membership as of it: a local snapshot's meta. */
  private appliedTerm: number;
  private appliedMembership: Membership;
  /** Decides when the next local snapshot is due. */
  private readonly snapshotPolicy: SnapshotPolicy;
  /**
   * Set once a storage write failed: the node stops (fail-stop) rather than carry on with a
   * log that may not match what it acknowledged.
   */
  private fatal: unknown = null;
  /** When heartbeat rounds began, on the monotonic clock; null when lease reads are off. */
  private readonly lease: LeaderLease | null;
  /** Index of the last entry the state machine applied (ahead of the core's during a sync). */
  private applied: LogIndex;
  /** Proposals waiting for their entry to be applied. */
  private readonly proposals: Proposals;
  /** Reads waiting for a read index or for the state machine to reach one. */
  private readonly reads: Reads;
  /** Leadership transfers waiting to settle, and who acknowledged how much (raft/transfer_request.ts). */
  private readonly transfers = new TransferRequests();

  constructor(opts: RaftNodeOptions) {
    this.opts = opts;
    this.core = opts.core;
    this.lease = opts.lease === undefined ? null : new LeaderLease(opts.lease, opts.core.leaseTicks());
    this.role = opts.core.status().role;
    this.snapshotIndex = opts.start.lastIncludedIndex;
    this.appliedTerm = opts.start.lastIncludedTerm;
    this.appliedMembership = opts.start.membership;
    this.applied = opts.start.lastIncludedIndex;
    this.loopSyncs = new LoopSyncGate(opts.syncClock ?? null);
    const timers = opts.requests?.timers ?? realTimers;
    const timeoutMs = opts.requests?.timeoutMs ?? requestTimeoutMsDefault;
    this.proposals = new Proposals(timers, timeoutMs, opts.requests?.counts);
    const incarnation = opts.requests?.incarnation ?? randomIncarnation();
    this.reads = new Reads({
      timers,
      timeoutMs,
      waitingMax: opts.requests?.readsWaitingMax ?? readsWaitingMaxDefault,
      ctxPrefix: `${opts.core.status().id}/${incarnation}`,
      ...(opts.requests?.counts === undefined ? {} : { counts: opts.requests.counts }),
    });
    this.snapshotPolicy = new SnapshotPolicy({
      thresholdEntries: opts.snapshotThresholdEntries,
      startBytes: opts.startSnapshotBytes ?? 0,
      intervalTicks: opts.snapshotIntervalTicks ?? 0,
      ...(opts.random === undefined ? {} : { random: opts.random }),
    });
  }

  /** One tick of logical time (from the Ticker). */
  tick(): void {
    if (this.isStopped) return;
    this.core.tick();
    this.snapshotPolicy.tick();
    this.transfers.tick(this.core.status());
    this.schedule();
  }

  /** A message from a peer (already decoded and shape-checked by the codec). */
  receive(msg: Message): void {
    if (this.isStopped) return;
    if (msg.type === "AppendEntriesReply" && msg.success) this.transfers.acked(msg.from, msg.matchIndex);
    const isLoneHeartbeat = msg.type === "AppendEntries" && msg.entries.length === 0 && !this.isScheduled;
    this.core.step(msg);
    if (msg.type === "AppendEntriesReply") {
      if (this.appliesOnCommit) this.applyOnCommit();
      this.serveConfirmedReads();
    }
    if (isLoneHeartbeat && !this.isProcessing && !this.isOutstanding) return this.answerHeartbeat();
    this.schedule();
  }

  /**
   * A heartbeat that reached a follower with no other input waiting is answered in the turn it
   * arrives (issue 18): every linearizable read's round is one of these, and a deferred turn
   * cost the follower another pass of its event loop per round, and the round that much
   * longer. This is the turn a deferred one would have been, run now: its Ready is handled
   * in the same order (a heartbeat that raised the term has its hard state synced before the
   * reply leaves: a follower syncs on the loop), so persist-before-speak holds as before.
   * Inputs already waiting for a turn (appends whose entries one sync should cover) are not
   * hurried: the heartbeat joins their turn.
   */
  private answerHeartbeat(): void {
    this.process();
  }

  /**
   * A leader serves the reads an acknowledgement just confirmed in the turn it arrives (issue
   * 18), not in the next driver turn: under load that turn comes only after every HTTP request
   * of the same event-loop pass is parsed, and read latency is what limits a closed loop of
   * clients. Each read still waits until this node applied its read index (Reads.confirmed).
   * Not on a follower: a forwarded read's answer may arrive while it installs a snapshot a
   * piece at a time, its state machine not whole (its Ready's readStates wait for the install).
   */
  private serveConfirmedReads(): void {
    if (!this.core.isLeader()) return;
    for (const r of this.core.takeReadStates()) this.reads.confirmed(r.ctx, r.readIndex, this.applied);
  }

  /**
   * A leader whose own sync is under way applies at once what followers' replies just
   * committed, rather than after that sync and the next Ready (issue 18). Committed means
   * held by a majority: thesis §10.2.1 lets followers commit an entry before the leader's own
   * disk holds it, and an entry the leader's last sync made durable commits with one reply.
   * Under load replies arrive while the next sync is out, so a client was answered a whole
   * sync later than its entry committed; its next request then missed a batch too.
   */
  private applyOnCommit(): void {
    const entriesLeft = applyTurnEntriesMax - this.turnApplied;
    const bytesLeft = applyTurnBytesMax - this.turnAppliedBytes;
    if (!this.core.isLeader() || entriesLeft < 1 || bytesLeft < 1) return;
    try {
      const entries = this.core.takeCommitted(entriesLeft, bytesLeft);
      for (const entry of entries) this.applyEntry(entry);
      if (entries.length > 0) this.reads.applied(this.applied);
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * A lone write that arrives while this leader's own sync of the previous lone write is out
   * leaves for idle followers at once (RaftCore.takeLoneAppends), instead of after that sync:
   * traced at one connection (issue 18), 2.4-2.8% of writes arrived during it and waited for
   * it, so the leader's slowest syncs reached the next write even when both followers had
   * been faster. Only after a Ready of one entry: under concurrency the first of the clients
   * answered by a commit would otherwise go alone, and every follower would sync twice per
   * batch (measured at 64 connections: fewer writes/s, more CPU per write).
   */
  private sendLoneAppends(): void {
    const messages = this.core.takeLoneAppends();
    if (messages.length === 0) return;
    // Dates the rounds these AppendEntries carry before any of them leaves (raft/lease.ts).
    this.lease?.observe(this.core.readRound());
    for (const m of messages) this.opts.send(m);
    this.opts.flush?.();
  }

  /** The connection from `from` closed: see RaftCore.leaderDisconnected. */
  leaderDisconnected(from: string): void {
    if (this.isStopped) return;
    this.core.leaderDisconnected(from);
  }

  /** Makes sure a driver turn runs soon (a single voter elects itself at once this way). */
  wake(): void {
    this.schedule();
  }

  /**
   * Appends `data` if this node leads and settles with what the state machine's apply returned
   * for it. Fails with RequestError: refused by the core (nothing appended: "notLeader" with
   * the leader known, "busy", …), "overwritten" (never applied), or "unknown" (timed out, or a
   * snapshot replaced the state: it may or may not be applied).
   */
  propose(data: Uint8Array): Promise<unknown> {
    return this.awaitProposal(this.core.propose(data));
  }

  /**
   * A single-server membership change (thesis §4.1), settled as propose(). A change already in
   * force settles at once when its entry is applied, or with the request already waiting for it.
   */
  proposeConfChange(change: ConfChange): Promise<void> {
    return this.awaitProposal(this.core.proposeConfChange(change)).then(() => undefined);
  }

  /**
   * A linearizable read (§6.4): settles once the leader confirmed a read index taken after this
   * call and the state machine has applied up to it. Reads of one turn share one request.
   * Fails with RequestError "noLeader", "timeout" or "full" (nothing changed either way).
   */
  read(): Promise<void> {
    return new Promise((resolve, reject) => this.readThen((error) => (error === null ? resolve() : reject(error))));
  }

  /**
   * read() with a callback, called once with null or the RequestError (the hot read path: no
   * promise, no timer of its own). `done` runs inside the driver's turn and must not throw.
   */
  readThen(done: ReadDone): void {
    if (this.isStopped) return done(new RequestError("noLeader", "node is shutting down"));
    this.reads.readThen(done);
    this.schedule();
  }

  /** Settles once the state machine has applied up to `index` (a lease read behind its state). */
  readAt(index: LogIndex): Promise<void> {
    if (index <= this.applied) return Promise.resolve();
    return this.reads.atIndex(index);
  }

  /** Index of the last entry the state machine applied. */
  /** Term of the last entry applied (or of the snapshot the state came from): a backup's term. */
  get lastAppliedTerm(): number {
    return this.appliedTerm;
  }

  /** Syncs on the loop found slow, and syncs sent off the loop for it since (raft/loop_sync.ts). */
  loopSyncCounts(): { slow: number; sentOffLoop: number } {
    return { slow: this.loopSyncs.slow, sentOffLoop: this.loopSyncs.sentOffLoop };
  }

  get lastApplied(): LogIndex {
    return this.applied;
  }

  /** The core leads now (RaftCore.isLeader: no status built). */
  isLeader(): boolean {
    return this.core.isLeader();
  }

  /** The core's status (role, term, leader, indexes, members). */
  status(): RaftStatus {
    return this.core.status();
  }

  /**
   * Hands leadership to voter `to` (thesis §3.10), or with null to the most caught-up voter
   * heard from lately; settles with the new leader's id once another node is known to lead.
   * Fails with RequestError: "notLeader" (with the leader, if known), "invalid" (no such
   * voter, or no other voter), "transferring" (a transfer to another node is under way),
   * "timeout" once `ticksMax` ticks passed and this node still leads (the core gave up after
   * its election timeout; give that), "noLeader" (stopped, or no one was elected).
   * Meanwhile the core refuses proposals with "transferring".
   */
  transferLeadership(to: NodeId | null, ticksMax: number): Promise<NodeId> {
    if (this.isStopped) return Promise.reject(new RequestError("noLeader", "node is shutting down"));
    const s = this.core.status();
    if (s.role !== "leader") return Promise.reject(new RequestError("notLeader", "not the leader", s.leader));
    const target = to ?? this.transfers.pick(s, ticksMax);
    if (target === null) return Promise.reject(new RequestError("invalid", "there is no other voter to hand leadership to"));
    const under = this.transfers.target;
    if (under !== null && under !== target) {
      return Promise.reject(new RequestError("transferring", `leadership is being transferred to ${under}`, s.id));
    }
    if (!this.core.transferLeadership(target)) {
      return Promise.reject(new RequestError("invalid", `${target} is not a voter that can lead`, s.id));
    }
    this.schedule();
    return this.transfers.wait(target, ticksMax);
  }

  /** Settles once the transfer under way (if any) ended, either way. */
  transferSettled(): Promise<void> {
    return this.transfers.ended();
  }

  /** Proposals and reads waiting here (a leader handing off waits for these before it exits). */
  get waiting(): number {
    return this.proposals.size + this.reads.size;
  }

  /** Stop processing; pending work is dropped (nothing more is persisted or sent). */
  stop(): void {
    this.transfers.failAll("node is shutting down");
    this.isStopped = true;
    this.proposals.failAll("node shut down; write outcome unknown");
    this.reads.failAll("node is shutting down");
  }

  private awaitProposal(r: ProposeResult | null): Promise<unknown> {
    if (this.isStopped) return Promise.reject(new RequestError("unknown", "node is shutting down"));
    if (r === null) return Promise.resolve(undefined);
    if (!r.ok) return Promise.reject(new RequestError(r.reason, r.reason, r.leader));
    this.schedule();
    // A change already in force names the entry carrying it: applied already, nothing to wait for.
    if (r.id.index <= this.applied) return Promise.resolve(undefined);
    return this.proposals.wait(r.id.index, r.id.term);
  }

  /**
   * The read index of a lease read (raft/lease.ts) if this node may serve one now, else null
   * (then read through ReadIndex). It must lead, must have applied an entry of its own term
   * (before that its state may lack writes its predecessor acknowledged), and a majority must
   * have acknowledged a heartbeat round that began within the lease, on the clock, now.
   */
  leaseReadIndex(): LogIndex | null {
    if (this.lease === null || this.isStopped) return null;
    const s = this.core.status();
    if (s.role !== "leader" || this.appliedTerm !== s.term) return null;
    this.lease.observe(this.core.readRound());
    if (!this.lease.holds(this.core.quorumRound())) return null;
    return s.commitIndex;
  }

  /** The error that stopped this node, if any. */
  get failure(): unknown {
    return this.fatal;
  }

  private schedule(): void {
    if (this.isScheduled || this.isStopped) return;
    this.isScheduled = true;
    this.opts.scheduler.defer(() => {
      this.isScheduled = false;
      this.process();
    });
  }

  private process(): void {
    if (this.isProcessing || this.isStopped) return;
    this.isProcessing = true;
    this.newTurn();
    try {
      // Proposals made since share one timer; later ones start another (raft/requests.ts).
      this.proposals.endTurn();
      // This turn's linearizable reads, as one ReadIndex request.
      const readCtx = this.reads.takeOpen();
      if (readCtx !== null) this.core.readIndex(readCtx);
      if (this.isSyncingLone) this.sendLoneAppends();
      let count = 0;
      while (!this.isStopped && !this.isOutstanding && this.core.hasReady() && count < readiesPerTurnMax) {
        const rd = this.core.ready();
        // Dates the rounds its AppendEntries carry before any of them leaves (raft/lease.ts).
        this.lease?.observe(this.core.readRound());
        this.handle(rd);
        count++;
      }
      // A capture now would include entries applied ahead of advance() (see handle).
      if (!this.isOutstanding) this.maybeSnapshot();
    } catch (e) {
      this.fail(e);
    } finally {
      this.isProcessing = false;
    }
    if (!this.isStopped && !this.isOutstanding && this.core.hasReady()) this.schedule();
  }

  private handle(rd: Ready): void {
    const { send, storage } = this.opts;
    if (rd.softState !== null) this.role = rd.softState.role;
    // Set again below where every committed entry handed out is applied.
    this.appliesOnCommit = false;
    if (rd.snapshot === null && rd.entries.length === 0 && rd.hardState === null) {
      for (const m of rd.messages) send(m);
      this.finish(rd, 0);
      return;
    }
    if (rd.snapshot !== null && (storage.persistSnapshotAsync !== undefined || this.opts.stateMachine.restoreAsync !== undefined)) {
      this.install(rd, rd.snapshot);
      return;
    }
    // Many MB of entries (a follower catching up after an install): a slice per turn.
    if (rd.snapshot === null && storage.persistEntriesAsync !== undefined && entriesBytes(rd.entries) > persistSlicedBytesMin) {
      this.persistSliced(rd);
      return;
    }
    // A leader syncs its entries off the loop: it keeps taking client requests and acks
    // meanwhile. A follower has nothing to do until its entries are durable and acknowledged;
    // what arrives meanwhile waits in the socket and forms the next batch. Measured here, the
    // thread-pool round trip cost a follower more than it saved: with followers syncing on
    // the loop, 1-connection writes went from ~1,360 to ~1,680-1,890/s and CPU per write from
    // ~750 to ~540 µs, with 16 and 64 connections as fast or faster. Except while this node
    // writes a snapshot (issue 18): the disk is then busy with its bytes, and a follower's
    // fdatasync on the loop waited behind them for 20-180 ms each (2M keys, traced), holding
    // everything else; off the loop, the ack still waits for the sync (persisted, finish).
    const mayGoOffLoop = rd.snapshot === null && rd.hardState === null && storage.persistEntriesAsync !== undefined;
    let isLone = this.isLoneWrite(rd);
    let syncsOffLoop = mayGoOffLoop && (this.role === "leader" ? !isLone : this.isSnapshotting);
    // Nor while other writes (another member's snapshot) hold the disk up (raft/loop_sync.ts).
    let gateSync: (() => void) | null = null;
    if (mayGoOffLoop && !syncsOffLoop && !this.loopSyncs.isOpen()) {
      syncsOffLoop = true;
      isLone = false;
      gateSync = this.loopSyncs.sentOff();
    }
    if (!syncsOffLoop) {
      // AppendEntries and heartbeats may leave before our own write completes (thesis
      // §10.2.1): the leader counts itself only once advance() reports the entries durable.
      // Flushed before the blocking fdatasync, so followers write and sync while we do.
      for (const m of rd.messages) send(m);
      if (rd.messages.length > 0) this.opts.flush?.();
      this.loopSyncs.timed(() => storage.persist(rd.hardState, rd.snapshot, rd.entries));
      this.finish(rd, 0);
      // The lone write commits with the first follower's reply, which arrived meanwhile or
      // soon: applied in the turn it is read (applyOnCommit), not in a driver turn after it.
      if (isLone && !this.isOutstanding) this.appliesOnCommit = true;
      return;
    }
    // A leader's entries alone (the steady state). The AppendEntries leave first: a follower's path to
    // its ack (network, decode, its own sync) is longer than ours, so it should start first.
    // Our fdatasync then runs off the loop, which meanwhile takes new requests and acks into
    // the core (they form the next Ready once this one is advanced) and applies what the
    // acks commit (applyOnCommit).
    for (const m of rd.messages) send(m);
    if (rd.messages.length > 0) this.opts.flush?.();
    const firstNew = rd.entries[0]!.index;
    let early = 0;
    while (early < rd.committed.length && rd.committed[early]!.index < firstNew) early++;
    this.isOutstanding = true;
    this.isSyncingLone = this.role === "leader" && rd.entries.length === 1;
    // A storage that syncs at once (memory) calls back before returning: finish after the
    // early applies below, as an asynchronous one would.
    const call = { isCalling: true, isDone: false, error: null as Error | null, appliedEarly: 0 };
    storage.persistEntriesAsync!(rd.entries, (error) => {
      gateSync?.(); // timed: a slow one keeps the gate closed (raft/loop_sync.ts)
      if (!call.isCalling) {
        this.newTurn();
        return this.persisted(rd, call.appliedEarly, error);
      }
      call.isDone = true;
      call.error = error;
    });
    call.isCalling = false;
    // Committed entries below the new ones were made durable by earlier Readies: apply them
    // now (as many as this turn allows), so clients are answered during the sync rather than
    // after it. Committed entries among the new ones (a follower learning both at once) wait
    // for the sync.
    call.appliedEarly = this.applyCommitted(rd.committed, 0, early);
    this.appliesOnCommit = this.role === "leader" && call.appliedEarly === rd.committed.length;
    if (call.isDone) this.persisted(rd, call.appliedEarly, call.error);
  }

  /**
   * A leader's Ready of one small entry while no other proposal or read waits: one client
   * writing (issue 18). Its fdatasync then runs on the event loop, as a follower's does, with
   * nothing for the loop to do meanwhile (the followers' replies wait in the socket): through
   * the thread pool it cost a futex, an eventfd write and an epoll wake per write, and the
   * pool threads ~66 µs of CPU per write at one connection (measured, /tmp/h18t/ab.ts). Any
   * other waiting request keeps the sync off the loop, so under concurrency nothing waits
   * behind it; as does a snapshot being written (the disk is busy: see handle()).
   */
  private isLoneWrite(rd: Ready): boolean {
    const bytesMax = this.opts.loneSyncOnLoopBytesMax ?? 0;
    return this.role === "leader" && !this.isSnapshotting && rd.entries.length === 1 && rd.entries[0]!.data.length <= bytesMax &&
      this.proposals.size <= 1 && this.reads.size === 0;
  }

  /**
   * A Ready of many MB of entries written a slice per turn of the event loop (persist_slices.ts),
   * each synced off the loop, then its hard state; the rest of the Ready once all of it is
   * durable (persisted): acknowledgements and votes wait for the last slice as they wait for a
   * whole write. Meanwhile the Ready stays outstanding, as while a sync runs off the loop: the
   * core hands out no other, and a crash part-way loses only what nobody was told of.
   */
  private persistSliced(rd: Ready): void {
    const { send, storage } = this.opts;
    for (const m of rd.messages) send(m);
    if (rd.messages.length > 0) this.opts.flush?.();
    this.isOutstanding = true;
    const slices = entrySlices(rd.entries, persistTurnBytesMax);
    let next = 0;
    const writeNext = (): void => {
      if (this.isStopped) return this.persisted(rd, 0, null);
      if (next === slices.length) {
        let error: Error | null = null;
        try {
          if (rd.hardState !== null) storage.persist(rd.hardState, null, []);
        } catch (e) {
          error = e instanceof Error ? e : new Error(String(e));
        }
        this.newTurn();
        return this.persisted(rd, 0, error);
      }
      // Each slice in a turn of its own, whether its sync completes at once (memory) or later.
      storage.persistEntriesAsync!(slices[next++]!, (error) => {
        if (error !== null) {
          this.newTurn();
          return this.persisted(rd, 0, error);
        }
        this.opts.scheduler.defer(writeNext);
      });
    };
    writeNext();
  }

  /**
   * A Ready holding a snapshot from the leader (§7), carried out over many turns of the event
   * loop: persisted (written in slices, fsyncs off the loop), then the state machine restored
   * from it a piece at a time, then the rest of the Ready. Done in one turn, a ten-million-key
   * snapshot (289 MB) held a follower's loop for seconds. Meanwhile this Ready stays
   * outstanding, so the core hands out no other (what arrives waits in its log and outbox),
   * the "done" reply and votes wait for durability (messagesAfterPersist, sent by finish), and
   * nothing is applied before the restore completes. A local snapshot under way is let finish
   * first: one snapshot write at a time, and the installed one, newer, supersedes it.
   */
  private install(rd: Ready, snapshot: Snapshot): void {
    const { send, storage, stateMachine } = this.opts;
    for (const m of rd.messages) send(m);
    if (rd.messages.length > 0) this.opts.flush?.();
    this.isOutstanding = true;
    const steps = async (): Promise<boolean> => {
      await this.snapshotSettled.catch(() => undefined); // its failure is its own to report
      if (this.isStopped) return false;
      if (storage.persistSnapshotAsync !== undefined) await storage.persistSnapshotAsync(rd.hardState, snapshot, rd.entries);
      else storage.persist(rd.hardState, snapshot, rd.entries);
      // Restored only once durable: the map never holds a state a crash could take back, and
      // finish() runs in the same turn as the restore's end, so no read sees the new map
      // beside the old applied index.
      if (this.isStopped || stateMachine.restoreAsync === undefined) return false;
      await stateMachine.restoreAsync(snapshot.data);
      return true;
    };
    steps().then(
      (isRestored) => this.installed(rd, isRestored, null),
      (e: unknown) => this.installed(rd, false, e ?? new Error("snapshot install failed")),
    );
  }

  /** install() is over (or failed): the rest of the Ready, then the next. */
  private installed(rd: Ready, isRestored: boolean, error: unknown): void {
    this.isOutstanding = false;
    if (this.isStopped) return;
    this.newTurn();
    try {
      if (error !== null) throw error;
      const meta = rd.snapshot!.meta;
      this.finish(rd, 0, isRestored, () => this.holdStored(meta));
      this.maybeSnapshot();
    } catch (e) {
      this.fail(e);
      return;
    }
    this.schedule();
  }

  /**
   * The core keeps an installed snapshot to send on should this node lead; a view of the file
   * just written spares the memory of the received copy (the whole snapshot) from now on.
   */
  private holdStored(meta: SnapshotMeta): void {
    const stored = this.opts.storage.mapSnapshot?.(meta) ?? null;
    if (stored !== null) this.core.snapshotTaken(meta.lastIncludedIndex, stored, this.opts.snapshotTrailingEntries);
  }

  /** The entries of `rd` are durable (or failed to be): the rest of the Ready, then the next. */
  private persisted(rd: Ready, appliedAlready: number, error: Error | null): void {
    this.isOutstanding = false;
    this.appliesOnCommit = false;
    this.isSyncingLone = false;
    if (this.isStopped) return;
    try {
      if (error !== null) throw error;
      this.finish(rd, appliedAlready);
      this.maybeSnapshot();
    } catch (e) {
      this.fail(e);
      return;
    }
    this.schedule();
  }

  /** A new turn of the event loop: its apply budget is full again. */
  private newTurn(): void {
    this.turnApplied = 0;
    this.turnAppliedBytes = 0;
  }

  /**
   * Applies committed[from, to) in order, as far as this turn's budget goes (at least one
   * entry per turn); returns the index in `committed` it stopped at.
   */
  private applyCommitted(committed: readonly Entry[], from: number, to: number): number {
    let i = from;
    for (; i < to; i++) {
      if (this.turnApplied > 0 && (this.turnApplied >= applyTurnEntriesMax || this.turnAppliedBytes >= applyTurnBytesMax)) break;
      this.applyEntry(committed[i]!);
    }
    if (i > from) this.reads.applied(this.applied);
    return i;
  }

  /** Applies one committed entry, the next in log order, and settles its proposal. */
  private applyEntry(entry: Entry): void {
    const { stateMachine, events } = this.opts;
    this.turnApplied++;
    this.turnAppliedBytes += entry.data.length;
    const result = entry.kind === "normal" ? stateMachine.apply(entry) : null;
    this.appliedTerm = entry.term;
    this.snapshotPolicy.applied(entry.data.length);
    if (entry.membership !== undefined) this.appliedMembership = entry.membership;
    this.applied = entry.index;
    events.applied(entry, result);
    this.proposals.applied(entry.index, entry.term, result);
  }

  /**
   * The rest of a Ready once its durable part is durable: messages that had to wait for it,
   * snapshot install (the state machine restored already if `isRestored`), committed entries
   * from `appliedAlready` on (over several turns if many: applyRest), advance(), reads, then
   * `then`.
   */
  private finish(rd: Ready, appliedAlready: number, isRestored = false, then: (() => void) | null = null): void {
    const { send, stateMachine, events } = this.opts;
    // Persist before you speak: votes and append acks only after the sync.
    for (const m of rd.messagesAfterPersist) send(m);
    if (rd.softState !== null) {
      events.softState(rd.softState);
      this.transfers.softState(this.core.status().id, rd.softState);
    }
    if (rd.snapshot !== null) {
      if (!isRestored) stateMachine.restore(rd.snapshot.data);
      this.snapshotIndex = rd.snapshot.meta.lastIncludedIndex;
      this.appliedTerm = rd.snapshot.meta.lastIncludedTerm;
      this.appliedMembership = rd.snapshot.meta.membership;
      this.snapshotPolicy.taken(rd.snapshot.data.length, 0);
      this.applied = rd.snapshot.meta.lastIncludedIndex;
      // Whether our proposals up to here are in the snapshot, no one can tell.
      this.proposals.covered(this.applied);
      this.reads.applied(this.applied);
      events.restored(rd.snapshot.meta);
      this.opts.logger.info(
        `installed snapshot at index ${rd.snapshot.meta.lastIncludedIndex} term ${rd.snapshot.meta.lastIncludedTerm}`,
        { event: "snapshot_installed", index: rd.snapshot.meta.lastIncludedIndex, term: rd.snapshot.meta.lastIncludedTerm, bytes: rd.snapshot.data.length },
      );
    }
    this.applyRest(rd, appliedAlready, then);
  }

  /**
   * Applies rd.committed from `from` on, this turn's budget now and the rest a budget per
   * later turn, the Ready outstanding meanwhile (like an install: the core hands out no other
   * Ready, no local snapshot captures a state ahead of the core's applied index, and reads
   * are served as the applied index passes theirs); then advance(), the Ready's reads, `then`.
   */
  private applyRest(rd: Ready, from: number, then: (() => void) | null): void {
    const reached = this.applyCommitted(rd.committed, from, rd.committed.length);
    if (reached < rd.committed.length) {
      this.isOutstanding = true;
      this.opts.scheduler.defer(() => this.applyTurn(rd, reached, then));
      return;
    }
    this.core.advance(rd);
    for (const r of rd.readStates) this.reads.confirmed(r.ctx, r.readIndex, this.applied);
    for (const ctx of rd.droppedReads) this.reads.dropped(ctx);
    then?.();
  }

  /** A later turn of applyRest. */
  private applyTurn(rd: Ready, from: number, then: (() => void) | null): void {
    this.isOutstanding = false;
    if (this.isStopped) return;
    this.newTurn();
    try {
      this.applyRest(rd, from, then);
      this.maybeSnapshot();
    } catch (e) {
      this.fail(e);
      return;
    }
    this.schedule();
  }

  /**
   * Take a snapshot once enough was applied since the last one (§7; see SnapshotPolicy),
   * keeping trailing entries so that followers a little behind still catch up from the log.
   * The state is captured now and encoded in the background; one snapshot at a time.
   */
  private maybeSnapshot(): void {
    // While a Ready is outstanding the state machine may be ahead of the core's applied index.
    if (this.isSnapshotting || this.isOutstanding) return;
    const applied = this.core.status().lastApplied;
    if (!this.snapshotPolicy.isDue(applied - this.snapshotIndex)) return;
    const bytesAtCapture = this.snapshotPolicy.appliedBytes;
    const meta: SnapshotMeta = {
      lastIncludedIndex: applied,
      lastIncludedTerm: this.appliedTerm,
      membership: this.appliedMembership,
    };
    const baseIndex = this.snapshotIndex;
    this.isSnapshotting = true;
    const compactIndex = Math.max(0, applied - this.opts.snapshotTrailingEntries);
    const take = async (): Promise<void> => {
      const data = await this.opts.stateMachine.snapshot();
      // A snapshot installed from the leader meanwhile supersedes this one.
      if (this.isStopped || this.snapshotIndex !== baseIndex) return;
      await this.opts.storage.saveSnapshot(meta, data, compactIndex);
      if (this.isStopped || this.snapshotIndex !== baseIndex) return;
      // The core keeps the state to send to followers that fall behind the log; a view of
      // the file spares the memory (tens of MB at a million keys) of keeping it resident.
      // Joined only where the disk cannot map it (the simulator's).
      const held = this.opts.storage.mapSnapshot?.(meta) ?? joinedSnapshot(data);
      this.core.snapshotTaken(applied, held, this.opts.snapshotTrailingEntries);
      this.snapshotIndex = applied;
      const bytes = snapshotSize(data);
      this.snapshotPolicy.taken(bytes, this.snapshotPolicy.appliedBytes - bytesAtCapture);
      this.opts.logger.info(`snapshot taken at index ${applied} term ${meta.lastIncludedTerm} (${bytes} bytes)`, {
        event: "snapshot_taken",
        index: applied,
        term: meta.lastIncludedTerm,
        bytes,
      });
    };
    this.snapshotSettled = take().then(
      () => {
        this.isSnapshotting = false;
        this.schedule();
      },
      (e: unknown) => {
        this.isSnapshotting = false;
        if (this.isStopped) return;
        // An installed snapshot may have replaced the files this one was being written to;
        // it supersedes ours, so that failure is harmless. Any other storage error is not.
        if (this.snapshotIndex !== baseIndex) {
          this.opts.logger.warn(`local snapshot at ${applied} abandoned: ${e instanceof Error ? e.message : String(e)}`);
          return;
        }
        this.fail(e);
      },
    );
  }

  /** Fail-stop: a storage or invariant error ends this node rather than letting it limp on. */
  private fail(e: unknown): void {
    this.fatal = e;
    this.isStopped = true;
    this.transfers.failAll("node stopped on an error");
    this.proposals.failAll("node stopped on an error; write outcome unknown");
    this.reads.failAll("node stopped on an error");
    this.opts.logger.error(`raft node stopped: ${e instanceof Error ? e.stack ?? e.message : String(e)}`, { event: "fatal" });
    this.opts.onFatal?.(e);
  }
}
