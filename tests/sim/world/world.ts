// The simulated world of production nodes: each server is built by openNode (the factory the
// real server uses) on a simulated disk, wire, clock and timers. Crashes kill the process and
// keep only what its disk made durable; a restart builds a brand-new node from that image.
// Every event is followed by draining the microtask queue (the production code awaits) and
// by the safety checkers.

import { openNode, type OpenedNode } from "../../../open_node.ts";
import type { Entry, Member } from "../../../raft/core/mod.ts";
import type { Logger } from "../../../raft/host.ts";
import { StorageDamageError } from "../../../raft/wal.ts";
import { SafetyChecker } from "../checkers/safety.ts";
import { createSimRng, type SimRng } from "../prng.ts";
import { Scheduler } from "../scheduler.ts";
import { type CrashMode, SimDisk } from "../sim_disk.ts";
import { createTicker } from "../../../raft/ticker.ts";
import { SimProcess } from "./sim_process.ts";
import { simTransport } from "./sim_transport.ts";
import { SimWire } from "./sim_wire.ts";

/** The per-seed shape of a world; drawn from the seed by drawWorldConfig. */
export interface WorldConfig {
  readonly seed: number;
  readonly voters: number;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly snapshotThresholdEntries: number;
  readonly snapshotTrailingEntries: number;
  readonly walPreallocateBytes: number;
  readonly requestTimeoutMs: number;
}

/** Draws a world's limits from its seed, so one seed explores one mix (TigerBeetle's swarm). */
export function drawWorldConfig(seed: number): WorldConfig {
  const rng = createSimRng(seed).fork("config");
  return {
    seed,
    voters: rng.pick([3, 3, 5]),
    tickMs: 10,
    electionTicks: rng.pick([10, 20, 50]),
    heartbeatTicks: rng.pick([2, 5]),
    snapshotThresholdEntries: rng.pick([8, 32, 200, 8192]),
    snapshotTrailingEntries: rng.pick([0, 4, 50]),
    walPreallocateBytes: rng.pick([0, 4096, 65_536]),
    requestTimeoutMs: rng.pick([1000, 3000]),
  };
}

/** A bounded ring of recent events, printed when a seed fails. */
export class Trace {
  readonly #lines: string[] = [];
  #next = 0;
  constructor(readonly capacity: number) {}
  add(line: string): void {
    if (this.#lines.length < this.capacity) this.#lines.push(line);
    else this.#lines[this.#next] = line;
    this.#next = (this.#next + 1) % this.capacity;
  }
  lines(): string[] {
    return this.#lines.length < this.capacity ? [...this.#lines] : [...this.#lines.slice(this.#next), ...this.#lines.slice(0, this.#next)];
  }
}

/** One server: a disk that outlives its processes, and the process now running (if any). */
export class SimServer {
  readonly disk = new SimDisk();
  process: SimProcess | null = null;
  opened: OpenedNode | null = null;
  /** Processes started so far (each is a new incarnation). */
  lives = 0;
  /** Snapshot index the current life started from: its commit index can never be lower. */
  restartFloor = 0;
  /** Set when a start refused the data directory as damaged. */
  refused: Error | null = null;
  constructor(
    readonly id: string,
    readonly addr: string,
    readonly dataDir: string,
  ) {}

  get isUp(): boolean {
    return this.process !== null && this.process.isAlive && this.opened !== null;
  }
}

/** Lets every promise continuation queued by the last event run before the next event. */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class World {
  readonly scheduler = new Scheduler();
  readonly rng: SimRng;
  readonly wire: SimWire;
  readonly servers: SimServer[];
  readonly checker = new SafetyChecker();
  readonly trace = new Trace(300);
  /** Called once per server life started (clients use it to learn of restarts). */
  onCrash: (server: SimServer) => void = () => {};
  #diskRng: SimRng;

  constructor(readonly config: WorldConfig) {
    this.rng = createSimRng(config.seed);
    this.wire = new SimWire(this.scheduler, this.rng.fork("wire"));
    this.#diskRng = this.rng.fork("disk");
    this.servers = Array.from({ length: config.voters }, (_, i) => new SimServer(`n${i + 1}`, `n${i + 1}:12000`, `/data/n${i + 1}`));
  }

  /** The initial voters, bootstrapped together. */
  get members(): Member[] {
    return this.servers.map((s) => ({ id: s.id, addr: s.addr, suffrage: "voter" as const }));
  }

  log(text: string): void {
    this.trace.add(`${this.scheduler.now.toFixed(0).padStart(7)} ${text}`);
  }

  /** Starts a new process on `server`'s disk; false if the node refused its data directory. */
  start(server: SimServer): boolean {
    const life = ++server.lives;
    const proc = new SimProcess(this.scheduler, `${server.id}#${life}`);
    const lifeRng = this.rng.fork(`${server.id}#${life}`);
    const logger: Logger = {
      info: (l) => this.log(`${server.id}#${life} ${l}`),
      warn: (l) => this.log(`${server.id}#${life} WARN ${l}`),
      error: (l) => this.log(`${server.id}#${life} ERROR ${l}`),
    };
    const disk = proc.fence(server.disk);
    let opened: OpenedNode;
    try {
      opened = openNode(
        {
          nodeId: server.id,
          raftAddr: server.addr,
          dataDir: server.dataDir,
          isJoining: false,
          electionTicks: this.config.electionTicks,
          tickMs: this.config.tickMs,
          heartbeatTicks: this.config.heartbeatTicks,
          snapshotThresholdEntries: this.config.snapshotThresholdEntries,
          snapshotTrailingEntries: this.config.snapshotTrailingEntries,
          walPreallocateBytes: this.config.walPreallocateBytes,
          requestTimeoutMs: this.config.requestTimeoutMs,
          bodyBytesMax: 1024 * 1024,
          bootstrapMembers: this.members,
        },
        {
          logDisk: disk,
          snapshotDisk: disk,
          openTransport: (onMessage) => simTransport(this.wire, proc, server.addr, onMessage, logger),
          clock: proc,
          timers: proc,
          scheduler: proc,
          ticker: createTicker(this.config.tickMs, proc, proc),
          random: () => lifeRng.int(0x1_0000_0000),
          logger,
          // Fail-stop: the real process exits (status 70); here it simply dies.
          onFatal: () => {
            if (proc.isAlive) this.crash(server, "drop");
          },
          observer: { applied: (e: Entry) => this.checker.applied(server.id, e) },
        },
      );
    } catch (e) {
      proc.kill();
      if (e instanceof StorageDamageError) {
        server.refused = e;
        this.log(`${server.id}#${life} refused to start: ${e.message}`);
        return false;
      }
      throw e;
    }
    server.process = proc;
    server.opened = opened;
    server.refused = null;
    server.restartFloor = opened.node.core.status().snapshotIndex;
    this.log(`${server.id}#${life} started (incarnation ${opened.incarnation})`);
    opened.start().catch((e: unknown) => this.log(`${server.id}#${life} failed to start: ${String(e)}`));
    return true;
  }

  /** Kills `server`'s process: memory gone, unsynced writes lost (or torn) per `mode`. */
  crash(server: SimServer, mode: CrashMode): void {
    if (server.process === null) return;
    server.process.kill();
    // Nothing of a dead process runs again: continuations already queued find the driver stopped.
    server.opened?.node.stop();
    server.process = null;
    server.opened = null;
    server.disk.crash(mode, this.#diskRng);
    this.log(`${server.id} crashed (${mode})`);
    this.onCrash(server);
  }

  /** Runs one event, lets its promise continuations run, then checks every live node. */
  async step(): Promise<boolean> {
    if (!this.scheduler.runOne()) return false;
    await drainMicrotasks();
    this.check();
    return true;
  }

  /** Runs events until simulated time `time`. */
  async runUntil(time: number): Promise<void> {
    while (this.scheduler.peekTime() <= time) await this.step();
  }

  /** The safety checkers on every live node (Raft paper figure 3 plus the core's invariants). */
  check(): void {
    for (const s of this.servers) {
      if (!s.isUp) continue;
      const core = s.opened!.node.core;
      this.checker.observe(s.id, s.lives, core, core.status().lastApplied, s.restartFloor);
    }
  }

  up(): SimServer[] {
    return this.servers.filter((s) => s.isUp);
  }

  leader(): SimServer | null {
    let best: SimServer | null = null;
    let bestTerm = -1;
    for (const s of this.up()) {
      const st = s.opened!.node.core.status();
      if (st.role === "leader" && st.term > bestTerm) {
        best = s;
        bestTerm = st.term;
      }
    }
    return best;
  }
}
