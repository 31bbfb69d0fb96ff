// A simulated cluster: N SimNodes on one Scheduler and SimNetwork, with crash/restart,
// partition and membership controls, and the safety checkers run after every event.

import type { ConfChange, Membership, Message, NodeId, ProposeResult, RaftConfig, RaftStatus, Snapshot } from "../../raft/core/mod.ts";
import { SafetyChecker } from "./checkers/safety.ts";
import { encodeCommand, type KvCommand } from "./kv_machine.ts";
import { createSimRng, type SimRng } from "./prng.ts";
import { Scheduler } from "./scheduler.ts";
import { SimNetwork } from "./sim_network.ts";
import { type NodeHooks, type NodeOptions, SimNode } from "./sim_node.ts";

/** Everything a cluster is built from; unset fields get the defaults below. */
export interface ClusterOptions {
  readonly seed: number;
  /** Voters at start (bootstrapped together). */
  readonly voters: number;
  /** Further nodes that start empty and wait to be added (membership tests). */
  readonly spares?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly snapshotEvery?: number;
  readonly trailingEntries?: number;
  readonly diskLatencyMaxMs?: number;
  readonly core?: Partial<Pick<RaftConfig, "inflightMessagesMax" | "appendBytesMax" | "snapshotChunkBytes" | "uncommittedBytesMax" | "pendingReadsMax" | "preVote" | "checkQuorum" | "quietAfterRestart">>;
}

/** Listeners the workload attaches to learn about applies and reads. */
export interface ClusterListener {
  applied?(node: SimNode, index: number, term: number): void;
  readServed?(node: SimNode, ctx: string): void;
  readLost?(node: SimNode, ctx: string): void;
}

/** The simulated cluster. Node ids are n1, n2, …; voters first, then spares. */
export class Cluster {
  readonly scheduler = new Scheduler();
  readonly rng: SimRng;
  readonly network: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly ids: NodeId[];
  readonly listeners: ClusterListener[] = [];
  /** Every entry applied anywhere, by index (data of `normal` entries), for MIT-style checks. */
  readonly appliedLog = new Map<number, { term: number; data: Uint8Array; kind: string }>();
  readonly options: Required<Omit<ClusterOptions, "core">> & Pick<ClusterOptions, "core">;
  #touched = new Set<SimNode>();
  #disconnected = new Set<NodeId>();
  /** Set to false to skip per-step checking (never in tests that claim safety). */
  checking = true;

  constructor(options: ClusterOptions) {
    this.options = {
      spares: 0, tickMs: 10, electionTicks: 10, heartbeatTicks: 2, snapshotEvery: 0, trailingEntries: 5,
      diskLatencyMaxMs: 2, ...options,
    };
    this.rng = createSimRng(options.seed);
    this.network = new SimNetwork(this.scheduler, this.rng.fork("network"), (m) => this.#deliver(m));
    const total = this.options.voters + this.options.spares;
    this.ids = Array.from({ length: total }, (_, i) => `n${i + 1}`);
    const bootstrap: Membership = {
      members: this.ids.slice(0, this.options.voters).map((id) => ({ id, addr: id, suffrage: "voter" as const })).sort((a, b) => (a.id < b.id ? -1 : 1)),
    };
    const hooks = this.#hooks();
    const nodeOptions: NodeOptions = {
      config: { electionTicks: this.options.electionTicks, heartbeatTicks: this.options.heartbeatTicks, ...this.options.core },
      snapshotEvery: this.options.snapshotEvery, trailingEntries: this.options.trailingEntries,
      diskLatencyMaxMs: this.options.diskLatencyMaxMs, tickMs: this.options.tickMs,
    };
    for (const [i, id] of this.ids.entries()) {
      const node = new SimNode(id, i < this.options.voters ? bootstrap : null, nodeOptions, this.scheduler, this.rng.fork(`node-${id}`), hooks);
      this.nodes.set(id, node);
    }
    for (const node of this.nodes.values()) node.start();
    this.check();
  }

  #hooks(): NodeHooks {
    return {
      touched: (node) => { this.#touched.add(node); },
      send: (msg) => this.network.send(msg),
      persisted: (node, entries) => { if (this.checking) this.checker.persisted(entries, (i) => node.storage.termAt(i)); },
      applied: (node, e) => {
        if (this.checking) this.checker.applied(node.id, e);
        if (!this.appliedLog.has(e.index)) this.appliedLog.set(e.index, { term: e.term, data: e.data, kind: e.kind });
        for (const l of this.listeners) l.applied?.(node, e.index, e.term);
      },
      restored: (node: SimNode, snap: Snapshot) => { if (this.checking) this.checker.snapshotAt(node.id, snap.meta.lastIncludedIndex, snap.data); },
      snapshotTaken: (node, index, data) => { if (this.checking) this.checker.snapshotAt(node.id, index, data); },
      readServed: (node, ctx) => { for (const l of this.listeners) l.readServed?.(node, ctx); },
      readDropped: (node, ctx) => { for (const l of this.listeners) l.readLost?.(node, ctx); },
    };
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  #deliver(msg: Message): void {
    const node = this.nodes.get(msg.to);
    if (node === undefined || !node.isUp) return;
    node.receive(msg);
  }

  /** Runs the checkers on every node touched since the last check. */
  check(): void {
    if (!this.checking) { this.#touched.clear(); return; }
    for (const node of this.#touched) {
      if (node.core === null) continue;
      const floor = node.storage.snapshot?.meta.lastIncludedIndex ?? 0;
      this.checker.observe(node.id, node.incarnation, node.core, node.lastApplied, floor);
    }
    this.#touched.clear();
  }

  /** Advances simulated time by `ms`, checking after every event. */
  run(ms: number): void {
    const end = this.scheduler.now + ms;
    while (this.scheduler.peekTime() <= end) {
      this.#step();
    }
    this.scheduler.runUntil(end);
  }

  /** Guard against livelock (a message storm never lets simulated time advance): events per run. */
  eventsMax = 500_000;

  #step(): void {
    if (this.scheduler.steps >= this.eventsMax) {
      throw new Error(`event budget of ${this.eventsMax} exhausted at ${this.scheduler.now} ms (message storm or livelock?)`);
    }
    // Every event belongs to one node (tick, delivery, disk completion), which marks itself
    // touched through NodeHooks.touched; only those nodes are checked.
    this.scheduler.runOne();
    this.check();
  }

  /** Runs until `pred` holds (checked after each event) or `msMax` passes; true if it held. */
  runUntil(pred: () => boolean, msMax: number): boolean {
    const end = this.scheduler.now + msMax;
    while (!pred()) {
      if (this.scheduler.peekTime() > end) { this.scheduler.runUntil(end); return pred(); }
      this.#step();
    }
    return true;
  }

  /** Ticks (in units of the node tick) → ms. */
  ticks(n: number): number {
    return n * this.options.tickMs;
  }

  crash(id: NodeId): void {
    const node = this.node(id);
    if (!node.isUp) return;
    const lost = node.crash();
    for (const ctx of lost) for (const l of this.listeners) l.readLost?.(node, ctx);
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.isUp) return;
    node.start();
    this.check();
  }

  /** Symmetric cut of `id` from everyone (MIT disconnect). */
  disconnect(id: NodeId): void {
    this.#disconnected.add(id);
    this.network.isolate(id, this.ids);
  }

  /** Undoes disconnect(id), keeping cuts to nodes that are themselves still disconnected. */
  connect(id: NodeId): void {
    this.#disconnected.delete(id);
    this.network.reconnect(id, this.ids.filter((o) => !this.#disconnected.has(o)));
  }

  /** Up and not disconnected (MIT's "connected" servers). */
  isConnected(id: NodeId): boolean {
    return this.node(id).isUp && !this.#disconnected.has(id);
  }

  status(id: NodeId): RaftStatus | null {
    return this.node(id).core?.status() ?? null;
  }

  /** Live nodes that believe they lead, newest term first. */
  leaders(): NodeId[] {
    const out: { id: NodeId; term: number }[] = [];
    for (const n of this.nodes.values()) {
      const st = n.core?.status();
      if (st !== undefined && st.role === "leader") out.push({ id: n.id, term: st.term });
    }
    return out.sort((a, b) => b.term - a.term).map((x) => x.id);
  }

  /** The leader of the highest term among live, connected-to-majority nodes, or null. */
  leader(): NodeId | null {
    return this.leaders()[0] ?? null;
  }

  propose(id: NodeId, cmd: KvCommand): ProposeResult {
    const node = this.node(id);
    const r = node.act((c) => c.propose(encodeCommand(cmd)));
    this.check();
    return r;
  }

  proposeConfChange(id: NodeId, change: ConfChange): ProposeResult {
    const node = this.node(id);
    const r = node.act((c) => c.proposeConfChange(change));
    this.check();
    return r;
  }

  transferLeadership(from: NodeId, to: NodeId): boolean {
    const node = this.node(from);
    const r = node.act((c) => c.transferLeadership(to));
    this.check();
    return r;
  }

  readIndex(id: NodeId, ctx: string): void {
    const node = this.node(id);
    node.act((c) => c.readIndex(ctx));
    this.check();
  }

  /** How many nodes have applied `index`, and the entry there (MIT nCommitted). */
  nApplied(index: number): number {
    let n = 0;
    for (const node of this.nodes.values()) if (node.lastApplied >= index) n++;
    return n;
  }
}
