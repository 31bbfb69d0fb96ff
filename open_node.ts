// The one place a node is assembled: storage recovered from its disks, the Raft core and its
// driver, the transport, the store and the HTTP handler, wired together from the seams it is
// given. server.ts calls it with the real disk, TCP and timers; the simulator (tests/sim/world)
// calls it with simulated ones, so both run the very same driver, WAL, stable store, snapshot
// store, codec, state machine and store (DESIGN "One house, assembled once").

import { createFetch, type FetchHandler } from "./http/fast_fetch.ts";
import type { OpsDeps } from "./http/ops_deps.ts";
import { createRaft, createRng, nodeId } from "./raft/core/mod.ts";
import type { Entry, Member, Membership, RaftCore } from "./raft/core/mod.ts";
import type { Envelope } from "./raft/envelope.ts";
import type { Clock, Disk, Logger, Scheduler, Ticker, Timers, Transport } from "./raft/host.ts";
import { RaftNode } from "./raft/node.ts";
import { loneSyncOnLoopBytesMaxDefault, type NodeEvents } from "./raft/node_options.ts";
import { applyPeersFile } from "./raft/peers_recovery.ts";
import { bootstrapMembership, openStorage, type NodeStorage, type Recovered, startMeta, storagePaths } from "./raft/storage.ts";
import { ElectionLog } from "./election_log.ts";
import { MembershipLog } from "./membership_log.ts";
import { NodeMetrics } from "./metrics/node_metrics.ts";
import { timedStorage } from "./metrics/timed_storage.ts";
import { timedWalDisk } from "./metrics/timed_wal_disk.ts";
import { loadUsersFile } from "./security/auth_file.ts";
import { Authenticator, bunVerify, type VerifyPassword } from "./security/authenticator.ts";
import { permsText } from "./security/permissions.ts";
import { StartError } from "./start_checks.ts";
import { parseStoreMessage, type StoreMessage, storeMessageValue } from "./store/forward.ts";
import { KvStateMachine } from "./store/state_machine.ts";
import { Store } from "./store/store.ts";
import { uiAssets } from "./ui/assets.ts";
import { ClusterView } from "./view/cluster_view.ts";
import { FollowerTracker } from "./view/follower_tracker.ts";
import { isProbeValue, parseProbeMessage, probeMessageValue } from "./view/probe_message.ts";
import { snapshotNoted } from "./view/snapshot_noted.ts";
import { Timeline } from "./view/timeline.ts";
import { TimelineFeed } from "./view/timeline_feed.ts";

export { StartError };

/** Everything outside the process's own memory that a node touches. */
export interface NodeSeams {
  /** Disk for the log and stable state (a MemDisk for -inmem). */
  readonly logDisk: Disk;
  /** Disk for snapshots (always the real one, as hraftd keeps snapshots with -inmem). */
  readonly snapshotDisk: Disk;
  /**
   * Builds the transport on `raftAddr` that hands every decoded envelope to `onMessage`, and
   * (if it has connections) the last envelope of each inbound connection that closes to
   * `onInboundClosed`.
   */
  readonly openTransport: (onMessage: (env: Envelope) => void, onInboundClosed?: (last: Envelope) => void) => Transport<Envelope>;
  readonly clock: Clock;
  /** Wall-clock time for the stamps of once-only writes (store/sessions.ts); default `clock`. */
  readonly wallClock?: Clock;
  readonly timers: Timers;
  readonly scheduler: Scheduler;
  readonly ticker: Ticker;
  /** Uniform random 32-bit integers: the core's seed and the process incarnation. */
  readonly random: () => number;
  readonly logger: Logger;
  /** The node stopped on a storage or invariant failure (the real process exits). */
  readonly onFatal: (error: unknown) => void;
  /** Optional tap on every applied entry (the simulator's safety checker). */
  readonly observer?: { applied(entry: Entry, result?: unknown): void };
  /**
   * The slow password check of -auth (Bun.password.verify by default). Tests pass one that
   * counts its calls, or answers without the thread pool so simulated time can drive it.
   */
  readonly verifyPassword?: VerifyPassword;
}

/** What the node is, from its flags. */
export interface NodeSettings {
  readonly nodeId: string;
  /** The advertised Raft address (checked by the caller: it has a host and a port). */
  readonly raftAddr: string;
  readonly dataDir: string;
  /** True when the node was started with -join: it never bootstraps a cluster of its own. */
  readonly isJoining: boolean;
  readonly electionTicks: number;
  /** Milliseconds per tick; given, leader-level reads may be served under a lease (raft/lease.ts). */
  readonly tickMs?: number;
  readonly heartbeatTicks: number;
  readonly snapshotThresholdEntries: number;
  readonly snapshotTrailingEntries: number;
  /** Ticks between local snapshots at least (-snapshot-interval; raft/snapshot_policy.ts); absent: none. */
  readonly snapshotIntervalTicks?: number;
  readonly walPreallocateBytes: number;
  /** WAL segment size past which a new segment starts; the WAL's default when absent (the simulator sets small ones). */
  readonly walSegmentBytesMax?: number;
  readonly requestTimeoutMs: number;
  readonly bodyBytesMax: number;
  /**
   * The members a brand-new node bootstraps with; default itself alone (what the real server
   * does). The simulator bootstraps several voters at once.
   */
  readonly bootstrapMembers?: readonly Member[];
  /**
   * -auth: the users file (security/auth_file.ts); absent or "" for none, and then no request
   * is checked (hraftd's behaviour). A file that cannot be used fails the start (StartError).
   */
  readonly authFile?: string;
  /**
   * True when the Raft transport authenticates its peers (mutual TLS: -node-cert, -node-key,
   * -node-ca-cert). Only then does the leader trust the user a forwarded request names; else
   * it gives forwarded requests the permissions of the "*" user. Default false.
   */
  readonly peersAuthenticated?: boolean;
  /** The build's version text, for /status and /metrics (main.ts versionText). */
  readonly version?: string;
  /** This node's HTTP address (-haddr): GET /leader gives it when this node leads. */
  readonly httpAddr?: string;
  /** When the process started, on the seams' clock (ms): /status's uptime; default the open. */
  readonly startedAtMs?: number;
}

/** An assembled node; `start` brings it to life, `stop` ends it. */
export interface OpenedNode {
  readonly node: RaftNode;
  readonly store: Store;
  readonly storage: NodeStorage;
  readonly fetch: FetchHandler;
  /** True if the data directory held Raft state (so bootstrap was skipped). */
  readonly hasState: boolean;
  /** Process incarnation: never the same in two processes (it is in every request id). */
  readonly incarnation: string;
  /** Listens on the transport, starts the ticker and kicks the core once. */
  start(): Promise<void>;
  /** Stops ticks, the driver, the store and the transport, then closes storage. */
  stop(): Promise<void>;
}

/** Assembles a node from its settings and seams; reads (and on first start, stamps) its storage. */
export function openNode(settings: NodeSettings, seams: NodeSeams): OpenedNode {
  const log = seams.logger;
  // Before storage is touched: a users file that cannot be used leaves the data directory as it was.
  const auth = openAuth(settings, seams);
  // Metrics (GET /metrics) see the WAL's fsyncs through its disk, and the rest through the
  // closures below; they read role, term and indexes from the node when scraped.
  const metrics = new NodeMetrics({ clock: seams.clock, timers: seams.timers, ...(settings.version === undefined ? {} : { version: settings.version }) });
  const walDir = storagePaths(settings.dataDir).wal;
  const r = recoverNode(settings, { ...seams, logDisk: timedWalDisk(seams.logDisk, walDir, seams.clock, (s) => metrics.walFsynced(s)) });
  // Node ids to addresses: the membership first, then whatever a peer told us it is.
  const learnedAddrs = new Map<string, string>();
  const addrOf = (id: string): string | undefined =>
    r.core.status().members.find((m) => m.id === id)?.addr ?? learnedAddrs.get(id);
  let node: RaftNode | null = null;
  let store: Store | null = null;
  // The cluster view (issue 17): its tracker reads received messages only while a probe armed it.
  const wallClock = seams.wallClock ?? seams.clock;
  const tracker = new FollowerTracker(seams.clock, seams.timers);
  const timeline = new Timeline();
  let view: ClusterView | null = null;
  const transport = seams.openTransport((env) => {
    if (env.kind === "raft") {
      if (!learnedAddrs.has(env.msg.from)) learnedAddrs.set(env.msg.from, env.fromAddr);
      metrics.raftReceived(env.msg);
      if (tracker.isArmed) tracker.received(env.msg);
      node?.receive(env.msg);
      return;
    }
    if (isProbeValue(env.payload)) {
      const probe = parseProbeMessage(env.payload);
      if (probe === null) log.warn(`malformed cluster view probe from ${env.fromAddr}; dropped`);
      else view?.receive(env.fromAddr, probe);
      return;
    }
    const msg = parseStoreMessage(env.payload);
    if (msg === null) log.warn(`malformed store message from ${env.fromAddr}; dropped`);
    else {
      metrics.storeReceived(msg);
      store?.receive(env.fromAddr, msg);
    }
  }, (last) => {
    // A peer's process ended (or its connection was re-dialled): a follower whose leader it
    // was campaigns without waiting out the whole election timeout (raft/core/election.ts).
    if (last.kind === "raft") node?.leaderDisconnected(last.msg.from);
  });
  const theStore = new Store({
    id: settings.nodeId,
    raftAddr: settings.raftAddr,
    incarnation: r.incarnation,
    timers: seams.timers,
    clock: seams.clock,
    ...(seams.wallClock === undefined ? {} : { wallClock: seams.wallClock }),
    stateMachine: r.sm,
    sendTo: (addr: string, msg: StoreMessage): boolean => {
      const queued = transport.send(addr, { kind: "store", fromAddr: settings.raftAddr, payload: storeMessageValue(msg) });
      metrics.storeSent(msg, queued);
      return queued;
    },
    requestTimeoutMs: settings.requestTimeoutMs,
    // How long a leadership handoff may take (the core gives up after one election timeout).
    election: { electionTicks: settings.electionTicks, tickMs: settings.tickMs ?? 10 },
    // /status: version and uptime (health is the store's own checks).
    ...(settings.version === undefined ? {} : { version: settings.version }),
    startedAtMs: settings.startedAtMs ?? seams.clock.now(),
    ...(auth === null ? {} : { auth: { permsOf: (user) => auth.permsOf(user), peersAuthenticated: settings.peersAuthenticated ?? false } }),
  });
  store = theStore;
  const timelineFeed = new TimelineFeed(timeline, { id: settings.nodeId, clock: seams.clock, wallClock });
  const theNode = new RaftNode({
    core: r.core,
    storage: timedStorage(
      snapshotNoted(r.storage, seams.clock, (meta, bytes, ms) => timelineFeed.snapshotTaken(meta, bytes, ms)),
      seams.clock,
      (seconds, bytes) => metrics.snapshotSaved(seconds, bytes),
    ),
    stateMachine: {
      // The index is the version of every key the entry writes (ETag, If-Match).
      apply: (entry) => r.sm.apply(entry.data, entry.index),
      // Pauses between chunks go through the timer seam, so simulated nodes pause in simulated time.
      // Its pieces go to the disk unjoined (raft/snapshot_bytes.ts).
      snapshot: () => r.sm.snapshotPieces(() => new Promise((resolve) => seams.timers.setTimeout(resolve, 0))),
      restore: (data) => r.sm.restore(data),
      // A snapshot from the leader is decoded a chunk (1,024 pairs) per turn, through the
      // scheduler seam: in one turn, ten million keys held a follower's loop for seconds.
      restoreAsync: (data) => r.sm.restoreAsync(data, () => new Promise((resolve) => seams.scheduler.defer(resolve))),
    },
    send: (msg) => {
      const addr = addrOf(msg.to);
      const queued = addr !== undefined && transport.send(addr, { kind: "raft", fromAddr: settings.raftAddr, msg });
      metrics.raftSent(msg, queued);
    },
    flush: () => transport.flush(),
    events: nodeEvents(settings.nodeId, r.core, theStore, seams, metrics, timelineFeed),
    scheduler: seams.scheduler,
    requests: { timers: seams.timers, timeoutMs: settings.requestTimeoutMs, incarnation: r.incarnation, counts: metrics.requestCounts },
    logger: log,
    snapshotThresholdEntries: settings.snapshotThresholdEntries,
    snapshotTrailingEntries: settings.snapshotTrailingEntries,
    loneSyncOnLoopBytesMax: loneSyncOnLoopBytesMaxDefault,
    syncClock: seams.clock, // a slow sync on the loop sends the next ones off it (raft/loop_sync.ts)
    // The interval's jitter parts the members, which apply the same entries (snapshot_policy.ts).
    ...(settings.snapshotIntervalTicks === undefined ? {} : { snapshotIntervalTicks: settings.snapshotIntervalTicks, random: seams.random }),
    start: startMeta(r.initial.snapshot, r.bootstrap),
    startSnapshotBytes: r.initial.snapshot?.data.length ?? 0,
    onFatal: seams.onFatal,
    ...(settings.tickMs === undefined ? {} : { lease: { clock: seams.clock, tickMs: settings.tickMs } }),
  });
  node = theNode;
  theStore.attach(theNode);
  metrics.attach(theNode);
  const theView = new ClusterView({
    id: settings.nodeId,
    raftAddr: settings.raftAddr,
    httpAddr: settings.httpAddr ?? null,
    incarnation: r.incarnation,
    status: () => theNode.status(),
    entries: () => r.core.entries(),
    send: (addr, msg) => transport.send(addr, { kind: "store", fromAddr: settings.raftAddr, payload: probeMessageValue(msg) }),
    timeline,
    tracker,
    // Rates from the HTTP histograms the node keeps anyway: writes are POST /key and DELETE /key/<k>.
    writes: () => [metrics.http.latency("/key", "POST"), metrics.http.latency("/key/:k", "DELETE")],
    reads: () => [metrics.http.latency("/key/:k", "GET")],
    timers: seams.timers,
    clock: seams.clock,
    wallClock,
    scheduler: seams.scheduler,
  });
  view = theView;
  const ops: OpsDeps = {
    ...(settings.version === undefined ? {} : { version: settings.version }),
    metrics,
    ...(settings.httpAddr === undefined ? {} : { httpAddr: settings.httpAddr }),
    ui: { view: theView, assets: uiAssets },
  };
  const fetch = createFetch(theStore, { bodyBytesMax: settings.bodyBytesMax, ops, ...(auth === null ? {} : { auth }) });
  const opened = running(theNode, theStore, r, transport, seams, fetch);
  // The lag sampler's timer (started by the first scrape) ends with the node.
  return {
    ...opened,
    async stop(): Promise<void> {
      metrics.stop();
      theView.close();
      await opened.stop();
    },
  };
}

/** The Authenticator of -auth, or null without it; StartError for a file that cannot be used. */
function openAuth(settings: NodeSettings, seams: NodeSeams): Authenticator | null {
  const file = settings.authFile ?? "";
  if (file === "") return null;
  let auth: Authenticator;
  try {
    const log = seams.logger;
    auth = new Authenticator(loadUsersFile(file), {
      verify: seams.verifyPassword ?? bunVerify(),
      // Bun's message names the hash's problem, never the password.
      checkFailed: (e) => log.warn(`a password check failed: ${e instanceof Error ? e.message : String(e)}`),
    });
  } catch (e) {
    // AuthFileError (one line naming the file), or Bun.password missing (under Deno).
    if (e instanceof Error) throw new StartError(e.message);
    throw e;
  }
  seams.logger.info(`authentication on: ${auth.userCount} users (without credentials: ${permsText(auth.anonymousPerms)})`);
  if (settings.peersAuthenticated !== true) {
    seams.logger.warn(
      `requests forwarded by other nodes get only the permissions of "*": the Raft transport does not authenticate peers (give -node-cert, -node-key and -node-ca-cert)`,
    );
  }
  return auth;
}

/** What recovery gives the rest of the assembly. */
interface RecoveredNode {
  readonly storage: NodeStorage;
  readonly initial: Recovered["initial"];
  readonly hasState: boolean;
  readonly bootstrap: Membership | null;
  readonly sm: KvStateMachine;
  readonly core: RaftCore;
  readonly incarnation: string;
}

/**
 * Opens storage (recovering the log, state and newest snapshot), checks and stamps the node
 * id, decides on bootstrap, restores the state machine and builds the core.
 */
function recoverNode(settings: NodeSettings, seams: NodeSeams): RecoveredNode {
  const log = seams.logger;
  const storageOptions = {
    logDisk: seams.logDisk,
    snapshotDisk: seams.snapshotDisk,
    dataDir: settings.dataDir,
    walPreallocateBytes: settings.walPreallocateBytes,
    ...(settings.walSegmentBytesMax === undefined ? {} : { segmentBytesMax: settings.walSegmentBytesMax }),
    logger: log,
    // A snapshot being written yields through the node's turns: in the simulator, its turns.
    scheduler: seams.scheduler,
  };
  // Recovery from lost quorum: a peers.json in the data directory is applied, then consumed.
  const recovered = applyPeersFile(openStorage(storageOptions), () => openStorage(storageOptions), {
    disk: seams.snapshotDisk,
    dataDir: settings.dataDir,
    self: settings.nodeId,
    logger: log,
    rebuildState: stateAfter,
  });
  const { storage, initial, hasState } = recovered;
  // The flag's id, checked by the caller (flags.ts), becomes the core's NodeId here, once.
  const self = nodeId(settings.nodeId);
  if (recovered.nodeId !== null && recovered.nodeId !== self) {
    storage.close();
    throw new StartError(
      `data directory ${settings.dataDir} belongs to node "${recovered.nodeId}", not "${settings.nodeId}"; use -id ${recovered.nodeId} or another directory`,
    );
  }
  if (recovered.nodeId === null) storage.saveNodeId(self);
  const bootstrap = bootstrapMembership(
    hasState,
    settings.isJoining,
    settings.bootstrapMembers ?? [{ id: self, addr: settings.raftAddr, suffrage: "voter" }],
  );
  const seed = seams.random();
  const incarnation = incarnationOf(seams.random);
  const sm = new KvStateMachine();
  if (initial.snapshot !== null) sm.restore(initial.snapshot.data);
  // The bytes just read (and checksummed) are dropped: the core keeps a file-backed view
  // none of whose pages were read. The restored view goes at once (Disk.unmapFile): left to
  // the collector, its pages (the whole state) stayed resident until a full collection.
  const heldSnapshot = initial.snapshot === null
    ? null
    : { meta: initial.snapshot.meta, data: storage.mapSnapshot(initial.snapshot.meta) ?? initial.snapshot.data };
  if (initial.snapshot !== null && heldSnapshot!.data !== initial.snapshot.data) storage.releaseSnapshotView(initial.snapshot.data);
  const core = createRaft(
    {
      id: self, electionTicks: settings.electionTicks, heartbeatTicks: settings.heartbeatTicks, rng: createRng(seed),
      // A snapshot from the leader goes to its file as it arrives, never whole into the heap.
      snapshotReceiver: (meta) => storage.receiveSnapshot(meta),
    },
    { ...initial, snapshot: heldSnapshot, bootstrap },
  );
  log.info(
    `node ${settings.nodeId} starting (raft ${settings.raftAddr}, ` +
      `${hasState ? "existing state" : bootstrap !== null ? "bootstrapping a new cluster" : "joining"}, seed ${seed}, incarnation ${incarnation})`,
  );
  return { storage, initial: { ...initial, snapshot: heldSnapshot }, hasState, bootstrap, sm, core, incarnation };
}

/** The state machine's snapshot of `snapshot` with every normal entry of `entries` applied. */
function stateAfter(snapshot: Uint8Array | null, entries: readonly Entry[]): Uint8Array {
  const sm = new KvStateMachine();
  if (snapshot !== null) sm.restore(snapshot);
  for (const entry of entries) if (entry.kind === "normal") sm.apply(entry.data, entry.index);
  return sm.snapshot();
}

/** The driver's events: the store, the membership log and role changes in the log, the observer. */
function nodeEvents(nodeId: string, core: RaftCore, store: Store, seams: NodeSeams, metrics: NodeMetrics, timeline: TimelineFeed): NodeEvents {
  const log = seams.logger;
  // One line per election outcome; the steps between at debug level (election_log.ts).
  const electionLog = new ElectionLog(log, nodeId);
  // The membership once as recovered, then only changes (not every replayed config entry).
  const membershipLog = new MembershipLog(log, nodeId, (text) => timeline.membership(text));
  membershipLog.recovered(core.status().members);
  return {
    applied: (entry, result) => {
      seams.observer?.applied(entry, result);
      if (entry.membership !== undefined) membershipLog.applied(entry.membership, core.status().members);
      store.applied(entry);
    },
    softState: (s) => {
      electionLog.softState(s);
      metrics.softState(s);
      membershipLog.softState(s);
      timeline.softState(s);
      store.softState(s);
    },
    restored: (meta) => timeline.snapshotInstalled(meta),
  };
}

/** The assembled node's handle: start listening and ticking, stop everything in order. */
function running(
  node: RaftNode,
  store: Store,
  r: RecoveredNode,
  transport: Transport<Envelope>,
  seams: NodeSeams,
  fetch: FetchHandler,
): OpenedNode {
  let isStarted = false;
  let isStopped = false;
  return {
    node,
    store,
    storage: r.storage,
    fetch,
    hasState: r.hasState,
    incarnation: r.incarnation,
    async start(): Promise<void> {
      if (isStarted) return;
      isStarted = true;
      await transport.listen();
      seams.ticker.start(() => node.tick());
      // Kick the core once so a single-voter cluster elects itself without waiting for a tick.
      node.wake();
    },
    async stop(): Promise<void> {
      if (isStopped) return;
      isStopped = true;
      seams.ticker.stop();
      node.stop();
      store.close();
      await transport.close();
      r.storage.close();
    },
  };
}

/**
 * 64 random bits as 16 hex digits. Request ids and read contexts carry it, so a restarted
 * process can never take a reply meant for its previous life as its own.
 */
function incarnationOf(random: () => number): string {
  const hex = (n: number): string => (n >>> 0).toString(16).padStart(8, "0");
  return hex(random()) + hex(random());
}
