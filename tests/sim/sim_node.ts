// One simulated server: a Raft core, its durable storage, its KV state machine and a tiny
// driver that carries out each Ready exactly as raft/core/ready.ts orders it.

import {
  createRaft, createRng, type Entry, type Membership, type Message, type RaftConfig, type RaftCore, type Ready, type Snapshot,
} from "../../raft/core/mod.ts";
import { decodeCommand, KvMachine } from "./kv_machine.ts";
import type { SimRng } from "./prng.ts";
import type { Scheduler } from "./scheduler.ts";
import { SimStorage } from "./sim_storage.ts";

/** What a node reports to the cluster (checkers, workload). All optional. */
export interface NodeHooks {
  /** The node's core is about to be driven (tick, message, disk completion): check it afterwards. */
  touched(node: SimNode): void;
  /** A message leaves the node. */
  send(msg: Message): void;
  /** Entries were made durable (after truncation of any conflicting suffix). */
  persisted(node: SimNode, entries: readonly Entry[]): void;
  applied(node: SimNode, entry: Entry): void;
  /** The state machine was replaced by a snapshot (installed from the leader or at restart). */
  restored(node: SimNode, snapshot: Snapshot): void;
  /** The application took a snapshot at `index` with these bytes. */
  snapshotTaken(node: SimNode, index: number, data: Uint8Array): void;
  /** A ReadIndex read may be served now (the state machine has applied ≥ its readIndex). */
  readServed(node: SimNode, ctx: string, readIndex: number): void;
  readDropped(node: SimNode, ctx: string): void;
}

/** Per-node knobs, drawn per seed by the cluster. */
export interface NodeOptions {
  readonly config: Omit<RaftConfig, "id" | "rng">;
  /** Take a snapshot every this many applied entries (0: never). */
  readonly snapshotEvery: number;
  readonly trailingEntries: number;
  /** Disk write latency drawn from [0, max] ms; 0 completes within the same event. */
  readonly diskLatencyMaxMs: number;
  readonly tickMs: number;
}

/** A simulated server. `core` is null while the node is crashed. */
export class SimNode {
  readonly id: string;
  readonly storage = new SimStorage();
  core: RaftCore | null = null;
  machine = new KvMachine();
  lastApplied = 0;
  /** Bumped at each crash; work scheduled by an older incarnation is discarded. */
  incarnation = 0;
  #readyOutstanding = false;
  #appliedMembership: Membership;
  #lastAppliedTerm = 0;
  #pendingReads: { ctx: string; readIndex: number }[] = [];
  readonly #bootstrap: Membership | null;

  constructor(
    id: string,
    bootstrap: Membership | null,
    readonly options: NodeOptions,
    readonly scheduler: Scheduler,
    readonly rng: SimRng,
    readonly hooks: NodeHooks,
  ) {
    this.id = id;
    this.#bootstrap = bootstrap;
    this.#appliedMembership = bootstrap ?? { members: [] };
  }

  get isUp(): boolean {
    return this.core !== null;
  }

  /** Starts (or restarts) from durable storage; the state machine is rebuilt from the durable snapshot. */
  start(): void {
    if (this.core !== null) throw new Error(`${this.id} already running`);
    this.incarnation++;
    const initial = this.storage.initialState(this.#bootstrap);
    this.machine = new KvMachine();
    this.lastApplied = 0;
    this.#lastAppliedTerm = 0;
    this.#appliedMembership = this.#bootstrap ?? { members: [] };
    this.#pendingReads = [];
    this.#readyOutstanding = false;
    this.hooks.touched(this);
    if (initial.snapshot !== null) this.#restore(initial.snapshot);
    const rngSeed = this.rng.int(0x7fffffff);
    this.core = createRaft({ ...this.options.config, id: this.id, rng: createRng(rngSeed) }, initial);
    const inc = this.incarnation;
    const tick = (): void => {
      if (this.incarnation !== inc || this.core === null) return;
      this.hooks.touched(this);
      this.core.tick();
      this.pump();
      this.scheduler.schedule(this.options.tickMs, tick);
    };
    this.scheduler.schedule(this.rng.range(1, this.options.tickMs), tick);
    this.pump();
  }

  /** Loses everything not durable: the core, the state machine, any Ready in flight. */
  crash(): string[] {
    const lostReads = this.#pendingReads.map((r) => r.ctx);
    this.core = null;
    this.incarnation++;
    this.#pendingReads = [];
    this.#readyOutstanding = false;
    return lostReads;
  }

  /** Delivers a message from the network. */
  receive(msg: Message): void {
    if (this.core === null) return;
    this.hooks.touched(this);
    this.core.step(msg);
    this.pump();
  }

  /** Runs `fn` against the live core and then drives any resulting Ready. */
  act<T>(fn: (core: RaftCore) => T): T {
    if (this.core === null) throw new Error(`${this.id} is down`);
    this.hooks.touched(this);
    const result = fn(this.core);
    this.pump();
    return result;
  }

  /** Takes the next Ready, if any and none is outstanding: messages go now, the rest after the disk write. */
  pump(): void {
    const core = this.core;
    if (core === null || this.#readyOutstanding || !core.hasReady()) return;
    const rd = core.ready();
    this.#readyOutstanding = true;
    for (const m of rd.messages) this.hooks.send(m);
    const needsDisk = rd.hardState !== null || rd.snapshot !== null || rd.entries.length > 0;
    const latency = needsDisk ? this.rng.range(0, this.options.diskLatencyMaxMs) : 0;
    if (latency === 0) {
      this.#complete(rd);
      return;
    }
    const inc = this.incarnation;
    this.scheduler.schedule(latency, () => {
      if (this.incarnation === inc) this.#complete(rd);
    });
  }

  #complete(rd: Ready): void {
    const core = this.core;
    if (core === null) return;
    this.hooks.touched(this);
    // 1. Persist: snapshot, then entries (truncating the suffix), then hard state.
    if (rd.snapshot !== null) this.storage.installSnapshot(rd.snapshot);
    if (rd.entries.length > 0) {
      this.storage.appendEntries(rd.entries);
      this.hooks.persisted(this, rd.entries);
    }
    if (rd.hardState !== null) this.storage.hardState = { ...rd.hardState };
    if (rd.snapshot !== null || rd.entries.length > 0 || rd.hardState !== null) this.storage.syncCount++;
    // 2. Persist before you speak: votes and acks leave only now.
    for (const m of rd.messagesAfterPersist) this.hooks.send(m);
    // 3. Apply.
    if (rd.snapshot !== null) this.#restore(rd.snapshot);
    for (const e of rd.committed) this.#apply(e);
    // 4. Reads.
    for (const r of rd.readStates) this.#pendingReads.push({ ctx: r.ctx, readIndex: r.readIndex });
    for (const ctx of rd.droppedReads) this.hooks.readDropped(this, ctx);
    this.#serveReads();
    // 5. Advance, then maybe compact.
    core.advance(rd);
    this.#readyOutstanding = false;
    this.#maybeSnapshot(core);
    this.pump();
  }

  #restore(snapshot: Snapshot): void {
    if (snapshot.meta.lastIncludedIndex <= this.lastApplied && this.lastApplied > 0) return;
    this.machine.restore(snapshot.data);
    this.lastApplied = snapshot.meta.lastIncludedIndex;
    this.#lastAppliedTerm = snapshot.meta.lastIncludedTerm;
    this.#appliedMembership = snapshot.meta.membership;
    this.hooks.restored(this, snapshot);
  }

  #apply(e: Entry): void {
    if (e.index <= this.lastApplied) return; // already covered by a restored snapshot
    if (e.index !== this.lastApplied + 1) {
      throw new Error(`${this.id} asked to apply ${e.index} after ${this.lastApplied}: gap in committed entries`);
    }
    if (e.kind === "normal") this.machine.apply(decodeCommand(e.data));
    if (e.kind === "config" && e.membership !== undefined) this.#appliedMembership = e.membership;
    this.lastApplied = e.index;
    this.#lastAppliedTerm = e.term;
    this.hooks.applied(this, e);
  }

  #serveReads(): void {
    const ready = this.#pendingReads.filter((r) => r.readIndex <= this.lastApplied);
    if (ready.length === 0) return;
    this.#pendingReads = this.#pendingReads.filter((r) => r.readIndex > this.lastApplied);
    for (const r of ready) this.hooks.readServed(this, r.ctx, r.readIndex);
  }

  /** Snapshot every `snapshotEvery` applied entries (§7): written durably, then handed to the core. */
  #maybeSnapshot(core: RaftCore): void {
    const every = this.options.snapshotEvery;
    const current = this.storage.snapshot?.meta.lastIncludedIndex ?? 0;
    if (every <= 0 || this.lastApplied - current < every) return;
    const data = this.machine.snapshot();
    const snapshot: Snapshot = {
      meta: { lastIncludedIndex: this.lastApplied, lastIncludedTerm: this.#lastAppliedTerm, membership: this.#appliedMembership },
      data,
    };
    this.storage.installSnapshot(snapshot);
    this.hooks.snapshotTaken(this, this.lastApplied, data);
    core.snapshotTaken(this.lastApplied, data, this.options.trailingEntries);
  }
}
