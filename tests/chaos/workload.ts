// Concurrent clients against random nodes of a real cluster: single-key sets, deletes,
// multi-key sets and reads at every level, each recorded with invoke/complete times and an
// outcome (ok, fail, unknown) classified from what the node (or the network) answered.

import type { HistoryOp, KvOp, Outcome } from "../sim/checkers/linearizability.ts";
import type { SimRng } from "../sim/prng.ts";
import type { ChaosCluster, HttpResult } from "./cluster.ts";

/** Read levels of GET /key/<k>?level=. */
export type ReadLevel = "linearizable" | "leader" | "stale";

/** One recorded operation: the checker's HistoryOp plus where it went and what came back. */
export interface ChaosOp extends HistoryOp {
  readonly node: number;
  /** The level of a read; null for writes. */
  readonly level: ReadLevel | null;
  /** When the answer (or the client's give-up) came; completeTime is Infinity for unknown. */
  readonly returnTime: number;
  readonly detail: string;
  /** The node answered 500: a bug whatever the operation. */
  readonly isInternalError: boolean;
}

/**
 * The keys clients touch. Group keys are written only all together (one multi-key set, the same
 * token in every key) and never deleted, so any state where a group's keys differ is a torn write.
 */
export interface KeySpace {
  readonly singles: readonly string[];
  readonly groups: ReadonlyArray<readonly string[]>;
}

/** The default key space: 8 single keys and 2 groups of 3. */
export function defaultKeySpace(): KeySpace {
  return {
    singles: Array.from({ length: 8 }, (_, i) => `k${i}`),
    groups: [0, 1].map((g) => ["a", "b", "c"].map((s) => `g${g}${s}`)),
  };
}

/** Every key of a key space. */
export function allKeys(keys: KeySpace): string[] {
  return [...keys.singles, ...keys.groups.flat()];
}

/** A write's outcome from the answer: 200 ok; "outcome unknown", no answer or 500 unknown; else fail. */
export function classifyWrite(r: HttpResult): { outcome: Outcome; detail: string; isInternalError: boolean } {
  if (r.type === "noAnswer") return { outcome: "unknown", detail: r.reason, isInternalError: false };
  const detail = `${r.status} ${r.body}`.trim();
  if (r.status === 200) return { outcome: "ok", detail, isInternalError: false };
  if (r.status === 500) return { outcome: "unknown", detail, isInternalError: true };
  if (r.status === 503 && /outcome/i.test(r.body)) return { outcome: "unknown", detail, isInternalError: false };
  return { outcome: "fail", detail, isInternalError: false };
}

/** A read's outcome: 200 with `{"k":"v"}` is v, 404 "not found" is absence; anything else failed. */
export function classifyRead(r: HttpResult, key: string): { outcome: Outcome; value: string | null; detail: string; isInternalError: boolean } {
  if (r.type === "noAnswer") return { outcome: "fail", value: null, detail: r.reason, isInternalError: false };
  const detail = `${r.status} ${r.body}`.trim();
  if (r.status === 404 && /not found/i.test(r.body)) return { outcome: "ok", value: null, detail, isInternalError: false };
  if (r.status === 200) {
    try {
      const value = (JSON.parse(r.body) as Record<string, unknown>)[key];
      if (typeof value === "string") return { outcome: "ok", value, detail, isInternalError: false };
    } catch {
      // Falls through: a 200 we cannot read is a failed read, and a bug worth seeing.
    }
    return { outcome: "fail", value: null, detail: `unreadable 200: ${detail}`, isInternalError: true };
  }
  return { outcome: "fail", value: null, detail, isInternalError: r.status === 500 };
}

/** Options of a Workload. */
export interface WorkloadOptions {
  readonly cluster: ChaosCluster;
  readonly keys: KeySpace;
  readonly clientsCount: number;
  readonly rng: SimRng;
  readonly clock: () => number;
  /** Longer than the node's own 10 s request timeout, so the node decides most outcomes. */
  readonly writeTimeoutMs: number;
  readonly readTimeoutMs: number;
  /** Pause between a client's operations, drawn from [0, thinkMsMax]. */
  readonly thinkMsMax: number;
}

type Planned = { readonly op: KvOp; readonly level: ReadLevel | null };

/** Cumulative weights: single set, delete, multi-key set, then reads at each level. */
function planOp(rng: SimRng, keys: KeySpace, client: number, seq: number): Planned {
  const x = rng.int(100);
  const keysAll = allKeys(keys);
  if (x < 22) return { op: { type: "set", values: { [rng.pick(keys.singles)]: `c${client}-${seq}` } }, level: null };
  if (x < 30) return { op: { type: "delete", key: rng.pick(keys.singles) }, level: null };
  if (x < 42) {
    const token = `m${client}-${seq}`;
    return { op: { type: "set", values: Object.fromEntries(rng.pick(keys.groups).map((k) => [k, token])) }, level: null };
  }
  const level: ReadLevel = x < 80 ? "linearizable" : x < 90 ? "leader" : "stale";
  return { op: { type: "read", key: rng.pick(keysAll), value: null }, level };
}

/** Clients that run until stop(); the history grows as operations complete. */
export class Workload {
  readonly history: ChaosOp[] = [];
  readonly #o: WorkloadOptions;
  #isStopping = false;
  #nextId = 1;
  #running: Promise<void>[] = [];

  constructor(options: WorkloadOptions) {
    this.#o = options;
  }

  start(): void {
    for (let c = 0; c < this.#o.clientsCount; c++) this.#running.push(this.#client(c, this.#o.rng.fork(`client${c}`)));
  }

  /** Stops issuing operations and waits for those in flight; resolves with the whole history. */
  async stop(): Promise<ChaosOp[]> {
    this.#isStopping = true;
    await Promise.all(this.#running);
    return this.history;
  }

  async #client(client: number, rng: SimRng): Promise<void> {
    for (let seq = 0; !this.#isStopping; seq++) {
      const node = rng.int(this.#o.cluster.size);
      const planned = planOp(rng, this.#o.keys, client, seq);
      this.history.push(await this.perform(client, node, planned.op, planned.level));
      await Bun.sleep(rng.int(this.#o.thinkMsMax + 1));
    }
  }

  /** Performs one operation on `node` and returns its record (also used for the final reads). */
  async perform(client: number, node: number, op: KvOp, level: ReadLevel | null): Promise<ChaosOp> {
    const { cluster, clock } = this.#o;
    const id = this.#nextId++;
    const invokeTime = clock();
    let result: HttpResult;
    switch (op.type) {
      case "set":
        result = await cluster.request(node, "POST", "/key", { body: JSON.stringify(op.values), timeoutMs: this.#o.writeTimeoutMs });
        break;
      case "delete":
        result = await cluster.request(node, "DELETE", `/key/${encodeURIComponent(op.key)}`, { timeoutMs: this.#o.writeTimeoutMs });
        break;
      case "read":
        result = await cluster.request(node, "GET", `/key/${encodeURIComponent(op.key)}?level=${level ?? "linearizable"}`, {
          timeoutMs: this.#o.readTimeoutMs,
        });
        break;
      default:
        return unreachable(op);
    }
    const returnTime = clock();
    if (op.type === "read") {
      const r = classifyRead(result, op.key);
      return { id, client, op: { ...op, value: r.value }, invokeTime, completeTime: returnTime, returnTime, outcome: r.outcome, node, level, detail: r.detail, isInternalError: r.isInternalError };
    }
    const w = classifyWrite(result);
    const completeTime = w.outcome === "unknown" ? Infinity : returnTime;
    return { id, client, op, invokeTime, completeTime, returnTime, outcome: w.outcome, node, level, detail: w.detail, isInternalError: w.isInternalError };
  }
}

function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
