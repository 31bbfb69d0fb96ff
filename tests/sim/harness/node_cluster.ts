// A cluster of production nodes for scripted scenario tests (MIT 6.5840 style): every node is
// built by openNode, the factory server.ts uses, on a simulated disk (SimDisk), wire (real
// encoded frames), clock and timers, exactly as tests/sim/world/world.ts wires them. Unlike the
// World it has spare servers that start empty and wait to be joined, per-node disconnects
// (MIT's disconnect/connect), one-way cuts that can be lifted, and a count of Raft messages by
// type. Commands go through the Store API; state is read from the real state machine and core.
// The safety checkers run after every event.

import { openNode, type OpenedNode } from "../../../open_node.ts";
import type { Entry, Member, NodeId, RaftStatus } from "../../../raft/core/mod.ts";
import type { Envelope } from "../../../raft/envelope.ts";
import type { Logger, Transport } from "../../../raft/host.ts";
import type { Store } from "../../../store/store.ts";
import { SafetyChecker } from "../checkers/safety.ts";
import { createSimRng, type SimRng } from "../prng.ts";
import { Scheduler } from "../scheduler.ts";
import { type CrashMode, SimDisk } from "../sim_disk.ts";
import { drainMicrotasks, SimProcess } from "../world/sim_process.ts";
import { simSeams } from "../world/sim_seams.ts";
import { SimWire } from "../world/sim_wire.ts";

/** What a cluster is built from; unset fields get the defaults in NodeCluster.open. */
export interface NodeClusterOptions {
  readonly seed: number;
  /** Voters at start, bootstrapped together. */
  readonly voters: number;
  /** Further servers that start empty (as with -join) and wait to be added. */
  readonly spares?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Entries applied between local snapshots; the default never snapshots. */
  readonly snapshotThresholdEntries?: number;
  readonly snapshotTrailingEntries?: number;
  readonly requestTimeoutMs?: number;
  readonly walPreallocateBytes?: number;
}

type Settings = Required<NodeClusterOptions>;

/** One server: a disk that outlives its processes, and the process running now (if any). */
export class ClusterServer {
  readonly disk = new SimDisk();
  process: SimProcess | null = null;
  opened: OpenedNode | null = null;
  /** Processes started so far; each is a new incarnation. */
  lives = 0;
  /** Snapshot index the current life started from: its commit index never goes below it. */
  restartFloor = 0;
  /** Term of each index of the log as last checked (log matching is checked on changes only). */
  checkedTerms: number[] = [];
  constructor(
    readonly id: NodeId,
    readonly addr: string,
    readonly isSpare: boolean,
  ) {}

  get isUp(): boolean {
    return this.process !== null && this.process.isAlive && this.opened !== null;
  }
}


/** Guard against a livelock (events that never let simulated time pass): events per cluster. */
const eventsMax = 3_000_000;

/** The cluster. Server ids are n1, n2, …: voters first, then spares. */
export class NodeCluster {
  readonly scheduler = new Scheduler();
  readonly rng: SimRng;
  readonly wire: SimWire;
  readonly checker = new SafetyChecker();
  readonly ids: NodeId[];
  readonly settings: Settings;
  /** The first entry applied anywhere at each index (the checker makes sure all agree). */
  readonly appliedLog = new Map<number, Entry>();
  /** Raft messages sent, by type (InstallSnapshot, AppendEntries, …). */
  readonly sentByType = new Map<string, number>();
  /** Raft messages sent in all. */
  raftMessagesSent = 0;
  /** Lines logged by the nodes (kept short; printed by tests that fail). */
  readonly log: string[] = [];
  readonly #servers = new Map<NodeId, ClusterServer>();
  readonly #disconnected = new Set<NodeId>();
  readonly #oneWay = new Set<string>();
  readonly #diskRng: SimRng;

  private constructor(options: NodeClusterOptions) {
    this.settings = {
      spares: 0,
      tickMs: 10,
      electionTicks: 10,
      heartbeatTicks: 2,
      snapshotThresholdEntries: 1_000_000_000,
      snapshotTrailingEntries: 5,
      requestTimeoutMs: 2000,
      walPreallocateBytes: 0,
      ...options,
    };
    this.rng = createSimRng(options.seed);
    this.wire = new SimWire(this.scheduler, this.rng.fork("wire"));
    this.#diskRng = this.rng.fork("disk");
    const total = this.settings.voters + this.settings.spares;
    this.ids = Array.from({ length: total }, (_, i) => `n${i + 1}`);
    for (const [i, id] of this.ids.entries()) this.#servers.set(id, new ClusterServer(id, addrOf(id), i >= this.settings.voters));
  }

  /** Builds the cluster and starts every server (spares wait, empty, to be joined). */
  static async open(options: NodeClusterOptions): Promise<NodeCluster> {
    const c = new NodeCluster(options);
    for (const id of c.ids) c.restart(id);
    await drainMicrotasks();
    return c;
  }

  /** The bootstrap voters. */
  get #members(): Member[] {
    return this.ids.slice(0, this.settings.voters).map((id) => ({ id, addr: addrOf(id), suffrage: "voter" as const }));
  }

  server(id: NodeId): ClusterServer {
    const s = this.#servers.get(id);
    if (s === undefined) throw new Error(`no server ${id}`);
    return s;
  }

  isUp(id: NodeId): boolean {
    return this.server(id).isUp;
  }

  /** Up and not disconnected (MIT's "connected" servers). */
  isConnected(id: NodeId): boolean {
    return this.isUp(id) && !this.#disconnected.has(id);
  }

  /** The running node's Store; throws if the server is down. */
  store(id: NodeId): Store {
    const s = this.server(id);
    if (!s.isUp) throw new Error(`${id} is down`);
    return s.opened!.store;
  }

  /** The core's status, or null while the server is down. */
  status(id: NodeId): RaftStatus | null {
    const s = this.server(id);
    return s.isUp ? s.opened!.node.core.status() : null;
  }

  /** Index the server's state machine has applied (0 while down). */
  lastApplied(id: NodeId): number {
    return this.status(id)?.lastApplied ?? 0;
  }

  /** The value of `key` in the server's state machine (null: absent; undefined: down). */
  value(id: NodeId, key: string): string | null | undefined {
    const s = this.server(id);
    return s.isUp ? s.opened!.store.peek(key, "stale") : undefined;
  }

  /** Live servers that believe they lead, newest term first. */
  leaders(): NodeId[] {
    const out: { id: NodeId; term: number }[] = [];
    for (const id of this.ids) {
      const st = this.status(id);
      if (st !== null && st.role === "leader") out.push({ id, term: st.term });
    }
    return out.sort((a, b) => b.term - a.term).map((x) => x.id);
  }

  /** The leader of the highest term among live servers, or null. */
  leader(): NodeId | null {
    return this.leaders()[0] ?? null;
  }

  /** Starts a new process on the server's disk (a restart after crash, or the first start). */
  restart(id: NodeId): void {
    const server = this.server(id);
    if (server.process !== null) return;
    const life = ++server.lives;
    const proc = new SimProcess(this.scheduler, `${id}#${life}`);
    const lifeRng = this.rng.fork(`${id}#${life}`);
    const logger: Logger = {
      info: (l) => this.#log(`${id}#${life} ${l}`),
      warn: (l) => this.#log(`${id}#${life} WARN ${l}`),
      error: (l) => this.#log(`${id}#${life} ERROR ${l}`),
    };
    const disk = proc.fence(server.disk);
    const s = this.settings;
    const opened = openNode(
      {
        nodeId: id,
        raftAddr: server.addr,
        dataDir: `/data/${id}`,
        isJoining: server.isSpare,
        electionTicks: s.electionTicks,
        tickMs: s.tickMs,
        heartbeatTicks: s.heartbeatTicks,
        snapshotThresholdEntries: s.snapshotThresholdEntries,
        snapshotTrailingEntries: s.snapshotTrailingEntries,
        walPreallocateBytes: s.walPreallocateBytes,
        requestTimeoutMs: s.requestTimeoutMs,
        bodyBytesMax: 1024 * 1024,
        bootstrapMembers: this.#members,
      },
      {
        ...simSeams({
          proc, disk, wire: this.wire, addr: server.addr, tickMs: s.tickMs, rng: lifeRng, logger,
          wrapTransport: (t) => this.#countingTransport(t),
        }),
        // Fail-stop: the real process exits; here it dies, and the test sees the node down.
        onFatal: (e) => {
          this.#log(`${id}#${life} FATAL ${String(e)}`);
          if (proc.isAlive) this.crash(id);
        },
        observer: {
          applied: (e: Entry) => {
            this.checker.applied(id, e);
            if (!this.appliedLog.has(e.index)) this.appliedLog.set(e.index, e);
          },
        },
      },
    );
    server.process = proc;
    server.opened = opened;
    server.restartFloor = opened.node.core.status().snapshotIndex;
    server.checkedTerms = [];
    opened.start().catch((e: unknown) => this.#log(`${id}#${life} failed to start: ${String(e)}`));
  }

  /** Kills the server's process: memory gone; unsynced disk writes lost (drop) or torn (tear). */
  crash(id: NodeId, mode: CrashMode = "drop"): void {
    const server = this.server(id);
    if (server.process === null) return;
    server.process.kill();
    server.opened?.node.stop();
    server.process = null;
    server.opened = null;
    server.disk.crash(mode, this.#diskRng);
    this.#log(`${id} crashed (${mode})`);
  }

  /**
   * Asks `from`'s core to hand leadership to `to` (catch it up, then TimeoutNow); false if the
   * core refuses. No production API offers a transfer yet, so this is the one place the
   * harness calls the core directly; the driver carries out the result at its next tick.
   */
  transferLeadership(from: NodeId, to: NodeId): boolean {
    const s = this.server(from);
    if (!s.isUp) return false;
    return s.opened!.node.core.transferLeadership(to);
  }

  /** Cuts `id` off from every other server, both ways (MIT disconnect). */
  disconnect(id: NodeId): void {
    this.#disconnected.add(id);
    this.#applyCuts();
  }

  /** Undoes disconnect(id); cuts to servers still disconnected stay. */
  connect(id: NodeId): void {
    this.#disconnected.delete(id);
    this.#applyCuts();
  }

  /** Drops every frame from `from` to `to` until unblockOneWay. */
  blockOneWay(from: NodeId, to: NodeId): void {
    this.#oneWay.add(`${from}>${to}`);
    this.#applyCuts();
  }

  unblockOneWay(from: NodeId, to: NodeId): void {
    this.#oneWay.delete(`${from}>${to}`);
    this.#applyCuts();
  }

  #applyCuts(): void {
    const connected = this.ids.filter((id) => !this.#disconnected.has(id));
    this.wire.partition([connected, ...[...this.#disconnected].map((id) => [id])].map((g) => g.map(addrOf)));
    for (const pair of this.#oneWay) {
      const [from, to] = pair.split(">") as [string, string];
      this.wire.blockOneWay(addrOf(from), addrOf(to));
    }
  }

  /** Runs events until simulated time has advanced by `ms`, checking after each. */
  async run(ms: number): Promise<void> {
    const end = this.scheduler.now + ms;
    while (this.scheduler.peekTime() <= end) await this.#step();
  }

  /** Runs events until `pred` holds (checked after each) or `msMax` passes; true if it held. */
  async runUntil(pred: () => boolean, msMax: number): Promise<boolean> {
    const end = this.scheduler.now + msMax;
    while (!pred()) {
      if (this.scheduler.peekTime() > end) return false;
      await this.#step();
    }
    return true;
  }

  /** Runs until `promise` settles (or `msMax` passes); its result, or a timeout error. */
  async settle<T>(promise: Promise<T>, msMax: number): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    let result: { ok: true; value: T } | { ok: false; error: unknown } | null = null;
    promise.then(
      (value) => (result = { ok: true, value }),
      (error: unknown) => (result = { ok: false, error }),
    );
    await drainMicrotasks();
    await this.runUntil(() => result !== null, msMax);
    return result ?? { ok: false, error: new Error(`not settled within ${msMax} simulated ms`) };
  }

  async #step(): Promise<void> {
    if (this.scheduler.steps >= eventsMax) throw new Error(`event budget of ${eventsMax} exhausted at ${this.scheduler.now} ms`);
    this.scheduler.runOne();
    await drainMicrotasks();
    this.check();
  }

  /**
   * The safety checkers on every live server: the core's invariants, election safety, commit
   * and apply never going back, leader completeness, state machine safety (through the applied
   * tap), and log matching over each log's entries that changed since the last check.
   */
  check(): void {
    for (const server of this.#servers.values()) {
      if (!server.isUp) continue;
      const core = server.opened!.node.core;
      this.checker.observe(server.id, server.lives, core, core.status().lastApplied, server.restartFloor);
      this.#checkLogMatching(server);
    }
  }

  #checkLogMatching(server: ClusterServer): void {
    const seen = server.checkedTerms;
    const entries = server.opened!.node.core.entries();
    const last = entries[entries.length - 1];
    if (last === undefined || (seen.length === last.index + 1 && seen[last.index] === last.term)) return;
    const first = entries[0]!.index;
    // The term before the first entry held is the snapshot's, which the log does not show.
    const termAt = (i: number): number | null => (i >= first ? (entries[i - first]?.term ?? null) : null);
    // Entries whose (index, term) were already checked in this log are unchanged (same index
    // and term in one log is the same entry); check the rest, newest first, down to them.
    const fresh: Entry[] = [];
    for (let k = entries.length - 1; k >= 0; k--) {
      const e = entries[k]!;
      if (seen[e.index] === e.term) break;
      fresh.push(e);
    }
    fresh.reverse();
    this.checker.persisted(fresh, termAt);
    seen.length = last.index + 1;
    for (const e of fresh) seen[e.index] = e.term;
  }

  #countingTransport(inner: Transport<Envelope>): Transport<Envelope> {
    return {
      listen: () => inner.listen(),
      send: (addr, env) => {
        if (env.kind === "raft") {
          this.raftMessagesSent++;
          this.sentByType.set(env.msg.type, (this.sentByType.get(env.msg.type) ?? 0) + 1);
        }
        return inner.send(addr, env);
      },
      flush: () => inner.flush(),
      close: () => inner.close(),
    };
  }

  #log(line: string): void {
    this.log.push(`${this.scheduler.now.toFixed(0).padStart(7)} ${line}`);
    if (this.log.length > 2000) this.log.splice(0, 1000);
  }
}

/** The advertised Raft address of server `id`. */
export function addrOf(id: NodeId): string {
  return `${id}:12000`;
}
