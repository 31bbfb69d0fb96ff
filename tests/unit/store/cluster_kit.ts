// Test helper: a few production nodes (Raft core, driver, Store, state machine) joined by an
// in-memory wire that carries real encoded envelopes (raft/envelope.ts), with one manual clock
// and one deferred-work queue. Frames can be held and released one by one, so a test can
// replay the interleavings a restart or a pause produces. Processes restart from what their
// storage persisted, with a new incarnation. Not a test itself.

import { createFetch } from "../../../http/fast_fetch.ts";
import { createRaft, createRng, type Entry, type HardState, type Membership, type NodeId } from "../../../raft/core/mod.ts";
import { decodeEnvelope, type Envelope, encodeEnvelope } from "../../../raft/envelope.ts";
import type { Timers } from "../../../raft/host.ts";
import { RaftNode } from "../../../raft/node.ts";
import type { RaftStorage } from "../../../raft/node_options.ts";
import { parseStoreMessage, storeMessageValue, type StoreMessage } from "../../../store/forward.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";
import { Store } from "../../../store/store.ts";

export const tickMs = 10;
export const electionTicks = 10;
export const heartbeatTicks = 2;

/** A frame on the wire, decoded for the tests' predicates. */
export interface Frame {
  readonly to: string;
  readonly env: Envelope;
  readonly bytes: Uint8Array;
}

/** What a node's storage holds across restarts. */
interface Durable {
  hardState: HardState;
  entries: Entry[];
}

class MemStorage implements RaftStorage {
  constructor(private readonly d: Durable) {}
  persist(hardState: HardState | null, _snapshot: unknown, entries: readonly Entry[]): void {
    const first = entries[0];
    if (first !== undefined) {
      this.d.entries.length = Math.min(this.d.entries.length, first.index - 1);
      this.d.entries.push(...entries);
    }
    if (hardState !== null) this.d.hardState = hardState;
  }
  saveSnapshot(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Timers on the kit's clock (option `storeTimers`): they fire as tick() and advance() move it,
 * in the order they are due.
 */
class KitTimers implements Timers {
  readonly #clock: { t: number };
  readonly #due = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  constructor(clock: { t: number }) {
    this.#clock = clock;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#due.set(id, { at: this.#clock.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#due.delete(handle as number);
  }
  /** Runs every timer due by now, earliest first (one set while running runs too if due). */
  fireDue(): boolean {
    let fired = false;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.#due) if (e[1].at <= this.#clock.t && (first === null || e[1].at < first[1].at)) first = e;
      if (first === null) return fired;
      this.#due.delete(first[0]);
      first[1].fn();
      fired = true;
    }
  }
}

/** One running process of a node. */
export interface Proc {
  readonly id: NodeId;
  readonly addr: string;
  readonly incarnation: string;
  readonly node: RaftNode;
  readonly store: Store;
  readonly sm: KvStateMachine;
}

export class Cluster {
  /** Monotonic time of every process (ms); tests advance it, as real time passes. */
  readonly clock = { t: 1000, now: (): number => this.clock.t };
  readonly procs = new Map<NodeId, Proc>();
  /** Frames the predicate held back, in order; release() delivers them. */
  held: Frame[] = [];
  /** Frames for which this returns true are held instead of delivered. */
  hold: (f: Frame) => boolean = () => false;
  private readonly durable = new Map<NodeId, Durable>();
  private readonly generation = new Map<NodeId, number>();
  private wire: Frame[] = [];
  private deferred: (() => void)[] = [];
  private readonly membership: Membership;

  /** Reads a node lets wait at once (RequestOptions.readsWaitingMax); the driver's default if unset. */
  private readonly readsWaitingMax: number | undefined;
  /** With `storeTimers`: the Stores' timers, and their wall clock is the kit's clock. */
  readonly storeTimers: KitTimers | null;

  constructor(ids: readonly NodeId[], options: { readsWaitingMax?: number; storeTimers?: boolean } = {}) {
    this.readsWaitingMax = options.readsWaitingMax;
    this.storeTimers = options.storeTimers === true ? new KitTimers(this.clock) : null;
    this.membership = { members: ids.map((id) => ({ id, addr: addrOf(id), suffrage: "voter" as const })) };
    for (const id of ids) {
      this.durable.set(id, { hardState: { currentTerm: 0, votedFor: null }, entries: [] });
      this.start(id, true);
    }
  }

  proc(id: NodeId): Proc {
    const p = this.procs.get(id);
    if (p === undefined) throw new Error(`no process ${id}`);
    return p;
  }

  /** Starts a process of `id` from its storage (bootstrapping on the very first start). */
  private start(id: NodeId, first: boolean): Proc {
    const d = this.durable.get(id)!;
    const gen = (this.generation.get(id) ?? 0) + 1;
    this.generation.set(id, gen);
    const incarnation = `${id}-life${gen}`;
    const addr = addrOf(id);
    const core = createRaft(
      { id, electionTicks, heartbeatTicks, rng: createRng(id.charCodeAt(0) * 7919 + gen) },
      { hardState: d.hardState, snapshot: null, entries: [...d.entries], bootstrap: first ? this.membership : null },
    );
    const sm = new KvStateMachine();
    const send = (to: string, env: Envelope): boolean => {
      this.wire.push({ to, env, bytes: encodeEnvelope(env) });
      return true;
    };
    const store = new Store({
      id,
      raftAddr: addr,
      incarnation,
      stateMachine: sm,
      sendTo: (to: string, msg: StoreMessage) => send(to, { kind: "store", fromAddr: addr, payload: storeMessageValue(msg) }),
      requestTimeoutMs: 60_000,
      ...(this.storeTimers === null ? {} : { timers: this.storeTimers, clock: this.clock, wallClock: this.clock }),
    });
    const node = new RaftNode({
      core,
      storage: new MemStorage(d),
      stateMachine: { apply: (e) => sm.apply(e.data, e.index), snapshot: () => sm.snapshotAsync(), restore: (b) => sm.restore(b) },
      send: (msg) => void send(addrOf(msg.to), { kind: "raft", fromAddr: addr, msg }),
      events: {
        applied: (e) => store.applied(e),
        softState: (s) => store.softState(s),
        restored: () => undefined,
      },
      scheduler: { defer: (fn) => void this.deferred.push(fn) },
      logger: { info: () => {}, warn: () => {}, error: () => {} },
      snapshotThresholdEntries: 1_000_000,
      snapshotTrailingEntries: 100,
      start: { lastIncludedIndex: 0, lastIncludedTerm: 0, membership: first ? this.membership : { members: [] } },
      requests: {
        incarnation,
        timeoutMs: 60_000,
        ...(this.readsWaitingMax === undefined ? {} : { readsWaitingMax: this.readsWaitingMax }),
      },
      lease: { clock: this.clock, tickMs },
    });
    store.attach(node);
    const p: Proc = { id, addr, incarnation, node, store, sm };
    this.procs.set(id, p);
    return p;
  }

  /** Kills the process of `id` (memory lost, storage kept) and starts a new one. */
  restart(id: NodeId): Proc {
    const old = this.proc(id);
    old.node.stop();
    old.store.close();
    return this.start(id, false);
  }

  /** Runs deferred driver turns and delivers frames until nothing moves. */
  run(stepsMax = 100_000): void {
    for (let i = 0; i < stepsMax; i++) {
      const fn = this.deferred.shift();
      if (fn !== undefined) {
        fn();
        continue;
      }
      const f = this.wire.shift();
      if (f === undefined) return;
      if (this.hold(f)) this.held.push(f);
      else this.deliver(f);
    }
    throw new Error("cluster did not settle");
  }

  /** run(), letting promise callbacks (the Store's replies to forwarded requests) go out as well. */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      this.run();
      await flushMicrotasks();
    }
  }

  /**
   * Sends `request` through `fetch` (a node's HTTP handler) and lets the cluster work until the
   * answer is there (at most 20 settles): a request's reply may need the other nodes' messages.
   */
  async send(fetch: (r: Request) => Response | Promise<Response>, request: Request): Promise<Response> {
    const pending = Promise.resolve(fetch(request));
    let done: Response | null = null;
    void pending.then((r) => (done = r));
    for (let i = 0; i < 20 && done === null; i++) await this.settle();
    return pending;
  }

  /** `path` (with no leading slash) through node `id`'s real HTTP handler, answered as send() does. */
  sendPath(id: NodeId, path: string, init: RequestInit = {}): Promise<Response> {
    return this.send(createFetch(this.proc(id).store), new Request(`http://n/${path}`, init));
  }

  /** Delivers held frames matching `which` (all by default), in order, then runs. */
  release(which: (f: Frame) => boolean = () => true): void {
    const out = this.held.filter(which);
    this.held = this.held.filter((f) => !which(f));
    for (const f of out) this.deliver(f);
    this.run();
  }

  /**
   * Delivers held frames matching `which`, in order, and nothing else: no deferred driver turn
   * runs, so a test sees what a node does in the turn a frame arrives.
   */
  deliverHeld(which: (f: Frame) => boolean): void {
    const out = this.held.filter(which);
    this.held = this.held.filter((f) => !which(f));
    for (const f of out) this.deliver(f);
  }

  /** Deferred driver turns waiting to run. */
  get turnsDue(): number {
    return this.deferred.length;
  }

  /** One tick on each of `ids`, with the clock advanced by a tick, then runs. */
  tick(ids: readonly NodeId[], n = 1): void {
    for (let i = 0; i < n; i++) {
      this.clock.t += tickMs;
      for (const id of ids) this.proc(id).node.tick();
      this.run();
      if (this.storeTimers?.fireDue() === true) this.run();
    }
  }

  /** Moves the clock by `ms` without ticking (no election or heartbeat is due), firing the Stores' due timers. */
  async advance(ms: number): Promise<void> {
    this.clock.t += ms;
    this.storeTimers?.fireDue();
    await this.settle();
  }

  /** Ticks `ids` until `id` leads. */
  elect(id: NodeId, ids: readonly NodeId[] = [id]): void {
    for (let i = 0; i < 100; i++) {
      if (this.proc(id).node.core.status().role === "leader") return;
      this.tick(ids);
    }
    throw new Error(`${id} was not elected`);
  }

  /** The leader with the highest term among running processes, if any. */
  leader(): NodeId | null {
    let found: NodeId | null = null;
    let term = -1;
    for (const [id, p] of this.procs) {
      const s = p.node.core.status();
      if (s.role === "leader" && s.term > term) {
        found = id;
        term = s.term;
      }
    }
    return found;
  }

  close(): void {
    for (const p of this.procs.values()) {
      p.node.stop();
      p.store.close();
    }
  }

  private deliver(f: Frame): void {
    const env = decodeEnvelope(f.bytes);
    const p = [...this.procs.values()].find((q) => q.addr === f.to);
    if (p === undefined) return;
    if (env.kind === "raft") {
      p.node.receive(env.msg);
      return;
    }
    const msg = parseStoreMessage(env.payload);
    if (msg !== null) p.store.receive(env.fromAddr, msg);
  }
}

/** Three nodes "a", "b", "c" with "a" elected and heartbeats flowing: the HTTP route tests' cluster. */
export function ledThree(): { k: Cluster; a: NodeId; b: NodeId; c: NodeId } {
  const [a, b, c] = ["a", "b", "c"] as NodeId[] as [NodeId, NodeId, NodeId];
  const k = new Cluster([a, b, c]);
  k.elect(a);
  k.tick([a, b, c], 3);
  return { k, a, b, c };
}

/** Three nodes with "a" elected, "k" = "v" written and applied everywhere, heartbeats flowing: the read tests' cluster. */
export function electedWithKey(): Cluster {
  const c = new Cluster(["a", "b", "c"]);
  c.elect("a");
  c.proc("a").store.set([["k", "v"]]);
  c.run();
  c.tick(["a", "b", "c"], 3);
  return c;
}

export function addrOf(id: NodeId): string {
  return `${id}:12000`;
}

/** Frame predicates. */
export const isRaft = (f: Frame, type?: string): boolean => f.env.kind === "raft" && (type === undefined || f.env.msg.type === type);
export const isStore = (f: Frame): boolean => f.env.kind === "store";
export const toNode = (f: Frame, id: NodeId): boolean => f.to === addrOf(id);
export const fromNode = (f: Frame, id: NodeId): boolean => f.env.fromAddr === addrOf(id);
/** An AppendEntries without entries: a heartbeat. */
export const isHeartbeat = (f: Frame): boolean =>
  f.env.kind === "raft" && f.env.msg.type === "AppendEntries" && f.env.msg.entries.length === 0;

/** Settles a promise into an observable box (so tests can see whether it settled yet). */
export function track<T>(p: Promise<T>): { settled: boolean; value?: T; error?: unknown } {
  const box: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (v) => {
      box.settled = true;
      box.value = v;
    },
    (e: unknown) => {
      box.settled = true;
      box.error = e;
    },
  );
  return box;
}

/** Lets promise callbacks run. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
