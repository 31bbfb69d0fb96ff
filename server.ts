// Runs one hraftd node: opens storage, builds the Raft core and its driver, the TCP
// transport, the store and the HTTP API, bootstraps or joins, and shuts down on signals.

import { mkdirSync } from "node:fs";
import type { Config } from "./flags.ts";
import { timingTicks } from "./flags.ts";
import { parseHostPort as parseHttpAddr } from "./http/address.ts";
import { createFetch } from "./http/fast_fetch.ts";
import { serve } from "./http/serve.ts";
import { createRaft, createRng } from "./raft/core/mod.ts";
import type { Membership, SoftState } from "./raft/core/mod.ts";
import { createFsDisk } from "./raft/disk.ts";
import { DirLockError, type DirLock, lockDataDir } from "./raft/dir_lock.ts";
import { type Envelope, decodeEnvelope, encodeEnvelope } from "./raft/envelope.ts";
import type { Logger } from "./raft/host.ts";
import { MemDisk } from "./raft/mem_disk.ts";
import { RaftNode } from "./raft/node.ts";
import { bootstrapMembership, openStorage, startMeta } from "./raft/storage.ts";
import { realClock } from "./raft/real_time.ts";
import { createTicker } from "./raft/ticker.ts";
import { createTcpTransport } from "./raft/transport.ts";
import { type StoreMessage, parseStoreMessage, storeMessageValue } from "./store/forward.ts";
import { KvStateMachine } from "./store/state_machine.ts";
import { Store } from "./store/store.ts";
import { runtimeGcHint, startIdleGc } from "./idle_gc.ts";
import { joinCluster } from "./join.ts";
import { MembershipLog } from "./membership_log.ts";
import { checkBeforeStart, raftListenMessage, StartError } from "./start_checks.ts";

/** Zeros the WAL writes ahead of its records at a time (one extra journal commit per MiB). */
const walPreallocateBytes = 1024 * 1024;

/** An error the user can act on: printed without a stack, exit status 1. */
export { StartError };

/** A running node, for tests and for shutdown. */
export interface RunningNode {
  readonly store: Store;
  readonly node: RaftNode;
  stop(): Promise<void>;
}

/** Log lines on stderr, one per significant event, with a UTC timestamp. */
export function stderrLogger(): Logger {
  const line = (level: string, text: string): void => {
    process.stderr.write(`${new Date().toISOString()} [${level}] ${text}\n`);
  };
  return {
    info: (t) => line("INFO", t),
    warn: (t) => line("WARN", t),
    error: (t) => line("ERROR", t),
  };
}

/** Starts a node as configured by the flags; resolves once it serves HTTP (and has joined). */
export async function startNode(config: Config, log: Logger = stderrLogger()): Promise<RunningNode> {
  // Addresses, ports and the data directory's path, before anything is created, locked or
  // stamped with an id: a refused start leaves nothing behind (start_checks.ts).
  await checkBeforeStart(config);
  // One process per data directory: locked before anything in it is read (raft/dir_lock.ts).
  let dirLock: DirLock;
  try {
    dirLock = lockDataDir(config.dataDir);
  } catch (e) {
    throw e instanceof DirLockError ? new StartError(e.message) : e;
  }
  mkdirSync(config.dataDir, { recursive: true });
  const fsDisk = createFsDisk();
  const recovered = openStorage({
    logDisk: config.inmem ? new MemDisk() : fsDisk,
    snapshotDisk: fsDisk,
    dataDir: config.dataDir,
    // Syncs that overwrite zeros already on disk are faster than appends (raft/wal.ts).
    walPreallocateBytes: config.inmem ? 0 : walPreallocateBytes,
  });
  const { storage, initial, hasState } = recovered;
  if (recovered.nodeId !== null && recovered.nodeId !== config.nodeId) {
    throw new StartError(
      `data directory ${config.dataDir} belongs to node "${recovered.nodeId}", not "${config.nodeId}"; use -id ${recovered.nodeId} or another directory`,
    );
  }
  if (recovered.nodeId === null) storage.saveNodeId(config.nodeId);

  const bootstrap: Membership | null = bootstrapMembership(hasState, config.joinAddr !== "", [
    { id: config.nodeId, addr: config.raftAddr, suffrage: "voter" },
  ]);
  const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
  // 64 random bits, new in every process: in every read context and forwarded request id.
  const incarnation = [...crypto.getRandomValues(new Uint32Array(2))].map((n) => n.toString(16).padStart(8, "0")).join("");
  const { electionTicks, heartbeatTicks } = timingTicks(config);
  const sm = new KvStateMachine();
  if (initial.snapshot !== null) sm.restore(initial.snapshot.data);
  // The bytes just read (and checksummed) are dropped: the core keeps a file-backed view.
  const heldSnapshot = initial.snapshot === null
    ? null
    : { meta: initial.snapshot.meta, data: storage.mapSnapshot(initial.snapshot.meta) ?? initial.snapshot.data };
  const core = createRaft(
    { id: config.nodeId, electionTicks, heartbeatTicks, rng: createRng(seed) },
    { ...initial, snapshot: heldSnapshot, bootstrap },
  );
  log.info(
    `node ${config.nodeId} starting (raft ${config.raftAddr}, http ${config.httpAddr}, ` +
      `${hasState ? "existing state" : bootstrap !== null ? "bootstrapping a new cluster" : "joining"}, seed ${seed})`,
  );

  // Node ids to addresses: the membership first, then whatever a peer told us it is.
  const learnedAddrs = new Map<string, string>();
  const addrOf = (id: string): string | undefined =>
    core.status().members.find((m) => m.id === id)?.addr ?? learnedAddrs.get(id);

  let store: Store | null = null;
  let node: RaftNode | null = null;
  const transport = createTcpTransport<Envelope>({
    listenAddr: config.raftAddr,
    encode: encodeEnvelope,
    decode: decodeEnvelope,
    logger: (l) => log.warn(l),
    // A restarted peer should hear from us within a few heartbeats, not after a long
    // backoff: redialling a dead address every quarter second costs next to nothing.
    dialBackoffMaxMs: 250,
    onMessage: (env) => {
      if (env.kind === "raft") {
        if (!learnedAddrs.has(env.msg.from)) learnedAddrs.set(env.msg.from, env.fromAddr);
        node?.receive(env.msg);
        return;
      }
      const msg = parseStoreMessage(env.payload);
      if (msg === null) log.warn(`malformed store message from ${env.fromAddr}; dropped`);
      else store?.receive(env.fromAddr, msg);
    },
  });
  try {
    await transport.listen();
  } catch (e) {
    // Taken since checkBeforeStart looked: the same one line, and nothing left open.
    storage.close();
    dirLock.release();
    throw new StartError(raftListenMessage(config.raftAddr, (e as Error).cause ?? e));
  }

  const sendTo = (addr: string, msg: StoreMessage): boolean => {
    return transport.send(addr, { kind: "store", fromAddr: config.raftAddr, payload: storeMessageValue(msg) });
  };
  const theStore = new Store({ id: config.nodeId, raftAddr: config.raftAddr, incarnation, stateMachine: sm, sendTo, requestTimeoutMs: 10_000 });
  store = theStore;

  let lastSoft: SoftState | null = null;
  // The membership once as recovered, then only changes (not every replayed config entry).
  const membershipLog = new MembershipLog(log, config.nodeId);
  membershipLog.recovered(core.status().members);
  const theNode = new RaftNode({
    core,
    storage,
    stateMachine: {
      apply: (entry) => sm.apply(entry.data),
      snapshot: () => sm.snapshotAsync(),
      restore: (data) => sm.restore(data),
    },
    send: (msg) => {
      const addr = addrOf(msg.to);
      if (addr !== undefined) transport.send(addr, { kind: "raft", fromAddr: config.raftAddr, msg });
    },
    flush: () => transport.flush(),
    events: {
      applied: (entry) => {
        if (entry.membership !== undefined) membershipLog.applied(entry.membership, core.status().members);
        theStore.applied(entry);
      },
      readState: (r) => theStore.readState(r),
      readDropped: (ctx) => theStore.readDropped(ctx),
      softState: (s) => {
        if (lastSoft === null || lastSoft.leader !== s.leader || lastSoft.role !== s.role) {
          log.info(`${s.role} in term ${s.term}; leader ${s.leader ?? "unknown"}`);
        }
        lastSoft = s;
        membershipLog.softState(s);
        theStore.softState(s);
      },
      restored: (meta) => theStore.restored(meta.lastIncludedIndex),
    },
    scheduler: { defer: (fn) => setImmediate(fn) },
    beforeReady: () => theStore.flushReads(),
    logger: log,
    snapshotThresholdEntries: config.snapshotThresholdEntries,
    snapshotTrailingEntries: config.snapshotTrailingEntries,
    start: startMeta(initial.snapshot, bootstrap),
    startSnapshotBytes: initial.snapshot?.data.length ?? 0,
    // Fail-stop: after a storage or invariant failure the node must not keep serving.
    onFatal: () => process.exit(70),
    // Leader-level reads under a lease, timed on the monotonic clock (raft/lease.ts).
    lease: { clock: realClock, tickMs: config.tickMs, electionTicks },
  });
  node = theNode;
  theStore.attach(theNode, initial.snapshot?.meta.lastIncludedIndex ?? 0);
  const ticker = createTicker(config.tickMs);
  ticker.start(() => theNode.tick());
  const gcHint = runtimeGcHint();
  const idleGc = gcHint === null
    ? null
    : startIdleGc({
      periodMs: 500,
      // A local snapshot finishing after the last write leaves its garbage too: count it.
      progress: () => {
        const s = theNode.core.status();
        return s.lastApplied + s.snapshotIndex;
      },
      collect: gcHint,
    });
  // Kick the core once so a single-voter cluster elects itself without waiting for a tick.
  theNode.withCore(() => undefined);

  const http = parseHttpAddr(config.httpAddr);
  const handler = createFetch(theStore, { bodyBytesMax: config.bodyBytesMax });
  let server;
  try {
    server = await serve({ hostname: http.hostname, port: http.port, fetch: handler });
  } catch (e) {
    ticker.stop();
    idleGc?.stop();
    theNode.stop();
    await transport.close();
    throw new StartError((e as Error).message);
  }
  log.info(`serving HTTP on ${config.httpAddr}`);

  let isStopped = false;
  const stop = async (): Promise<void> => {
    if (isStopped) return;
    isStopped = true;
    ticker.stop();
    idleGc?.stop();
    theNode.stop();
    theStore.close();
    await server.close();
    await transport.close();
    storage.close();
    dirLock.release();
  };

  if (config.joinAddr !== "") {
    const joining = joinCluster({
      joinAddr: config.joinAddr,
      id: config.nodeId,
      raftAddr: config.raftAddr,
      log,
      deadlineMs: config.joinTimeoutMs,
    });
    if (hasState) {
      // A restarted member already has its configuration and runs meanwhile; the join is
      // only a harmless reassertion, and its failure is worth a line, not an exit.
      joining.catch((e: Error) => log.warn(`${e.message}; continuing with the membership in this node's own log`));
    } else {
      try {
        await joining;
      } catch (e) {
        await stop();
        throw new StartError((e as Error).message);
      }
    }
  }
  return { store: theStore, node: theNode, stop };
}
