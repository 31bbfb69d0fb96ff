// Test helper: N Raft cores joined by a synchronous, in-memory network with per-link cuts,
// plus a per-node "disk" that carries out each Ready. Not a test itself.

import {
  checkInvariants,
  createRaft,
  createRng,
  type Entry,
  type HardState,
  type InitialState,
  type Membership,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftCore,
  type ReadState,
  type Ready,
  type Snapshot,
} from "../../../raft/core/mod.ts";

/** What a node has on "disk": updated from each Ready as the driver contract says. */
export interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

export interface NetOptions {
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly seed?: number;
  readonly config?: Partial<RaftConfig>;
}

export function voters(ids: readonly NodeId[]): Membership {
  return { members: [...ids].sort().map((id) => ({ id, addr: `addr-${id}`, suffrage: "voter" as const })) };
}

/** Applies a Ready to a disk exactly as raft/core/ready.ts prescribes. */
export function persist(disk: Disk, rd: Ready): void {
  if (rd.snapshot !== null) {
    disk.snapshot = rd.snapshot;
    disk.entries = [];
  }
  const first = rd.entries[0];
  if (first !== undefined) {
    const base = disk.entries[0]?.index ?? first.index;
    disk.entries.length = Math.max(0, Math.min(disk.entries.length, first.index - base));
    for (const e of rd.entries) disk.entries.push(e);
  }
  if (rd.hardState !== null) disk.hardState = rd.hardState;
}

export class Net {
  readonly cores = new Map<NodeId, RaftCore>();
  readonly disks = new Map<NodeId, Disk>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly reads = new Map<NodeId, ReadState[]>();
  readonly dropped = new Map<NodeId, string[]>();
  readonly readies = new Map<NodeId, Ready[]>();
  /** Links "a>b" that drop messages. */
  readonly cut = new Set<string>();
  /** Every message delivered, for counting. */
  readonly sent: Message[] = [];
  /** Optional filter: return false to drop a message. */
  filter: ((m: Message) => boolean) | null = null;
  private readonly opts: NetOptions;

  constructor(opts: NetOptions = {}) {
    this.opts = opts;
  }

  /** A cluster of `ids`, all bootstrapped with the same voter membership. */
  static cluster(ids: readonly NodeId[], opts: NetOptions = {}): Net {
    const net = new Net(opts);
    for (const id of ids) net.add(id, voters(ids));
    return net;
  }

  config(id: NodeId): RaftConfig {
    let seed = this.opts.seed ?? 1;
    for (let i = 0; i < id.length; i++) seed = (seed * 31 + id.charCodeAt(i)) | 0;
    return {
      id,
      electionTicks: this.opts.electionTicks ?? 10,
      heartbeatTicks: this.opts.heartbeatTicks ?? 1,
      rng: createRng(seed),
      ...this.opts.config,
    };
  }

  /** Adds a node: bootstrapped with `bootstrap`, or empty and waiting (null). */
  add(id: NodeId, bootstrap: Membership | null, initial?: InitialState): RaftCore {
    const init: InitialState = initial ?? {
      hardState: { currentTerm: 0, votedFor: null }, snapshot: null, entries: [], bootstrap,
    };
    const core = createRaft(this.config(id), init);
    this.cores.set(id, core);
    this.disks.set(id, { hardState: init.hardState, snapshot: init.snapshot, entries: [...init.entries] });
    this.applied.set(id, this.applied.get(id) ?? []);
    this.reads.set(id, []);
    this.dropped.set(id, []);
    this.readies.set(id, []);
    return core;
  }

  /** Crash and restart `id` from its disk (loses everything not persisted). */
  restart(id: NodeId): RaftCore {
    const disk = this.disks.get(id) as Disk;
    this.applied.set(id, []);
    return this.add(id, null, { hardState: disk.hardState, snapshot: disk.snapshot, entries: disk.entries, bootstrap: null });
  }

  core(id: NodeId): RaftCore {
    const c = this.cores.get(id);
    if (c === undefined) throw new Error(`no node ${id}`);
    return c;
  }

  isolate(id: NodeId): void {
    for (const other of this.cores.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Runs one Ready on `id` and returns the messages it sends (delivery is the caller's). */
  readyOnce(id: NodeId): Message[] {
    const core = this.core(id);
    if (!core.hasReady()) return [];
    const rd = core.ready();
    this.readies.get(id)?.push(rd);
    persist(this.disks.get(id) as Disk, rd);
    (this.applied.get(id) as Entry[]).push(...rd.committed);
    (this.reads.get(id) as ReadState[]).push(...rd.readStates);
    (this.dropped.get(id) as string[]).push(...rd.droppedReads);
    core.advance(rd);
    checkInvariants(core);
    return [...rd.messages, ...rd.messagesAfterPersist];
  }

  deliver(m: Message): void {
    if (this.cut.has(`${m.from}>${m.to}`)) return;
    if (this.filter !== null && !this.filter(m)) return;
    const to = this.cores.get(m.to);
    if (to === undefined) return;
    this.sent.push(m);
    to.step(m);
    checkInvariants(to);
  }

  /** Runs Readies and delivers messages until the cluster is quiet. */
  settle(stepsMax = 10_000): void {
    for (let i = 0; i < stepsMax; i++) {
      let moved = false;
      for (const id of [...this.cores.keys()]) {
        const msgs = this.readyOnce(id);
        if (msgs.length > 0) moved = true;
        for (const m of msgs) this.deliver(m);
      }
      if (!moved && ![...this.cores.values()].some((c) => c.hasReady())) return;
    }
    throw new Error("network did not settle");
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.core(id).tick();
      this.settle();
    }
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const c of this.cores.values()) c.tick();
      this.settle();
    }
  }

  /** Ticks only `id` until it is leader (its peers hear it through the network). */
  elect(id: NodeId, ticksMax = 100): void {
    for (let i = 0; i < ticksMax; i++) {
      if (this.core(id).status().role === "leader") return;
      this.tick(id);
    }
    throw new Error(`${id} was not elected`);
  }

  leader(): NodeId | null {
    let found: NodeId | null = null;
    let term = -1;
    for (const [id, c] of this.cores) {
      const s = c.status();
      if (s.role === "leader" && s.term > term) {
        found = id;
        term = s.term;
      }
    }
    return found;
  }

  /** Application data applied on `id`, decoded as text. */
  appliedData(id: NodeId): string[] {
    return (this.applied.get(id) ?? []).filter((e) => e.kind === "normal").map((e) => new TextDecoder().decode(e.data));
  }
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
