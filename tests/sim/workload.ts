// Seeded clients: set, delete, multi-key set (all keys in one entry) and ReadIndex reads,
// recording every operation's invoke/complete times and outcome for the linearizability checker.

import type { NodeId } from "../../raft/core/mod.ts";
import type { HistoryOp, KvOp, Outcome } from "./checkers/linearizability.ts";
import type { Cluster } from "./cluster.ts";
import type { KvCommand } from "./kv_machine.ts";
import type { SimRng } from "./prng.ts";

/** Mix and pace of client operations. Rates are probabilities of each kind per operation. */
export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  readonly readRate: number;
  readonly deleteRate: number;
  readonly multiKeyRate: number;
  readonly thinkMsMax: number;
  /** A client gives up on an operation after this long (its outcome is then unknown). */
  readonly timeoutMs: number;
  /** Upper bound on operations per run (keeps the linearizability search small). */
  readonly opsMax: number;
}

interface Pending {
  readonly id: number;
  readonly client: number;
  /** Reads get their observed value filled in when they complete. */
  op: KvOp;
  readonly invokeTime: number;
  /** For writes: the entry the leader placed it at. */
  readonly at: { index: number; term: number } | null;
  readonly node: NodeId;
  completeTime: number;
  outcome: Outcome | "pending";
}

/** Runs clients against a Cluster and keeps their history. */
export class Workload {
  readonly #ops: Pending[] = [];
  readonly #byIndex = new Map<number, Pending[]>();
  readonly #reads = new Map<string, Pending>();
  #running = false;
  #leaderHint: NodeId | null = null;
  #nextValue = 0;
  /** Operations that reached the cluster (accepted proposals, reads sent); opsMax bounds these. */
  #effective = 0;

  constructor(readonly cluster: Cluster, readonly rng: SimRng, readonly options: WorkloadOptions) {
    cluster.listeners.push({
      applied: (_node, index, term) => this.#resolveIndex(index, term),
      readServed: (node, ctx) => {
        const p = this.#reads.get(ctx);
        if (p !== undefined && p.op.type === "read") this.#finishRead(ctx, node.machine.get(p.op.key), "ok");
      },
      readLost: (_node, ctx) => this.#finishRead(ctx, null, "fail"),
    });
  }

  /** Starts every client after a random delay. */
  start(): void {
    this.#running = true;
    for (let c = 0; c < this.options.clients; c++) this.#next(c, this.rng.range(0, this.options.thinkMsMax));
  }

  /** Clients stop issuing new operations (outstanding ones still resolve). */
  stop(): void {
    this.#running = false;
  }

  /** Operations that reached the cluster (immediate refusals not counted). */
  get opsIssued(): number {
    return this.#effective;
  }

  /** Writes accepted by a leader whose fate is not known yet. */
  unresolvedWrites(): number {
    return this.#ops.filter((o) => o.at !== null && (o.outcome === "pending" || o.outcome === "unknown")).length;
  }

  /** Highest log index at which an unresolved write was placed (0 if none). */
  maxUnresolvedIndex(): number {
    let max = 0;
    for (const o of this.#ops) {
      if (o.at !== null && (o.outcome === "pending" || o.outcome === "unknown")) max = Math.max(max, o.at.index);
    }
    return max;
  }

  #next(client: number, delay: number): void {
    this.cluster.scheduler.schedule(delay, () => {
      if (!this.#running || this.#effective >= this.options.opsMax) return;
      this.#issue(client);
    });
  }

  #pickOp(): KvOp {
    const key = (): string => `k${this.rng.int(this.options.keys)}`;
    const value = (): string => `v${this.#nextValue++}`;
    if (this.rng.chance(this.options.readRate)) return { type: "read", key: key(), value: null };
    if (this.rng.chance(this.options.deleteRate)) return { type: "delete", key: key() };
    const values: Record<string, string> = { [key()]: value() };
    if (this.rng.chance(this.options.multiKeyRate)) for (let i = this.rng.range(1, 2); i > 0; i--) values[key()] = value();
    return { type: "set", values };
  }

  #target(isWrite: boolean): NodeId {
    const live = this.cluster.ids.filter((id) => this.cluster.node(id).isUp);
    if (isWrite && this.#leaderHint !== null && this.rng.chance(0.9)) return this.#leaderHint;
    return live.length > 0 ? this.rng.pick(live) : this.rng.pick(this.cluster.ids);
  }

  #issue(client: number): void {
    const op = this.#pickOp();
    const now = this.cluster.scheduler.now;
    const node = this.#target(op.type !== "read");
    const base = { id: this.#ops.length, client, op, invokeTime: now, node, completeTime: Infinity };
    if (!this.cluster.node(node).isUp) {
      this.#ops.push({ ...base, at: null, completeTime: now, outcome: "fail" });
      this.#next(client, this.rng.range(1, this.options.thinkMsMax));
      return;
    }
    if (op.type === "read") {
      const p: Pending = { ...base, at: null, outcome: "pending" };
      this.#ops.push(p);
      this.#reads.set(`r${p.id}`, p);
      this.#effective++;
      this.cluster.readIndex(node, `r${p.id}`);
      this.#armTimeout(p);
      return;
    }
    const cmd: KvCommand = op.type === "set" ? { type: "set", values: op.values } : { type: "delete", key: op.key };
    const r = this.cluster.propose(node, cmd);
    if (!r.ok) {
      this.#leaderHint = r.leader;
      this.#ops.push({ ...base, at: null, completeTime: now, outcome: "fail" });
      this.#next(client, this.rng.range(1, this.options.thinkMsMax));
      return;
    }
    const p: Pending = { ...base, at: { index: r.id.index, term: r.id.term }, outcome: "pending" };
    this.#ops.push(p);
    this.#effective++;
    const list = this.#byIndex.get(r.id.index);
    if (list === undefined) this.#byIndex.set(r.id.index, [p]);
    else list.push(p);
    this.#armTimeout(p);
    // A stale leader may place an entry at an index already committed elsewhere: decided now.
    const committed = this.cluster.appliedLog.get(r.id.index);
    if (committed !== undefined) this.#resolveIndex(r.id.index, committed.term);
  }

  #armTimeout(p: Pending): void {
    this.cluster.scheduler.schedule(this.options.timeoutMs, () => {
      if (p.outcome !== "pending") return;
      p.outcome = "unknown";
      if (p.op.type === "read") this.#reads.delete(`r${p.id}`);
      else this.#leaderHint = null;
      this.#next(p.client, this.rng.range(1, this.options.thinkMsMax));
    });
  }

  /** An entry (index, term) is committed: the write placed there is ok; others placed at that index never commit. */
  #resolveIndex(index: number, term: number): void {
    const waiting = this.#byIndex.get(index);
    if (waiting === undefined) return;
    this.#byIndex.delete(index);
    const now = this.cluster.scheduler.now;
    for (const p of waiting) {
      const wasPending = p.outcome === "pending";
      p.outcome = p.at!.term === term ? "ok" : "fail";
      p.completeTime = now;
      if (p.outcome === "ok") this.#leaderHint = p.node;
      if (wasPending) this.#next(p.client, this.rng.range(1, this.options.thinkMsMax));
    }
  }

  #finishRead(ctx: string, value: string | null, outcome: Outcome): void {
    const p = this.#reads.get(ctx);
    if (p === undefined || p.op.type !== "read") return;
    this.#reads.delete(ctx);
    const wasPending = p.outcome === "pending";
    p.outcome = outcome;
    p.completeTime = this.cluster.scheduler.now;
    p.op = { type: "read", key: p.op.key, value };
    if (wasPending) this.#next(p.client, this.rng.range(1, this.options.thinkMsMax));
  }

  /** The history so far; writes never resolved are unknown (they may still commit). */
  history(): HistoryOp[] {
    return this.#ops.map((p) => ({
      id: p.id, client: p.client, op: p.op, invokeTime: p.invokeTime,
      outcome: p.outcome === "pending" ? "unknown" : p.outcome,
      completeTime: p.outcome === "pending" || p.outcome === "unknown" ? Infinity : p.completeTime,
    }));
  }

  /** Writes acknowledged as committed, by (index, term), for the "no acknowledged write lost" check. */
  acknowledged(): { index: number; term: number }[] {
    return this.#ops.filter((p) => p.outcome === "ok" && p.at !== null).map((p) => p.at!);
  }
}
