// Concurrent clients against random nodes of a real cluster: single-key sets, deletes,
// multi-key sets and reads at every level, each recorded with invoke/complete times and an
// outcome (ok, fail, unknown) classified from what the node (or the network) answered.
// Issue 16, as the simulator's clients (tests/sim/world/clients.ts) do, judged by the same
// checker: half the writes carry an Idempotency-Key and are retried with it, at another node,
// after an unknown outcome (the whole retry loop is one operation, so a write applied twice is
// not linearizable; a 422 for the very same request is an anomaly of its own); conditional
// writes (a versioned read, then If-Match on that version or If-None-Match: *) are CasOps;
// listings (GET /key?prefix=&after=&limit=, following `next`) are, for every key of the key
// space in a page's range, a read of that key over the page's times, with the version listed;
// sets with ?ttl= on keys of their own are followed by an ExpireOp per key, due between the
// set's invocation and completion plus the TTL (every process runs on this machine's clock).

import type { CasOp, CheckedOp, ExpireOp, HistoryOp, KvOp, Outcome } from "../sim/checkers/linearizability.ts";
import type { SimRng } from "../sim/prng.ts";
import { requestWithHeaders } from "./client_request.ts";
import type { ChaosCluster, HttpResult } from "./cluster.ts";

/** Read levels of GET /key/<k>?level=. */
export type ReadLevel = "linearizable" | "leader" | "stale";

/** One recorded operation: the checker's HistoryOp plus where it went and what came back. */
export interface ChaosOp extends HistoryOp<CheckedOp> {
  readonly node: number;
  /** The level of a read; null for writes. */
  readonly level: ReadLevel | null;
  /** When the answer (or the client's give-up) came; completeTime is Infinity for unknown. */
  readonly returnTime: number;
  readonly detail: string;
  /** The node answered 500: a bug whatever the operation. */
  readonly isInternalError: boolean;
  /** What the report counts it as when not plain: "set-once", "delete-once", "cas", "list", "ttl-set", "expire". */
  readonly label?: string;
  /** A write's Idempotency-Key (its retries are this one operation) and how many attempts it took. */
  readonly idempotencyKey?: string;
  readonly attempts?: number;
  /** A retry of the very same request was answered 422: the node took it for another request. */
  readonly onceConflict?: boolean;
  /** A read's version (the log index of the value's write), when the answer carried one. */
  readonly version?: number;
  /** A listing page that broke its own contract (order, range, limit, cursor, shape). */
  readonly pageError?: string;
}

/**
 * The keys clients touch. Group keys are written only all together (one multi-key set, the same
 * token in every key) and never deleted, so any state where a group's keys differ is a torn write.
 */
export interface KeySpace {
  readonly singles: readonly string[];
  readonly groups: ReadonlyArray<readonly string[]>;
  /** Keys written with TTLs (and plainly, and deleted); no other write touches them. */
  readonly ttl?: readonly string[];
}

/** The default key space: 8 single keys, 2 groups of 3 and 3 keys for TTLs. */
export function defaultKeySpace(): KeySpace {
  return {
    singles: Array.from({ length: 8 }, (_, i) => `k${i}`),
    groups: [0, 1].map((g) => ["a", "b", "c"].map((s) => `g${g}${s}`)),
    ttl: ["t0", "t1", "t2"],
  };
}

/** Every key of a key space. */
export function allKeys(keys: KeySpace): string[] {
  return [...keys.singles, ...keys.groups.flat(), ...(keys.ttl ?? [])];
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
  /** The client proxy's socket, for requests with headers of their own (client_request.ts). */
  readonly proxySocket: string;
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

/** Retries of a write with an Idempotency-Key after an unknown outcome (so up to 4 attempts), as the simulator's clients. */
const onceRetriesMax = 3;
/** Pages one listing follows at most. */
const listPagesMax = 4;
/** TTLs of the TTL sets: long enough to be read before and after expiry, short enough to expire within a run. */
const ttlMsMin = 100;
const ttlMsMax = 1500;

/** What one client step does. */
export type Planned =
  | { readonly type: "plain"; readonly op: KvOp; readonly level: ReadLevel | null; readonly isOnce: boolean; readonly ttlMs: number | null }
  | { readonly type: "cas"; readonly key: string; readonly value: string }
  | { readonly type: "list"; readonly prefix: string; readonly limit: number; readonly level: ReadLevel };

/**
 * Cumulative weights: single set, delete, multi-key set (half of these three with an
 * Idempotency-Key), conditional write, listing, an operation on the TTL keys, then reads at
 * each level.
 */
export function planOp(rng: SimRng, keys: KeySpace, client: number, seq: number): Planned {
  const x = rng.int(100);
  const keysAll = allKeys(keys);
  const ttlKeys = keys.ttl ?? [];
  const plain = (op: KvOp, isOnce: boolean): Planned => ({ type: "plain", op, level: null, isOnce, ttlMs: null });
  if (x < 16) return plain({ type: "set", values: { [rng.pick(keys.singles)]: `c${client}-${seq}` } }, rng.chance(0.5));
  if (x < 22) return plain({ type: "delete", key: rng.pick(keys.singles) }, rng.chance(0.5));
  if (x < 32) {
    const token = `m${client}-${seq}`;
    return plain({ type: "set", values: Object.fromEntries(rng.pick(keys.groups).map((k) => [k, token])) }, rng.chance(0.5));
  }
  if (x < 40) return { type: "cas", key: rng.pick(keys.singles), value: `x${client}-${seq}` };
  if (x < 46) {
    const prefix = rng.pick(["", "k", "k1", "g0", "g1", "t"]);
    return { type: "list", prefix, limit: rng.range(1, 4), level: rng.chance(0.7) ? "linearizable" : rng.chance(0.5) ? "leader" : "stale" };
  }
  if (x < 54 && ttlKeys.length > 0) {
    const r = rng.int(5);
    if (r === 0) return plain({ type: "delete", key: rng.pick(ttlKeys) }, false);
    const values = Object.fromEntries(rng.shuffle([...ttlKeys]).slice(0, rng.range(1, 2)).map((k) => [k, `t${client}-${seq}`]));
    return { type: "plain", op: { type: "set", values }, level: null, isOnce: false, ttlMs: r === 1 ? null : rng.range(ttlMsMin, ttlMsMax) };
  }
  const level: ReadLevel = x < 80 ? "linearizable" : x < 90 ? "leader" : "stale";
  return { type: "plain", op: { type: "read", key: rng.pick(keysAll), value: null }, level, isOnce: false, ttlMs: null };
}

/** A listing page as GET /key answers it. */
export interface Page {
  readonly items: ReadonlyArray<{ readonly key: string; readonly value: string; readonly version: number }>;
  readonly next: string | null;
}

/** Why `body` is not a page that keeps its contract for (prefix, after, limit), or null if it is. */
export function pageError(body: string, prefix: string, after: string | null, limit: number): { page: Page | null; error: string | null } {
  let page: Page;
  try {
    page = JSON.parse(body) as Page;
  } catch {
    return { page: null, error: `unreadable page ${body.slice(0, 200)}` };
  }
  if (!Array.isArray(page.items) || (page.next !== null && typeof page.next !== "string")) return { page: null, error: `not a page: ${body.slice(0, 200)}` };
  let last = after;
  for (const item of page.items) {
    if (typeof item.key !== "string" || typeof item.value !== "string" || !Number.isSafeInteger(item.version)) return { page, error: `bad item ${JSON.stringify(item)}` };
    if (!item.key.startsWith(prefix) || (last !== null && item.key <= last)) return { page, error: `${JSON.stringify(item.key)} out of order or range (after ${String(last)})` };
    last = item.key;
  }
  if (page.items.length > limit) return { page, error: `${page.items.length} items past the limit ${limit}` };
  if (page.next !== null && page.next !== last) return { page, error: `cursor ${JSON.stringify(page.next)} is not the last key ${String(last)}` };
  return { page, error: null };
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
      switch (planned.type) {
        case "plain":
          if (planned.isOnce) this.history.push(await this.#performOnce(client, rng, node, planned.op, `w${client}-${seq}`));
          else await this.#performPlain(client, node, planned.op, planned.level, planned.ttlMs);
          break;
        case "cas":
          await this.#cas(client, node, planned.key, planned.value);
          break;
        case "list":
          await this.#list(client, rng, node, planned.prefix, planned.limit, planned.level);
          break;
        default:
          unreachable(planned);
      }
      await Bun.sleep(rng.int(this.#o.thinkMsMax + 1));
    }
  }

  /** A plain operation; a set with a TTL is followed by an ExpireOp per key unless it failed. */
  async #performPlain(client: number, node: number, op: KvOp, level: ReadLevel | null, ttlMs: number | null): Promise<void> {
    const done = await this.perform(client, node, op, level, { ttlMs });
    this.history.push(done);
    if (ttlMs === null || done.op.type !== "set" || done.outcome === "fail") return;
    for (const [key, value] of Object.entries(done.op.values)) {
      const expire: ExpireOp = { type: "expire", key, value };
      this.history.push({
        id: this.#nextId++, client, op: expire, invokeTime: done.invokeTime + ttlMs, completeTime: done.completeTime + ttlMs,
        returnTime: done.completeTime + ttlMs, outcome: done.outcome, node, level: null, detail: `expiry of #${done.id} (ttl ${ttlMs} ms)`,
        isInternalError: false, label: "expire",
      });
    }
  }

  /**
   * A write with an Idempotency-Key: retried with the same key at a random node after an
   * unknown outcome (and, once an attempt was unknown, after a refusal too: a refusal now does
   * not undo an earlier attempt), up to onceRetriesMax times; one operation from the first
   * attempt's invocation to the last one's answer. Unknown if it never got an answer that
   * settles it.
   */
  async #performOnce(client: number, rng: SimRng, node: number, op: KvOp, idempotencyKey: string): Promise<ChaosOp> {
    const first = await this.perform(client, node, op, null, { idempotencyKey });
    let last = first;
    let attempts = 1;
    let sawUnknown = first.outcome === "unknown";
    const details = [first.detail];
    let conflict = first.onceConflict === true;
    while (last.outcome !== "ok" && sawUnknown && attempts <= onceRetriesMax && !this.#isStopping) {
      await Bun.sleep(rng.range(50, 500));
      last = await this.perform(client, rng.int(this.#o.cluster.size), op, null, { idempotencyKey });
      attempts++;
      sawUnknown ||= last.outcome === "unknown";
      conflict ||= last.onceConflict === true;
      details.push(`node${last.node}: ${last.detail}`);
    }
    const outcome: Outcome = last.outcome === "fail" && sawUnknown ? "unknown" : last.outcome;
    return {
      ...first, outcome, completeTime: outcome === "unknown" ? Infinity : last.returnTime, returnTime: last.returnTime,
      detail: details.join(" | "), isInternalError: first.isInternalError || last.isInternalError, label: `${op.type}-once`, idempotencyKey, attempts,
      onceConflict: conflict,
    };
  }

  /**
   * A conditional write: a linearizable versioned read of `key` (a one-key listing, recorded
   * as the read it is), then `key` set to `value` with If-Match on the version read, or
   * If-None-Match: * if it was absent. 200 wrote it, 412 did not (both ok). A write that
   * answered its version (ETag, issue 16) is followed by one more, chained on that version
   * without a read: If-Match on it, expecting the value just written. A wrong version in the
   * answer makes that write's outcome contradict the register (a 412 while the key still
   * holds the value, or a write over another's).
   */
  async #cas(client: number, node: number, key: string, value: string): Promise<void> {
    const page = await this.#listPage(client, node, key, null, 1, "linearizable");
    if (page === null) return;
    const item = page.items.find((i) => i.key === key);
    const headers: Record<string, string> = item === undefined ? { "if-none-match": "*" } : { "if-match": `"${item.version}"` };
    const etag = await this.#casWrite(client, node, key, value, item?.value ?? null, headers);
    if (etag !== null) await this.#casWrite(client, node, key, `${value}+`, value, { "if-match": etag });
  }

  /** One conditional write of `key`, recorded as a CasOp expecting `expect`; the ETag of a 200 that carried one, else null. */
  async #casWrite(client: number, node: number, key: string, value: string, expect: string | null, headers: Record<string, string>): Promise<string | null> {
    const id = this.#nextId++;
    const invokeTime = this.#o.clock();
    const result = await requestWithHeaders(this.#o.proxySocket, this.#o.cluster.httpAddr(node), {
      method: "POST", path: "/key", body: JSON.stringify({ [key]: value }), headers, timeoutMs: this.#o.writeTimeoutMs,
    });
    const returnTime = this.#o.clock();
    const w = classifyWrite(result);
    const isRefused = result.type === "response" && result.status === 412;
    const outcome: Outcome = isRefused ? "ok" : w.outcome;
    const cas: CasOp = { type: "cas", key, expect, value, written: outcome === "ok" ? !isRefused : null };
    this.history.push({
      id, client, op: cas, invokeTime, completeTime: outcome === "unknown" ? Infinity : returnTime, returnTime, outcome, node, level: null,
      detail: `${JSON.stringify(headers)} ${w.detail}`, isInternalError: w.isInternalError, label: "cas",
    });
    return result.type === "response" && result.status === 200 && result.etag !== undefined ? result.etag : null;
  }

  /** A listing: up to listPagesMax pages following `next`; a refused page ends it. */
  async #list(client: number, rng: SimRng, node: number, prefix: string, limit: number, level: ReadLevel): Promise<void> {
    const inRange = allKeys(this.#o.keys).filter((k) => k.startsWith(prefix));
    let after = inRange.length > 0 && rng.chance(0.3) ? rng.pick(inRange) : null;
    for (let pages = 0; pages < listPagesMax; pages++) {
      const page = await this.#listPage(client, node, prefix, after, limit, level);
      if (page === null || page.next === null) return;
      after = page.next;
    }
  }

  /**
   * One page of GET /key, recorded as reads: for every key of the key space with the prefix,
   * after `after` and up to `next` (to the end when there is none), the value listed (with its
   * version) or absent, over the page's times. A refused page is one failed read; a page that
   * breaks its contract one failed read carrying pageError. Resolves with the page, or null.
   */
  async #listPage(client: number, node: number, prefix: string, after: string | null, limit: number, level: ReadLevel): Promise<Page | null> {
    const invokeTime = this.#o.clock();
    const query = `prefix=${encodeURIComponent(prefix)}&limit=${limit}&level=${level}${after === null ? "" : `&after=${encodeURIComponent(after)}`}`;
    const r = await this.#o.cluster.request(node, "GET", `/key?${query}`, { timeoutMs: this.#o.readTimeoutMs });
    const returnTime = this.#o.clock();
    const base = { client, invokeTime, completeTime: returnTime, returnTime, node, level, label: "list" };
    const failed = (detail: string, isInternalError: boolean, pageErr?: string): null => {
      const op: KvOp = { type: "read", key: `list:${prefix}`, value: null };
      this.history.push({ ...base, id: this.#nextId++, op, outcome: "fail", detail, isInternalError, ...(pageErr === undefined ? {} : { pageError: pageErr }) });
      return null;
    };
    if (r.type === "noAnswer") return failed(r.reason, false);
    const detail = `${r.status} GET /key?${query}`;
    if (r.status !== 200) return failed(`${detail} ${r.body}`, r.status === 500);
    const { page, error } = pageError(r.body, prefix, after, limit);
    if (error !== null || page === null) return failed(detail, false, `GET /key?${query} on node${node}: ${error ?? "no page"}`);
    const listed = new Map(page.items.map((i) => [i.key, i]));
    for (const key of allKeys(this.#o.keys)) {
      const covered = key.startsWith(prefix) && (after === null || key > after) && (page.next === null || key <= page.next);
      if (!covered) continue;
      const item = listed.get(key);
      const op: KvOp = { type: "read", key, value: item?.value ?? null };
      this.history.push({ ...base, id: this.#nextId++, op, outcome: "ok", detail, isInternalError: false, ...(item === undefined ? {} : { version: item.version }) });
    }
    return page;
  }

  /** Performs one operation on `node` and returns its record (also used for the final reads). */
  async perform(client: number, node: number, op: KvOp, level: ReadLevel | null, extra: { idempotencyKey?: string; ttlMs?: number | null } = {}): Promise<ChaosOp> {
    const { cluster, clock } = this.#o;
    const id = this.#nextId++;
    const invokeTime = clock();
    const ttlMs = extra.ttlMs ?? null;
    const headers: Record<string, string> = extra.idempotencyKey === undefined ? {} : { "idempotency-key": extra.idempotencyKey };
    let result: HttpResult;
    switch (op.type) {
      case "set": {
        const path = ttlMs === null ? "/key" : `/key?ttl=${ttlMs}ms`;
        const body = JSON.stringify(op.values);
        result = extra.idempotencyKey === undefined
          ? await cluster.request(node, "POST", path, { body, timeoutMs: this.#o.writeTimeoutMs })
          : await requestWithHeaders(this.#o.proxySocket, cluster.httpAddr(node), { method: "POST", path, body, headers, timeoutMs: this.#o.writeTimeoutMs });
        break;
      }
      case "delete": {
        const path = `/key/${encodeURIComponent(op.key)}`;
        result = extra.idempotencyKey === undefined
          ? await cluster.request(node, "DELETE", path, { timeoutMs: this.#o.writeTimeoutMs })
          : await requestWithHeaders(this.#o.proxySocket, cluster.httpAddr(node), { method: "DELETE", path, headers, timeoutMs: this.#o.writeTimeoutMs });
        break;
      }
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
    const onceConflict = extra.idempotencyKey !== undefined && result.type === "response" && result.status === 422;
    return {
      id, client, op, invokeTime, completeTime, returnTime, outcome: w.outcome, node, level, detail: w.detail, isInternalError: w.isInternalError,
      ...(ttlMs === null ? {} : { label: "ttl-set" }), ...(onceConflict ? { onceConflict } : {}),
    };
  }
}

function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
