// Runs one hraftd node for real: checks the flags' addresses and TLS files, locks the data
// directory, then assembles the node with openNode (open_node.ts) from the real seams (node:fs
// disk, TCP or TLS, timers, the monotonic clock), serves HTTP or HTTPS, joins if asked, and
// shuts down on request. Certificate files are re-read every second: a rotated certificate
// reaches new connections without a restart (security/cert_files.ts).

import { mkdirSync } from "node:fs";
import { parseHostPort } from "./address.ts";
import type { Config } from "./flags.ts";
import { snapshotIntervalTicks, timingTicks } from "./flags.ts";
import { serve, type ServerHandle } from "./http/serve.ts";
import { createFsDisk } from "./raft/disk.ts";
import { DirLockError, type DirLock, lockDataDir } from "./raft/dir_lock.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "./raft/envelope.ts";
import type { Logger } from "./raft/host.ts";
import { MemDisk } from "./raft/mem_disk.ts";
import type { RaftNode } from "./raft/node.ts";
import { realClock, realScheduler, realTimers, realWallClock } from "./raft/real_time.ts";
import { createTicker } from "./raft/ticker.ts";
import { createTcpTransport } from "./raft/transport.ts";
import type { Store } from "./store/store.ts";
import { runtimeGcHint, startIdleGc } from "./idle_gc.ts";
import { joinCluster, type JoinOptions } from "./join.ts";
import { createLogger } from "./log.ts";
import { openNode, type OpenedNode } from "./open_node.ts";
import { restoreBackup } from "./restore.ts";
import { type TlsFiles, type TlsMaterial, watchTlsFiles, type WatchedTls } from "./security/cert_files.ts";
import { joinPasswordEnv } from "./security/security_flags.ts";
import { checkBeforeStart, httpTlsFiles, nodeTlsFiles, raftListenMessage, StartError, type StartTls } from "./start_checks.ts";

/** Zeros the WAL writes ahead of its records at a time (one extra journal commit per MiB). */
const walPreallocateBytes = 1024 * 1024;
/** How long a request may wait for Raft before it is answered 503. */
const requestTimeoutMs = 10_000;
/** How often certificate files are re-read for rotation. */
const tlsWatchPeriodMs = 1000;

/** An error the user can act on: printed without a stack, exit status 1. */
export { StartError };

/** A running node, for tests and for shutdown. */
export interface RunningNode {
  readonly store: Store;
  readonly node: RaftNode;
  /**
   * Before stop() on SIGTERM or SIGINT: a leader hands leadership to the most caught-up voter
   * and lets the requests it holds settle (within about one election timeout; one line
   * logged). A follower has nothing to do.
   */
  handOff(): Promise<void>;
  stop(): Promise<void>;
}

/** What startNode takes beyond the flags. */
export interface StartExtras {
  /** The build's version text (main.ts versionText), for /status. */
  readonly version?: string;
}

/**
 * Starts a node as configured by the flags; resolves once it serves HTTP (and has joined).
 * `log` defaults to the logger of -log-level and -log-format on stderr (log.ts).
 */
export async function startNode(
  config: Config,
  log: Logger = createLogger({ level: config.logLevel, format: config.logFormat }),
  extras: StartExtras = {},
): Promise<RunningNode> {
  // Uptime (/status) counts from here, on the monotonic clock, before recovery's reading.
  const startedAtMs = realClock.now();
  // Addresses, TLS files, ports and the data directory's path, before anything is created,
  // locked or stamped with an id: a refused start leaves nothing behind (start_checks.ts).
  const tls = await checkBeforeStart(config);
  // One process per data directory: locked before anything in it is read (raft/dir_lock.ts).
  let dirLock: DirLock;
  try {
    dirLock = lockDataDir(config.dataDir);
  } catch (e) {
    throw e instanceof DirLockError ? new StartError(e.message) : e;
  }
  const watchers = new TlsWatchers(config, tls, log);
  let opened: OpenedNode;
  try {
    mkdirSync(config.dataDir, { recursive: true });
    // -restore: the backup becomes the first snapshot (checked again now that the directory is locked).
    if (config.restoreFile !== "") restoreBackup(config, createFsDisk(), log);
    opened = openReal(config, log, watchers.node, { ...extras, startedAtMs });
  } catch (e) {
    watchers.stop();
    dirLock.release();
    throw e;
  }
  logSecurity(config, log);
  log.info(`node ${config.nodeId}: HTTP will be served on ${config.httpAddr}`);
  try {
    await opened.start();
  } catch (e) {
    // Taken since checkBeforeStart looked: the same one line, and nothing left open.
    await opened.stop();
    watchers.stop();
    dirLock.release();
    throw new StartError(raftListenMessage(config.raftAddr, (e as Error).cause ?? e));
  }
  const idleGc = startIdleGcFor(opened);
  let server;
  try {
    server = await serveHttp(config, opened, watchers.http, log);
  } catch (e) {
    idleGc?.stop();
    await opened.stop();
    watchers.stop();
    dirLock.release();
    throw e;
  }
  log.info(`serving ${watchers.http === null ? "HTTP" : "HTTPS"} on ${config.httpAddr}`);

  let isStopped = false;
  const stop = async (): Promise<void> => {
    if (isStopped) return;
    isStopped = true;
    idleGc?.stop();
    watchers.stop();
    await server.close();
    await opened.stop();
    dirLock.release();
  };

  if (config.joinAddr !== "") await joinIfAsked(config, opened.hasState, joinSecurity(config, tls, watchers), log, stop);
  const handOff = async (): Promise<void> => {
    if (isStopped) return;
    const line = await opened.store.handOff();
    if (line !== null) log.info(line, { event: "leader_handoff" });
  };
  return { store: opened.store, node: opened.node, handOff, stop };
}

/**
 * The certificate files of -http-* and -node-*, re-read for rotation from the material
 * checked at start; null where the flags name none.
 */
class TlsWatchers {
  readonly http: WatchedTls | null;
  readonly node: WatchedTls | null;

  constructor(config: Config, tls: StartTls, log: Logger) {
    const watch = (files: TlsFiles | null, initial: TlsMaterial | null): WatchedTls | null =>
      files === null || initial === null ? null : watchTlsFiles(files, { timers: realTimers, periodMs: tlsWatchPeriodMs, log, initial });
    this.http = watch(httpTlsFiles(config.security), tls.http);
    this.node = watch(nodeTlsFiles(config.security), tls.node);
  }

  stop(): void {
    this.http?.stop();
    this.node?.stop();
  }
}

/** One line saying what security is on (none: nothing said, as hraftd), and the -node-no-verify warning. */
function logSecurity(config: Config, log: Logger): void {
  const s = config.security;
  const on: string[] = [];
  if (s.httpCert !== "") on.push(`HTTPS on ${config.httpAddr}${s.httpVerifyClient ? ", client certificates required" : ""}`);
  if (s.nodeCert !== "") on.push(`node TLS on ${config.raftAddr} (mutual: peers need a certificate from -node-ca-cert)`);
  if (on.length > 0) log.info(`security: ${on.join("; ")}`);
  if (s.nodeNoVerify) {
    log.warn("-node-no-verify: peers' node certificates are not checked against the host dialled (the CA still is); for test setups only");
  }
}

/** The runtime's idle collector hint, driven by the node's progress; null where there is none. */
function startIdleGcFor(opened: OpenedNode): { stop(): void } | null {
  const gcHint = runtimeGcHint();
  if (gcHint === null) return null;
  return startIdleGc({
    periodMs: 500,
    // A local snapshot finishing after the last write leaves its garbage too: count it.
    progress: () => {
      const s = opened.node.status();
      return s.lastApplied + s.snapshotIndex;
    },
    collect: gcHint,
  });
}

/**
 * Serves the node's HTTP handler on -haddr, over HTTPS when -http-cert is given (a rotated
 * certificate is served to new connections); a bind failure is one line (StartError).
 */
async function serveHttp(config: Config, opened: OpenedNode, tls: WatchedTls | null, log: Logger): Promise<ServerHandle> {
  const http = parseHostPort(config.httpAddr);
  let server: ServerHandle;
  try {
    server = await serve({
      hostname: http.hostname,
      port: http.port,
      fetch: opened.fetch,
      ...(tls === null ? {} : { tls: { ...tls.current(), verifyClient: config.security.httpVerifyClient }, timers: realTimers }),
    });
  } catch (e) {
    throw new StartError((e as Error).message);
  }
  tls?.onChange((m) => {
    server.rotateTls(m).catch((e: Error) => {
      log.error(`HTTPS: cannot serve the new certificate from ${config.security.httpCert}, keeping the old one: ${e.message}`);
    });
  });
  return server;
}

/**
 * -join over HTTPS: the CA to verify the member with (-http-ca-cert), this node's HTTPS
 * certificate as its client certificate, and -join-as's credentials. The password comes
 * from the environment (flags.ts checked it is there) and goes nowhere but the header.
 */
function joinSecurity(config: Config, tls: StartTls, watchers: TlsWatchers): Pick<JoinOptions, "tls" | "credentials"> {
  const own = watchers.http?.current();
  const joinTls = {
    ...(tls.httpCa === null ? {} : { ca: tls.httpCa }),
    ...(own === undefined ? {} : { cert: own.cert, key: own.key }),
  };
  const user = config.security.joinAs;
  return {
    ...(Object.keys(joinTls).length === 0 ? {} : { tls: joinTls }),
    ...(user === "" ? {} : { credentials: { user, password: process.env[joinPasswordEnv] ?? "" } }),
  };
}

/**
 * -join: a brand-new node must be added before it is of any use, so failing to join ends the
 * start; a restarted member already has its configuration, so the join is only a harmless
 * reassertion, and its failure is worth a line, not an exit.
 */
async function joinIfAsked(
  config: Config,
  hasState: boolean,
  security: Pick<JoinOptions, "tls" | "credentials">,
  log: Logger,
  stop: () => Promise<void>,
): Promise<void> {
  const joining = joinCluster({
    ...security,
    joinAddr: config.joinAddr,
    id: config.nodeId,
    raftAddr: config.raftAddr,
    log,
    deadlineMs: config.joinTimeoutMs,
  });
  if (hasState) {
    joining.catch((e: Error) => log.warn(`${e.message}; continuing with the membership in this node's own log`));
    return;
  }
  try {
    await joining;
  } catch (e) {
    await stop();
    throw new StartError((e as Error).message);
  }
}

/** openNode with the real seams: node:fs (memory for the log with -inmem), TCP or TLS, real time. */
function openReal(config: Config, log: Logger, nodeTls: WatchedTls | null, about: StartExtras & { startedAtMs: number }): OpenedNode {
  const fsDisk = createFsDisk();
  const { electionTicks, heartbeatTicks } = timingTicks(config);
  return openNode(
    {
      nodeId: config.nodeId,
      raftAddr: config.raftAddr,
      dataDir: config.dataDir,
      isJoining: config.joinAddr !== "",
      electionTicks,
      heartbeatTicks,
      tickMs: config.tickMs,
      snapshotThresholdEntries: config.snapshotThresholdEntries,
      snapshotTrailingEntries: config.snapshotTrailingEntries,
      snapshotIntervalTicks: snapshotIntervalTicks(config),
      // Syncs that overwrite zeros already on disk are faster than appends (raft/wal.ts).
      walPreallocateBytes: config.inmem ? 0 : walPreallocateBytes,
      requestTimeoutMs,
      bodyBytesMax: config.bodyBytesMax,
      // -auth; a forwarded request's user is trusted only from peers the node CA vouches for.
      authFile: config.security.authFile,
      peersAuthenticated: config.security.nodeCert !== "",
      // GET /leader names the leader's HTTP address when asked of the leader itself.
      httpAddr: config.httpAddr,
      // /status: the version and the uptime.
      ...(about.version === undefined ? {} : { version: about.version }),
      startedAtMs: about.startedAtMs,
    },
    {
      logDisk: config.inmem ? new MemDisk() : fsDisk,
      snapshotDisk: fsDisk,
      openTransport: (onMessage, onInboundClosed) =>
        createTcpTransport<Envelope>({
          listenAddr: config.raftAddr,
          encode: encodeEnvelope,
          decode: decodeEnvelope,
          // A link back up is good news (info); a link down and the rest are warnings.
          logger: (l, fields) => (fields?.["event"] === "peer_up" ? log.info(l, fields) : log.warn(l, fields)),
          // A restarted peer should hear from us within a few heartbeats, not after a long
          // backoff: redialling a dead address every quarter second costs next to nothing.
          dialBackoffMaxMs: 250,
          onMessage,
          onInboundClosed,
          // Mutual TLS with -node-*: the material follows its files (rotation for new connections).
          ...(nodeTls === null
            ? {}
            : { tls: { material: () => nodeTls.current(), onChange: (fn) => nodeTls.onChange(fn), verifyHostname: !config.security.nodeNoVerify } }),
        }),
      clock: realClock,
      wallClock: realWallClock,
      timers: realTimers,
      scheduler: realScheduler,
      ticker: createTicker(config.tickMs),
      random: () => crypto.getRandomValues(new Uint32Array(1))[0]!,
      logger: log,
      // Fail-stop: after a storage or invariant failure the node must not keep serving.
      onFatal: () => process.exit(70),
    },
  );
}
