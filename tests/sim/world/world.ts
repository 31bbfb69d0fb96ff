// The simulated world of production nodes: each server is built by openNode (the factory the
// real server uses) on a simulated disk, wire, clock and timers. Crashes kill the process and
// keep only what its disk made durable; a restart builds a brand-new node from that image.
// Every event is followed by draining the microtask queue (the production code awaits) and
// by the safety checkers. The disk is as hostile as real hardware: a crash can strike in the
// middle of any disk operation (a node's very first start, a snapshot install or prune, a WAL
// compaction, a recursive removal part-way), writes and syncs can fail with EIO or ENOSPC
// (the node must stop: fail-stop, the real process exits), and one server per seed may have
// bits flipped in its synced data while it is down (it must refuse to start, naming the file).
// How often each fault strikes is drawn from the seed (swarm testing).

import { openNode, type OpenedNode } from "../../../open_node.ts";
import type { Entry, Member } from "../../../raft/core/mod.ts";
import type { Logger } from "../../../raft/host.ts";
import { StorageDamageError } from "../../../raft/wal.ts";
import { SafetyChecker } from "../checkers/safety.ts";
import { OnceChecker } from "./once_checker.ts";
import { createSimRng, type SimRng } from "../prng.ts";
import { Scheduler } from "../scheduler.ts";
import { type CrashMode, SimCrashError, SimDisk, SimFaultError, type SimOpFilter } from "../sim_disk.ts";
import { StartError } from "../../../start_checks.ts";
import { drainMicrotasks, SimProcess } from "./sim_process.ts";
import { simSeams } from "./sim_seams.ts";
import { SimWire } from "./sim_wire.ts";
import { drawLeadershipNemesis } from "./leadership_nemesis.ts";
import { drawTargetedMode, type TargetedMode } from "./targeted.ts";
import type { Envelope } from "../../../raft/envelope.ts";
import type { Transport } from "../../../raft/host.ts";

/**
 * Sees every message a process sends, before the wire does; returns true if it took the
 * message over (the tap then delivers it itself, e.g. late), false to let it go as usual.
 */
export type TransportTap = (server: SimServer, life: number, peerAddr: string, env: Envelope) => boolean;

/** A check of the world failed (a refusal naming the wrong file, a node carrying on after an I/O error, ...). */
export class WorldCheckError extends Error {
  override readonly name = "WorldCheckError";
}

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
  /** Servers that start empty with -join and are added through the Store API. */
  readonly spares: number;
  /** Chance per nemesis step of arming a crash at a random upcoming disk operation. */
  readonly midOpCrashRate: number;
  /** The armed crash strikes within this many disk operations. */
  readonly crashOpsMax: number;
  /** Chance per nemesis step of arming an EIO or ENOSPC at a random upcoming disk operation. */
  readonly ioFaultRate: number;
  /** Chance that the fragile server's disk gets a bit flipped in synced data when it goes down. */
  readonly bitFlipRate: number;
  /** Chance per nemesis step of a join or removal through the Store API. */
  readonly membershipRate: number;
  /** Chance that a client uses the HTTP handler (the Hono app's fetch) instead of the Store API. */
  readonly httpRate: number;
  /** Latest fsync off the event loop (syncAsync), in ms; null: the disk offers only blocking syncs. */
  readonly syncLatencyMsMax: number | null;
  /** When the network is lossy: chance that a frame is delivered twice, and that it is held up to 400 ms. */
  readonly duplicateRate: number;
  readonly longDelayRate: number;
  /**
   * The targeted nemesis of this seed (targeted.ts), or null: "bounce" restarts a follower
   * that just asked for a read index while replies to it are held up; "lease" isolates a
   * leader and restarts a follower as a successor campaigns. Drawn from a generator of its
   * own (not the config's), so seeds without one run exactly as before it existed.
   */
  readonly targeted: TargetedMode | null;
  /**
   * A small WAL segment size, so segments roll over, get sealed, compacted and truncated
   * whole (raft/wal.ts W2 and "Removing segments"); null: the default (64 MiB, never reached
   * in a seed). Own generator, like `targeted`, with a salt under which none of the
   * regression seeds of world.test.ts draws one: their runs stay the ones that caught a bug.
   */
  readonly walSegmentBytesMax: number | null;
  /** Handoffs and graceful stops (leadership_nemesis.ts); own generator, as above. */
  readonly leadership: boolean;
  /**
   * A crash closes the process's connections and its peers hear of it (TCP's FIN), so a
   * follower whose leader died campaigns early (raft/core/election.ts noteLeaderDisconnected);
   * own generator, as above.
   */
  readonly closesOnCrash: boolean;
}

/** Seeds whose crashes close connections: about a third, and no regression seed of world.test.ts. */
export function drawClosesOnCrash(seed: number): boolean {
  return createSimRng(seed).fork("closes-on-crash-v18-248").chance(0.35);
}

/** Seeds with small WAL segments: about three in ten. */
export function drawWalSegmentBytesMax(seed: number): number | null {
  const rng = createSimRng(seed).fork("wal-segments-v168");
  if (!rng.chance(0.3)) return null;
  return rng.pick([1024, 4096, 32_768]);
}

/** Draws a world's limits from its seed, so one seed explores one mix (TigerBeetle's swarm). */
export function drawWorldConfig(seed: number): WorldConfig {
  const rng = createSimRng(seed).fork("config");
  return {
    seed,
    voters: rng.pick([1, 3, 3, 5]), // 1: hraftd's default, a node that bootstraps alone
    tickMs: 10,
    electionTicks: rng.pick([10, 20, 50]),
    heartbeatTicks: rng.pick([2, 5]),
    snapshotThresholdEntries: rng.pick([8, 32, 200, 8192]),
    snapshotTrailingEntries: rng.pick([0, 4, 50]),
    walPreallocateBytes: rng.pick([0, 4096, 65_536]),
    requestTimeoutMs: rng.pick([1000, 3000]),
    spares: rng.pick([0, 1, 1]),
    midOpCrashRate: rng.pick([0, 0.03, 0.1]),
    crashOpsMax: rng.pick([3, 20, 100, 400]),
    ioFaultRate: rng.pick([0, 0, 0.02, 0.06]),
    bitFlipRate: rng.pick([0, 0, 0.3, 0.7]),
    membershipRate: rng.pick([0, 0.05, 0.15]),
    httpRate: rng.pick([0, 0.3]),
    syncLatencyMsMax: rng.pick([null, 1, 5, 20]),
    duplicateRate: rng.pick([0.02, 0.1]),
    longDelayRate: rng.pick([0.01, 0.05]),
    targeted: drawTargetedMode(seed),
    walSegmentBytesMax: drawWalSegmentBytesMax(seed),
    leadership: drawLeadershipNemesis(seed),
    closesOnCrash: drawClosesOnCrash(seed),
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
  /** Files of this disk with a bit flipped in synced data since the last start. */
  flipped: string[] = [];
  /** Bit flips done on this server's disk so far. */
  flips = 0;
  /** Its node may have changed since the safety checker last looked at it (World.check). */
  isDirty = true;
  constructor(
    readonly id: string,
    readonly addr: string,
    readonly dataDir: string,
    /** Starts empty with -join (never bootstraps); becomes a member only when added. */
    readonly isSpare: boolean,
  ) {
    this.disk.stepwiseRemoval = true;
  }

  get isUp(): boolean {
    return this.process !== null && this.process.isAlive && this.opened !== null;
  }
}


export class World {
  readonly scheduler = new Scheduler();
  readonly rng: SimRng;
  readonly wire: SimWire;
  readonly servers: SimServer[];
  readonly checker = new SafetyChecker();
  /** Every write with an Idempotency-Key applied at most once (./once_checker.ts). */
  readonly once = new OnceChecker((message) => this.fail(message));
  readonly trace = new Trace(300);
  /** Called once per server life ended (clients and membership changes learn of crashes). */
  readonly crashListeners: ((server: SimServer) => void)[] = [];
  /** The first check that failed outside an event's own stack (a refusal naming the wrong file, a node that ignored an I/O error). */
  failure: string | null = null;
  /** Injected I/O errors that struck. */
  ioFaults = 0;
  /** Faults off (the liveness phase): no new faults are armed, no bits flipped. */
  isCalm = false;
  /** The one server per seed whose disk may suffer bit flips (a minority, so the cluster carries on). */
  readonly fragile: SimServer | null;
  #diskRng: SimRng;
  #faultRng: SimRng;
  /** True once the event being run turned out to be code of one process (World.step). */
  #isEventOwned = false;
  /** Set by a targeted nemesis (targeted.ts); null keeps the transport untouched. */
  transportTap: TransportTap | null = null;

  constructor(readonly config: WorldConfig) {
    this.rng = createSimRng(config.seed);
    this.wire = new SimWire(this.scheduler, this.rng.fork("wire"));
    this.#diskRng = this.rng.fork("disk");
    this.#faultRng = this.rng.fork("faults");
    const total = config.voters + config.spares;
    this.servers = Array.from({ length: total }, (_, i) => new SimServer(`n${i + 1}`, `n${i + 1}:12000`, `/data/n${i + 1}`, i >= config.voters));
    this.fragile = config.bitFlipRate > 0 && config.voters >= 3 ? this.#faultRng.pick(this.servers.slice(0, config.voters)) : null;
  }

  /** The initial voters, bootstrapped together. */
  get bootstrapMembers(): Member[] {
    return this.servers.filter((s) => !s.isSpare).map((s) => ({ id: s.id, addr: s.addr, suffrage: "voter" as const }));
  }

  /** The membership as the current leader (else any live member) sees it, latest configuration. */
  members(): readonly Member[] {
    const by = this.leader() ?? this.up().find((s) => s.opened!.node.core.status().members.length > 0) ?? null;
    return by === null ? this.bootstrapMembers : by.opened!.node.core.status().members;
  }

  /** Arms a crash at a random upcoming disk operation of `server` (it may strike in a start). */
  armCrash(server: SimServer): void {
    const [what, only] = this.#faultRng.pick(opTargets);
    const ops = this.#faultRng.int(only === null ? this.config.crashOpsMax : 4);
    server.disk.armCrash(ops, only);
    this.log(`${server.id} crash armed in ${ops} disk ops (${what})`);
  }

  /** Arms an EIO or ENOSPC at a random upcoming disk operation of `server`. */
  armFault(server: SimServer): void {
    const [what, only] = this.#faultRng.pick(opTargets);
    const ops = this.#faultRng.int(only === null ? this.config.crashOpsMax : 4);
    const code = this.#faultRng.chance(0.5) ? "EIO" : "ENOSPC";
    server.disk.armFault(ops, code, only);
    this.log(`${server.id} ${code} armed in ${ops} disk ops (${what})`);
  }

  /** Disarms every armed crash and fault (the liveness phase). */
  calm(): void {
    this.isCalm = true;
    for (const s of this.servers) {
      s.disk.armCrash(-1);
      s.disk.armFault(-1, "EIO");
    }
  }

  /**
   * Flips one bit of synced data in a random file of the fragile server's disk (only while
   * it is down): real media rot that no crash explains, which its next start must detect.
   */
  #maybeFlipBit(server: SimServer): void {
    if (server !== this.fragile || this.isCalm || !this.#faultRng.chance(this.config.bitFlipRate)) return;
    const candidates: { path: string; offsets: number[] }[] = [];
    for (const path of filesUnder(server.disk, server.dataDir)) {
      const synced = server.disk.synced(path);
      if (synced === null || synced.length === 0) continue;
      const now = server.disk.readFile(path);
      const n = Math.min(now.length, synced.length);
      if (n > 0) candidates.push({ path, offsets: [n] });
    }
    if (candidates.length === 0) return;
    const c = this.#faultRng.pick(candidates);
    const synced = server.disk.synced(c.path)!;
    const now = server.disk.readFile(c.path);
    // A byte still as the last fsync wrote it (not since rewritten in place).
    for (let tries = 0; tries < 20; tries++) {
      const offset = this.#faultRng.int(c.offsets[0]!);
      if (now[offset] !== synced[offset]) continue;
      const bit = this.#faultRng.int(8);
      server.disk.corrupt(c.path, offset, 1 << bit);
      server.flipped.push(c.path);
      server.flips++;
      this.log(`${server.id} bit ${bit} flipped at ${c.path}:${offset} (synced data)`);
      return;
    }
  }

  log(text: string): void {
    this.trace.add(`${this.scheduler.now.toFixed(0).padStart(7)} ${text}`);
  }

  /** Starts a new process on `server`'s disk; false if the node refused its data directory. */
  start(server: SimServer): boolean {
    const life = ++server.lives;
    // Events that run this process's code mark its node for checking (World.check).
    const proc = new SimProcess(this.scheduler, `${server.id}#${life}`, () => {
      server.isDirty = true;
      this.#isEventOwned = true;
    });
    server.isDirty = true;
    const lifeRng = this.rng.fork(`${server.id}#${life}`);
    const logger: Logger = {
      info: (l) => this.log(`${server.id}#${life} ${l}`),
      warn: (l) => this.log(`${server.id}#${life} WARN ${l}`),
      error: (l) => this.log(`${server.id}#${life} ERROR ${l}`),
    };
    // A crash armed on this disk kills the machine at that very operation (power loss).
    const disk = proc.fence(server.disk, (e) => {
      if (e instanceof SimCrashError) {
        this.log(`${server.id}#${life} ${e.message}`);
        if (proc.isAlive) this.crash(server, this.#diskRng.chance(0.5) ? "tear" : "drop");
      } else if (e instanceof SimFaultError) {
        this.ioFaults++;
        this.log(`${server.id}#${life} disk error ${e.message}`);
        // The log and the stable state have no way around a failed write or sync: the node
        // must stop (fail-stop) before it says anything that assumed it worked.
        if (e.path.includes("/raft/") && server.opened !== null) {
          this.scheduler.schedule(50, () => {
            if (proc.isAlive) this.fail(`${server.id}#${life} carried on after ${e.message}`);
          });
        }
      }
    }, this.config.syncLatencyMsMax === null ? null : () => lifeRng.range(0, this.config.syncLatencyMsMax!));
    server.process = proc;
    let opened: OpenedNode;
    try {
      opened = openNode(
        {
          nodeId: server.id,
          raftAddr: server.addr,
          dataDir: server.dataDir,
          isJoining: server.isSpare,
          electionTicks: this.config.electionTicks,
          tickMs: this.config.tickMs,
          heartbeatTicks: this.config.heartbeatTicks,
          snapshotThresholdEntries: this.config.snapshotThresholdEntries,
          snapshotTrailingEntries: this.config.snapshotTrailingEntries,
          // The WAL preallocates at most one segment's worth.
          walPreallocateBytes: Math.min(this.config.walPreallocateBytes, this.config.walSegmentBytesMax ?? Infinity),
          ...(this.config.walSegmentBytesMax === null ? {} : { walSegmentBytesMax: this.config.walSegmentBytesMax }),
          requestTimeoutMs: this.config.requestTimeoutMs,
          bodyBytesMax: 1024 * 1024,
          bootstrapMembers: this.bootstrapMembers,
        },
        {
          ...simSeams({
            proc, disk, wire: this.wire, addr: server.addr, tickMs: this.config.tickMs, rng: lifeRng, logger, closesOnCrash: this.config.closesOnCrash,
            ...(this.transportTap === null ? {} : { wrapTransport: (t: Transport<Envelope>) => tapped(t, this.transportTap!, server, life) }),
          }),
          // Fail-stop: the real process exits (status 70): its memory is gone, what it wrote
          // stays in the page cache. Sometimes the machine loses power as well.
          onFatal: (e) => {
            if (!proc.isAlive) return;
            this.log(`${server.id}#${life} fatal: ${e instanceof Error ? e.message : String(e)}`);
            if (this.#diskRng.chance(0.5)) this.exit(server);
            else this.crash(server, this.#diskRng.chance(0.5) ? "tear" : "drop");
          },
          observer: {
            applied: (e: Entry, result?: unknown) => {
              this.checker.applied(server.id, e);
              this.once.applied(server.id, e, result);
            },
          },
        },
      );
    } catch (e) {
      if (!proc.isAlive) return false; // An armed crash struck during the start.
      proc.kill();
      server.process = null;
      if (e instanceof StorageDamageError || e instanceof StartError) {
        this.log(`${server.id}#${life} refused to start: ${e.message}`);
        if (server.flipped.length === 0) {
          this.fail(`${server.id}#${life} refused an undamaged data directory: ${e.name}: ${e.message}`);
        } else if (!server.flipped.some((f) => e.message.includes(f))) {
          this.fail(`${server.id}#${life} refused to start naming no damaged file (flipped: ${server.flipped.join(", ")}): ${e.message}`);
        }
        server.refused = e;
        return false;
      }
      if (e instanceof SimFaultError) {
        this.log(`${server.id}#${life} start failed: ${e.message}`); // The real process exits 1.
        return false;
      }
      throw e;
    }
    server.opened = opened;
    server.refused = null;
    server.flipped = [];
    server.restartFloor = opened.node.core.status().snapshotIndex;
    this.log(`${server.id}#${life} started (incarnation ${opened.incarnation})`);
    opened.start().catch((e: unknown) => this.log(`${server.id}#${life} failed to start: ${String(e)}`));
    return true;
  }

  /** Records the first failed check (thrown by the run at the next step). */
  fail(message: string): void {
    this.log(`CHECK FAILED: ${message}`);
    this.failure ??= message;
  }

  /** The process exits (fail-stop) without a power loss: memory gone, the page cache kept. */
  exit(server: SimServer): void {
    if (server.process === null) return;
    server.process.kill();
    server.opened?.node.stop();
    server.process = null;
    server.opened = null;
    this.log(`${server.id} exited`);
    if (this.config.closesOnCrash) this.wire.peerGone(server.addr);
    for (const listener of this.crashListeners) listener(server);
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
    if (this.config.closesOnCrash) this.wire.peerGone(server.addr);
    this.#maybeFlipBit(server);
    for (const listener of this.crashListeners) listener(server);
  }

  /**
   * Runs one event, lets its promise continuations run, then checks every live node that
   * could have changed. An event that is a timer, deferred work or a frame delivery of one
   * process runs only that process's code (processes share nothing but the wire, whose
   * deliveries are events of their own), so only nodes whose code ran are checked; any other
   * event (clients, nemesis, membership) may have called into any node: all are checked. A
   * node left out is unchanged since it was last checked, so checking it again could find
   * nothing new (observe is a function of its state and the checker's record of it).
   */
  async step(): Promise<boolean> {
    this.#isEventOwned = false;
    if (!this.scheduler.runOne()) return false;
    await drainMicrotasks();
    this.check(!this.#isEventOwned);
    if (this.failure !== null) throw new WorldCheckError(this.failure);
    return true;
  }

  /** Runs events until simulated time `time`. */
  async runUntil(time: number): Promise<void> {
    while (this.scheduler.peekTime() <= time) await this.step();
  }

  /** The safety checkers on every live node (Raft paper figure 3 plus the core's invariants); with `all` false, only on those marked dirty. */
  check(all = true): void {
    for (const s of this.servers) {
      if (!s.isUp || !(all || s.isDirty)) continue;
      s.isDirty = false;
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
      if (st.role === "leader" && !st.removed && st.term > bestTerm) {
        best = s;
        bestTerm = st.term;
      }
    }
    return best;
  }
}

/** `t` with `tap` looking at (and possibly taking over) every message `server`'s life `life` sends. */
function tapped(t: Transport<Envelope>, tap: TransportTap, server: SimServer, life: number): Transport<Envelope> {
  return {
    listen: () => t.listen(),
    send: (peerAddr, env) => tap(server, life, peerAddr, env) || t.send(peerAddr, env),
    flush: () => t.flush(),
    close: () => t.close(),
  };
}

/** Every file under `dir` on `disk`, recursively. */
function filesUnder(disk: SimDisk, dir: string): string[] {
  if (!disk.exists(dir)) return [];
  const out: string[] = [];
  for (const name of disk.list(dir)) {
    const p = `${dir}/${name}`;
    if (disk.isDir(p)) out.push(...filesUnder(disk, p));
    else out.push(p);
  }
  return out;
}

/**
 * What an armed crash or fault counts: any operation (mostly WAL appends and syncs), or only
 * the rarer ones where recovery is subtle: name changes (WAL compaction and truncation, the
 * stable store's rename, snapshot install and prune, recursive removal) and snapshot files.
 */
const opTargets: readonly (readonly [string, SimOpFilter | null])[] = [
  ["any operation", null],
  ["any operation", null],
  ["name changes", (syscall) => syscall === "rename" || syscall === "unlink" || syscall === "rmdir" || syscall === "remove" || syscall === "open"],
  ["snapshot files", (_syscall, path) => path.includes("/snapshots")],
  ["WAL segments", (syscall, path) => path.includes("/wal") && syscall !== "write"],
];
