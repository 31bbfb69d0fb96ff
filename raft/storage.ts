// One node's durable storage as the driver sees it: the WAL, the stable store (term, vote,
// id) and the snapshot store under one data directory, and the recovery that turns them
// into the core's InitialState.

import { join } from "node:path";
import type {
  Entry,
  HardState,
  InitialState,
  LogIndex,
  Member,
  Membership,
  NodeId,
  Snapshot,
  SnapshotMeta,
  SnapshotReceiver,
} from "./core/mod.ts";
import { receivedFrameBodies } from "./frame_bodies.ts";
import type { Disk, Logger, Scheduler } from "./host.ts";
import type { RaftStorage } from "./node_options.ts";
import { realScheduler } from "./real_time.ts";
import { type SnapshotBytes, snapshotSlices } from "./snapshot_bytes.ts";
import { SnapshotStore, type SnapshotWriter } from "./snapshots.ts";
import { StableStore } from "./stable.ts";
import { StorageDamageError, Wal } from "./wal.ts";

/** A received snapshot chunk's frame, no longer read once written: lent again (frame_bodies.ts). */
const handBackFrame = (chunk: Uint8Array): void => receivedFrameBodies.handBack(chunk);

/** Where each part lives, per DESIGN "Persistence". */
export interface StoragePaths {
  readonly wal: string;
  readonly state: string;
  readonly snapshots: string;
}

export function storagePaths(dataDir: string): StoragePaths {
  return {
    wal: join(dataDir, "raft", "wal"),
    state: join(dataDir, "raft", "state"),
    snapshots: join(dataDir, "snapshots"),
  };
}

/** What recovery found: the core's starting point and whether the node had any state. */
export interface Recovered {
  readonly storage: NodeStorage;
  readonly initial: Omit<InitialState, "bootstrap">;
  readonly hasState: boolean;
  /** Node id recorded in the data directory, if any. */
  readonly nodeId: NodeId | null;
}

/** Options of openStorage. */
export interface OpenStorageOptions {
  /** Disk for the log and stable state (MemDisk for -inmem). */
  readonly logDisk: Disk;
  /** Disk for snapshots (always the real one: hraftd keeps snapshots on disk with -inmem). */
  readonly snapshotDisk: Disk;
  readonly dataDir: string;
  readonly segmentBytesMax?: number;
  /** Zeros the WAL writes ahead of its records (WalOptions.preallocateBytes); 0 or absent: none. */
  readonly walPreallocateBytes?: number;
  /** Where recovery says what it cleaned up or cut (snapshot leftovers); absent: silent. */
  readonly logger?: Logger;
  /** Where a snapshot being written yields between slices; the host's by default. */
  readonly scheduler?: Scheduler;
}

/** Bytes of a snapshot written per turn of the event loop (about a millisecond of work). */
const snapshotSliceBytes = 1024 * 1024;


/** A snapshot being received from the leader straight into its file (receiveSnapshot). */
interface Receiving {
  readonly meta: SnapshotMeta;
  /** Null if it could not be opened (then `error` says why). */
  writer: SnapshotWriter | null;
  /** Bytes received (written unless `error`). */
  size: number;
  /** Bytes written since the last sync was started. */
  unsynced: number;
  /** Settles when every sync started so far is done; the first failure is kept in `error`. */
  synced: Promise<void>;
  error: unknown;
  isDiscarded: boolean;
}

/** RaftStorage over the real stores. */
export class NodeStorage implements RaftStorage {
  private isClosed = false;
  /** The snapshot the core is receiving (at most one), until persisted or discarded. */
  private receiving: Receiving | null = null;

  constructor(
    private readonly wal: Wal,
    private readonly stable: StableStore,
    private readonly snapshots: SnapshotStore,
    private nodeId: NodeId | null,
    private readonly scheduler: Scheduler = realScheduler,
  ) {}

  /** Lets the event loop run (requests, ticks) between slices of a snapshot being written. */
  private yieldTurn(): Promise<void> {
    return new Promise((resolve) => this.scheduler.defer(resolve));
  }

  /**
   * The snapshot (resetting the log below it), then the entries with one fdatasync for the
   * whole batch (group commit), and the hard state last. Nothing that depends on this Ready
   * leaves the node before all three are durable (the driver holds messagesAfterPersist),
   * so a crash part-way may lose any of them; the order decides what a restart can find:
   *
   * - Entries before the hard state: a brand-new node's first Ready holds the bootstrap
   *   configuration entry (1, term 1) and term 1. Saved the other way round, a crash between
   *   the two left a term with no configuration: the restart saw state, skipped bootstrap and
   *   stayed a follower of nobody. Now a durable term implies the entries of its Ready are
   *   durable too, and a crash before them leaves a node with no state that bootstraps again.
   * - Entries whose term is newer than the stored one (the hard state did not make it) are
   *   repaired by openStorage: currentTerm is raised to the newest term held, with no vote,
   *   which is safe because no vote or acknowledgement of this Ready was ever sent.
   */
  persist(hardState: HardState | null, snapshot: Snapshot | null, entries: readonly Entry[]): void {
    if (snapshot !== null) {
      this.receiving = null; // its temp directory is the one save() starts afresh
      this.snapshots.save(snapshot.meta, snapshot.data);
      this.wal.reset(snapshot.meta.lastIncludedIndex);
    }
    if (entries.length > 0) this.wal.appendDurably(entries);
    if (hardState !== null) this.stable.save({ hardState, nodeId: this.nodeId });
  }

  /**
   * persist() of entries alone, their fdatasync off the event loop: `done` runs once they
   * are durable. Nothing else may be persisted until then (the driver has one Ready out).
   */
  persistEntriesAsync(entries: readonly Entry[], done: (error: Error | null) => void): void {
    this.wal.append(entries);
    this.wal.syncAsync(done);
  }

  /**
   * Writes a locally taken snapshot (see writeSnapshot: slices, fsyncs off the loop), then
   * drops whole log segments at or below `compactIndex`, one per turn of the event loop, each
   * unlinked off the loop where the disk can (Wal.compactOneAsync); a crash part-way leaves
   * segments the snapshot covers, which a start drops.
   */
  async saveSnapshot(meta: SnapshotMeta, data: SnapshotBytes, compactIndex: LogIndex): Promise<void> {
    await this.writeSnapshot(meta, data);
    while (!this.isClosed && (await this.wal.compactOneAsync(compactIndex))) await this.yieldTurn();
  }

  /**
   * persist() of a Ready holding a snapshot received from the leader, with the snapshot
   * written as saveSnapshot writes a local one: a slice per turn of the event loop, every
   * fsync off the loop. Written whole in one call, a 289 MB snapshot (ten million keys) held
   * a follower's loop for seconds. The order and so the crash guarantees are persist()'s:
   * the snapshot durable and installed, then the log reset to it (a crash in between leaves
   * a log that does not continue the snapshot, which openStorage discards), then the
   * entries, then the hard state. The returned promise settles once all of it is durable;
   * nothing else may be persisted meanwhile (the driver keeps this Ready outstanding).
   */
  async persistSnapshotAsync(hardState: HardState | null, snapshot: Snapshot, entries: readonly Entry[]): Promise<void> {
    const rcv = this.receiving;
    if (rcv !== null && isSameSnapshot(rcv.meta, snapshot.meta)) {
      this.receiving = null;
      await this.finishReceived(rcv, snapshot.data.length);
    } else {
      await this.writeSnapshot(snapshot.meta, snapshot.data);
    }
    // The segments the snapshot covers are unlinked after, one per turn, off the loop.
    const covered = this.wal.resetDeferring(snapshot.meta.lastIncludedIndex);
    if (entries.length > 0) {
      this.wal.append(entries);
      await new Promise<void>((resolve, reject) => this.wal.syncAsync((e) => (e === null ? resolve() : reject(e))));
      if (this.isClosed) throw new Error("storage closed while a snapshot was being installed");
    }
    if (hardState !== null) this.stable.save({ hardState, nodeId: this.nodeId });
    for (const path of covered) {
      if (this.isClosed) return;
      await this.wal.removeForgotten(path);
      await this.yieldTurn();
    }
  }

  /**
   * RaftConfig.snapshotReceiver: each chunk the core accepts is written to the state file of
   * the snapshot's temp directory (the one persistSnapshotAsync then finishes in place), both
   * the write and a sync per slice off the loop, so a follower never holds the snapshot in its
   * heap: held there, ten million keys were one 289-336 MB buffer, freed at once (tens of ms
   * in one collection) after the install. The core's bytes() is the file mapped (read whole
   * where the disk cannot map: the simulator). Nothing here is durable until persisted: a
   * crash leaves a temp directory, which a start removes.
   */
  receiveSnapshot(meta: SnapshotMeta): SnapshotReceiver {
    const rcv: Receiving = { meta, writer: null, size: 0, unsynced: 0, synced: Promise.resolve(), error: null, isDiscarded: false };
    // Called inside the core's step, which must never be cut short: a disk error is kept and
    // thrown by persistSnapshotAsync, before "done" is sent (fail-stop there). Until then the
    // driver takes no other Ready, so nothing leaves this node meanwhile.
    const attempt = (op: () => void): void => {
      if (rcv.error !== null) return;
      try {
        op();
      } catch (e) {
        rcv.error = e ?? new Error("snapshot receive failed");
      }
    };
    attempt(() => this.receiving?.writer?.discard());
    this.receiving = rcv;
    attempt(() => (rcv.writer = this.snapshots.openWriter(meta)));
    const syncOne = async (): Promise<void> => {
      try {
        if (!rcv.isDiscarded && rcv.error === null) await rcv.writer!.syncAsync();
      } catch (e) {
        rcv.error ??= e;
      }
    };
    return {
      get size() {
        return rcv.size;
      },
      append: (chunk) => {
        // Written off the loop where the disk offers it: one chunk's write on the loop once
        // blocked it 215 ms in ext4 under load. Each sync below waits for the writes before it.
        // Its frame's buffer is lent again once written (raft/frame_bodies.ts): the chunk is a
        // view of a received frame that nothing else reads after the core's step.
        attempt(() => rcv.writer!.writeOffLoop(rcv.size, chunk, handBackFrame));
        rcv.size += chunk.length;
        rcv.unsynced += chunk.length;
        // Dirty pages flushed as they come: a write on the loop is never throttled by a
        // backlog of them, and the final sync has little left to do.
        if (rcv.unsynced >= snapshotSliceBytes) {
          rcv.unsynced = 0;
          rcv.synced = rcv.synced.then(syncOne);
        }
      },
      bytes: () => {
        let data: Uint8Array = new Uint8Array(0); // never used: persistSnapshotAsync throws the error first
        attempt(() => (data = rcv.writer!.written()));
        return data;
      },
      discard: () => {
        rcv.isDiscarded = true;
        if (this.receiving === rcv) this.receiving = null;
        try {
          rcv.writer?.discard();
        } catch {
          // a temp directory left behind is removed by the next start
        }
      },
    };
  }

  /** Makes a snapshot received through receiveSnapshot durable and installed in the store. */
  private async finishReceived(rcv: Receiving, size: number): Promise<void> {
    try {
      await rcv.synced;
      if (rcv.error !== null) throw rcv.error;
      if (rcv.size !== size) throw new Error(`received snapshot holds ${rcv.size} bytes, the core's ${size}`);
      if (this.isClosed) throw new Error("storage closed while a snapshot was being written");
      await rcv.writer!.finishAsync();
      if (this.isClosed) throw new Error("storage closed while a snapshot was being written");
    } catch (e) {
      rcv.writer?.abort();
      throw e;
    }
  }

  /**
   * Writes a snapshot durably a slice at a time, each slice synced off the event loop (a
   * whole large snapshot in one fsync would hold the disk for tens of milliseconds), then
   * installs it with its remaining fsyncs off the loop too: measured here, each blocking sync
   * stalled client requests and heartbeats by 10–50 ms while the WAL was busy. Pieces are
   * copied a slice at a time into one reused buffer (see snapshotSlices), never joined.
   */
  private async writeSnapshot(meta: SnapshotMeta, data: SnapshotBytes): Promise<void> {
    const writer = this.snapshots.openWriter(meta);
    try {
      for (const slice of snapshotSlices(data, snapshotSliceBytes)) {
        // Off the loop too (issue 18): a blocking 1 MiB write held a leader's loop 24-31 ms
        // while the other members flushed their snapshots to the same disk. The slice may be
        // the generator's reused buffer: syncAsync waits for the write before the next copy.
        writer.writeOffLoop(writer.size, slice);
        await writer.syncAsync();
        await this.yieldTurn();
        if (this.isClosed) throw new Error("storage closed while a snapshot was being written");
      }
      await writer.finishAsync();
      if (this.isClosed) throw new Error("storage closed while a snapshot was being written");
    } catch (e) {
      writer.abort();
      throw e;
    }
  }

  /**
   * The state of a stored snapshot as a file-backed view (null where files cannot be
   * mapped): what the core keeps to send InstallSnapshot, without holding the bytes in memory.
   */
  mapSnapshot(meta: SnapshotMeta): Uint8Array | null {
    return this.snapshots.mapped(meta);
  }

  /** Lets go of a snapshot's view that nobody holds any more (the start's restored one). */
  releaseSnapshotView(view: Uint8Array): void {
    this.snapshots.release(view);
  }

  /**
   * Recovery from lost quorum (raft/peers_recovery.ts): makes `meta` (a new membership at the
   * index and term of the last entry held) the newest snapshot, with the state `data()` builds,
   * then drops the whole log, durably, in that order. A stored snapshot at that very index and
   * term (a log holding nothing after it) only gets its meta replaced: its state is the same.
   */
  saveRecoverySnapshot(meta: SnapshotMeta, data: () => Uint8Array): void {
    const newest = this.snapshots.list().at(-1);
    if (newest?.lastIncludedIndex === meta.lastIncludedIndex && newest.lastIncludedTerm === meta.lastIncludedTerm) {
      this.snapshots.replaceMeta(meta);
    } else {
      this.snapshots.save(meta, data());
    }
    this.wal.reset(meta.lastIncludedIndex);
  }

  /** Records the node id with the current hard state (first start). */
  saveNodeId(nodeId: NodeId): void {
    this.nodeId = nodeId;
    this.stable.save({ hardState: this.stable.state.hardState, nodeId });
  }

  close(): void {
    this.isClosed = true;
    this.wal.close();
  }
}

/**
 * Opens every store and reconciles them. The log must continue the snapshot: entries
 * at or below the snapshot index are dropped (they are covered by it), and a gap between
 * the snapshot and the first entry is damage.
 */
export function openStorage(opts: OpenStorageOptions): Recovered {
  const paths = storagePaths(opts.dataDir);
  const stable = StableStore.open(opts.logDisk, paths.state);
  const snapshots = SnapshotStore.open(opts.snapshotDisk, paths.snapshots, opts.logger);
  const snapshot = snapshots.latest();
  const walOptions = {
    // Segments the snapshot covers are dropped unread: an interrupted removal may leave gaps there.
    ...(snapshot === null ? {} : { snapshotIndex: snapshot.meta.lastIncludedIndex }),
    ...(opts.segmentBytesMax === undefined ? {} : { segmentBytesMax: opts.segmentBytesMax }),
    ...(opts.walPreallocateBytes === undefined ? {} : { preallocateBytes: opts.walPreallocateBytes }),
    ...(opts.logger === undefined ? {} : { logger: opts.logger }), // what recovery cut, and why
  };
  const { wal, entries } = Wal.open(opts.logDisk, paths.wal, walOptions);
  let live: Entry[] = entries;
  if (snapshot !== null) {
    const snapIndex = snapshot.meta.lastIncludedIndex;
    live = entries.filter((e) => e.index > snapIndex);
    if (!logContinuesSnapshot(entries, snapshot.meta)) {
      // Figure 13: a log that does not hold the snapshot's last entry is another history
      // (an installed snapshot is saved before the log is reset: a crash in between leaves
      // both). Everything after the snapshot comes again from the leader.
      opts.logger?.warn(
        `wal: entries ${live[0]?.index ?? "-"}..${live[live.length - 1]?.index ?? "-"} do not continue the snapshot at ` +
          `index ${snapIndex} term ${snapshot.meta.lastIncludedTerm}; discarded (the leader sends them again)`,
      );
      live = [];
      wal.reset(snapIndex);
    }
    const first = live[0];
    if (first !== undefined && first.index !== snapIndex + 1) {
      throw new StorageDamageError(paths.wal, 0, `log resumes at index ${first.index} but the snapshot ends at ${snapIndex}`);
    }
    if (first === undefined && entries.length > 0 && entries[entries.length - 1]!.index < snapIndex) {
      // The whole log is older than the snapshot (e.g. crash after install): start afresh.
      wal.reset(snapIndex);
    } else if (first === undefined && entries.length === 0) {
      wal.reset(snapIndex);
    }
  }
  // A node's term can never be older than an entry it holds (§5.1). The stored term can lag
  // only with -inmem, where term and vote live in memory but snapshots reach the disk: start
  // from the newest term seen, with no vote cast in it.
  let hardState = stable.state.hardState;
  const newestTerm = Math.max(snapshot?.meta.lastIncludedTerm ?? 0, live[live.length - 1]?.term ?? 0);
  if (newestTerm > hardState.currentTerm) hardState = { currentTerm: newestTerm, votedFor: null };
  // Whether the node has state (so must not bootstrap): a term, an entry or a snapshot, as
  // hashicorp/raft's HasExistingState decides. A term alone counts on purpose: a node first
  // started with -join adopts a leader's term before any entry reaches it, and that leader may
  // already list it as a member; were it restarted without -join and allowed to bootstrap, it
  // would write its own entry (1, term 1) beside the cluster's different one and answer that
  // cluster with a newer term. A term alone can no longer be left by our own bootstrap being
  // cut short: persist() makes a Ready's entries durable before its hard state.
  const hasState = hardState.currentTerm > 0 || entries.length > 0 || snapshot !== null;
  const storage = new NodeStorage(wal, stable, snapshots, stable.state.nodeId, opts.scheduler);
  return { storage, initial: { hardState, snapshot, entries: live }, hasState, nodeId: stable.state.nodeId };
}

/**
 * The bootstrap decision: a node with no state (see openStorage) that was not told to join
 * starts a new cluster of `members` (itself alone, for the real server); any other node
 * waits for a leader, or rejoins from its own log.
 */
export function bootstrapMembership(hasState: boolean, isJoining: boolean, members: readonly Member[]): Membership | null {
  return !hasState && !isJoining ? { members: [...members] } : null;
}

/**
 * True if the log's entries after `snap` belong to the history the snapshot ends: the log's
 * entry at the snapshot's index has its term (Log Matching, §5.3), or, where the log no longer
 * holds that index, no entry after it has an older term (terms never decrease along a log).
 */
function logContinuesSnapshot(entries: readonly Entry[], snap: SnapshotMeta): boolean {
  const at = entries.find((e) => e.index === snap.lastIncludedIndex);
  if (at !== undefined) return at.term === snap.lastIncludedTerm;
  return entries.every((e) => e.index <= snap.lastIncludedIndex || e.term >= snap.lastIncludedTerm);
}

/** The membership the node starts from, for the driver's snapshot bookkeeping. */
export function startMeta(snapshot: Snapshot | null, bootstrap: Membership | null): SnapshotMeta {
  if (snapshot !== null) return snapshot.meta;
  return { lastIncludedIndex: 0, lastIncludedTerm: 0, membership: bootstrap ?? { members: [] } };
}

function isSameSnapshot(a: SnapshotMeta, b: SnapshotMeta): boolean {
  return a.lastIncludedIndex === b.lastIncludedIndex && a.lastIncludedTerm === b.lastIncludedTerm;
}
