// Concurrent clients of the simulated world. They call the store's public API (what the HTTP
// handlers call) at random live nodes: multi-key writes, deletes, linearizable and leader-level
// reads; some go through the node's HTTP handler (the Hono app's fetch, with the fast path in
// front, as server.ts serves it) and are judged as an HTTP client must (503 with "outcome
// unknown" in words is unknown, any other refusal failed, 500 is a bug); each operation is recorded with its simulated invoke and completion times and its
// outcome, for the linearizability checker. A write whose node dies before answering, or that
// is answered "outcome unknown", may or may not have happened.
// In seeds that draw it (issue 16), half the writes carry an Idempotency-Key and are retried
// with the same key, at another node, after an unknown outcome: a client's whole retry loop is
// one operation of the history (invoked at its first attempt, done at its last), which is
// linearizable only if the write took effect at most once; ./once_checker.ts checks that
// directly on every node's apply results. In the same seeds some writes are conditional: a
// versioned read, then a write with If-Match on the version read (If-None-Match: * if the key
// was absent), checked as a conditional register (linearizability.ts's CasOp).
// In seeds that draw listing (issue 16 item 3, a stream of its own), some operations list keys
// by prefix (GET /key?prefix=&after=&limit=), following `next` for a few pages: each page is,
// for every key of the clients' key space in the page's range, a read of that key at the
// page's invoke and completion times (present with the listed value, absent if not listed),
// checked with every other read; a page out of order, past its limit or its range fails the run.

import type { CasOp, CheckedOp, ExpireOp, HistoryOp, KvOp, Outcome } from "../checkers/linearizability.ts";
import { createSimRng, type SimRng } from "../prng.ts";
import { StoreError } from "../../../store/errors.ts";
import type { SimServer, World } from "./world.ts";

/** Knobs of the client population. */
export interface ClientOptions {
  readonly clients: number;
  readonly keys: number;
  /** Think time between one client's operations, in simulated ms. */
  readonly thinkMsMax: number;
  /**
   * Draws which writes carry an Idempotency-Key, where and when they are retried; null or
   * absent: none do (a separate stream, so seeds without it run exactly as before issue 16).
   */
  readonly once?: SimRng | null;
  /**
   * Draws the operations on expiring keys (issue 16 item 4); absent: drawn from the world's seed
   * by drawTtlClients, null: none.
   */
  readonly ttl?: SimRng | null;
  /** Draws which operations are listings and their parameters; null or absent: none (as before). */
  readonly list?: SimRng | null;
}

/**
 * The stream of `seed`'s Idempotency-Key draws, or null when its clients use none (4 seeds in
 * 10). The label was chosen so that no regression seed of world.test.ts draws it: their runs
 * stay the ones that caught their bugs.
 */
export function drawOnceClients(seed: number): SimRng | null {
  return createSimRng(seed).fork("once-v16-2120").chance(0.4) ? createSimRng(seed).fork("once-clients-v16") : null;
}

/**
 * The stream of `seed`'s listing draws, or null when its clients list nothing (6 seeds in 10).
 * The label was chosen so that no regression seed of world.test.ts draws it.
 */
export function drawListClients(seed: number): SimRng | null {
  return createSimRng(seed).fork("list-v16-822").chance(0.4) ? createSimRng(seed).fork("list-clients-v16") : null;
}

/** Pages one listing follows at most. */
const listPagesMax = 4;

/**
 * The stream of `seed`'s TTL draws, or null when its clients set no TTL (6 seeds in 10). In the
 * seeds that draw it, some operations work on keys of their own (ttlKeys: listings and
 * conditional writes keep to the k-keys): sets with a TTL of 20-600 ms, plain sets (which make
 * a key permanent again), deletes, and reads at the linearizable and leader levels. A set with
 * a TTL is recorded with an ExpireOp per key (linearizability.ts), due between its invocation
 * and its completion plus the TTL, so the checker fails a run in which such a read returns a
 * value past its deadline. The label was chosen so that no regression seed draws it.
 */
export function drawTtlClients(seed: number): SimRng | null {
  return createSimRng(seed).fork(ttlLabel).chance(0.4) ? createSimRng(seed).fork("ttl-clients-v16") : null;
}

const ttlLabel = "ttl-v16-4638";

/** The keys of the TTL operations. */
const ttlKeys: readonly string[] = ["t0", "t1", "t2"];

/** Retries of a write with an Idempotency-Key after an unknown outcome (so up to 4 attempts). */
const onceRetriesMax = 3;

/** Where a write with an Idempotency-Key stands in its client's retry loop. */
interface OnceAttempt {
  readonly key: string;
  /** The history id of the loop: the same for every attempt. */
  readonly id: number;
  /** The first attempt's invocation time. */
  readonly invokeTime: number;
  readonly retriesLeft: number;
  /** An earlier attempt's outcome was unknown: a definite refusal now does not undo it. */
  readonly sawUnknown: boolean;
}

interface InFlight {
  readonly id: number;
  readonly client: number;
  readonly op: CheckedOp;
  readonly invokeTime: number;
  readonly server: SimServer;
  readonly life: number;
  readonly level: "linearizable" | "leader";
  readonly viaHttp: boolean;
  readonly once: OnceAttempt | null;
  /** A set with a TTL (ms): recorded with its keys' expiries. */
  readonly ttlMs: number | null;
}

export class Clients {
  readonly history: HistoryOp<CheckedOp>[] = [];
  readonly #world: World;
  readonly #rng: SimRng;
  readonly #options: ClientOptions;
  readonly #inFlight = new Map<number, InFlight>();
  #nextId = 1;
  #isRunning = false;
  /** While paused (a targeted nemesis wants no writes for a while), clients due to issue wait here. */
  #isPaused = false;
  #parked: number[] = [];
  /** Retries of writes with an Idempotency-Key waiting for their turn (counted in flight). */
  #retrying = 0;
  /** Counters for the run's report. */
  readonly counts = { ok: 0, fail: 0, unknown: 0 };
  /** Why each failed operation failed, by id (printed with a witness). */
  readonly errors = new Map<number, string>();

  constructor(world: World, rng: SimRng, options: ClientOptions) {
    this.#world = world;
    this.#rng = rng;
    this.#options = { ...options, ttl: options.ttl !== undefined ? options.ttl : drawTtlClients(world.config.seed) };
    world.crashListeners.push((server) => this.#crashed(server));
  }

  get keys(): string[] {
    return Array.from({ length: this.#options.keys }, (_, i) => `k${i}`);
  }

  start(): void {
    this.#isRunning = true;
    for (let c = 0; c < this.#options.clients; c++) this.#later(c);
  }

  stop(): void {
    this.#isRunning = false;
  }

  /** Clients due to issue an operation wait until resume() (operations in flight carry on). */
  pause(): void {
    this.#isPaused = true;
  }

  resume(): void {
    this.#isPaused = false;
    for (const client of this.#parked.splice(0)) this.#later(client);
  }

  get inFlight(): number {
    return this.#inFlight.size + this.#retrying;
  }

  #later(client: number): void {
    this.#world.scheduler.schedule(this.#rng.range(0, this.#options.thinkMsMax), () => this.#issue(client));
  }

  #issue(client: number): void {
    if (!this.#isRunning) return;
    if (this.#isPaused) {
      this.#parked.push(client);
      return;
    }
    const up = this.#world.up();
    if (up.length === 0) {
      this.#later(client);
      return;
    }
    const server = this.#rng.pick(up);
    const list = this.#options.list ?? null;
    if (list !== null && list.chance(0.15)) {
      void this.#issueList(server, client, list).then((recorded) => {
        if (recorded) this.#later(client);
      });
      return;
    }
    const ttl = this.#options.ttl ?? null;
    if (ttl !== null && ttl.chance(0.3)) {
      void this.#issueTtl(server, client, ttl).then((recorded) => {
        if (recorded) this.#later(client);
      });
      return;
    }
    const op = this.#drawOp();
    const level = this.#rng.chance(0.3) ? "leader" : "linearizable";
    const viaHttp = this.#rng.chance(this.#world.config.httpRate);
    const extra = this.#options.once ?? null;
    if (op.type !== "read" && extra !== null && extra.chance(0.25)) {
      void this.#issueCas(server, client, extra.pick(this.keys), viaHttp).then((recorded) => {
        if (recorded) this.#later(client);
      });
      return;
    }
    const once = op.type !== "read" && extra?.chance(0.5) === true ? this.#newOnce() : null;
    void this.issueOn(server, client, op, level, viaHttp, once).then((recorded) => {
      if (recorded) this.#later(client);
    });
  }

  #newOnce(): OnceAttempt {
    const id = this.#nextId++;
    return { key: `sim-${id}`, id, invokeTime: this.#world.scheduler.now, retriesLeft: onceRetriesMax, sawUnknown: false };
  }

  #drawOp(): KvOp {
    const keys = this.keys;
    const r = this.#rng.int(10);
    if (r < 4) return { type: "read", key: this.#rng.pick(keys), value: null };
    if (r < 5) return { type: "delete", key: this.#rng.pick(keys) };
    const n = this.#rng.range(1, Math.min(3, keys.length));
    const values: Record<string, string> = {};
    for (const k of this.#rng.shuffle(keys).slice(0, n)) values[k] = `v${this.#nextId}`;
    return { type: "set", values };
  }

  /**
   * Runs one operation on `server` and records it. Resolves true once recorded, false if the
   * process died first (the crash recorded it; the client moved on then).
   */
  async issueOn(
    server: SimServer,
    client: number,
    op: KvOp,
    level: "linearizable" | "leader",
    viaHttp = false,
    once: OnceAttempt | null = null,
    ttlMs: number | null = null,
  ): Promise<boolean> {
    if (viaHttp) return this.#issueHttp(server, client, op, level, once, ttlMs);
    server.isDirty = true; // Called outside any event too (the final reads): see World.check.
    const store = server.opened!.store;
    const f = this.#inFlightOf(server, client, op, level, false, once, ttlMs);
    let outcome: Outcome;
    let done: KvOp = op;
    try {
      switch (op.type) {
        case "set":
          if (ttlMs !== null) await store.writeWith({ type: "set", pairs: Object.entries(op.values), ttlMs }, {});
          else if (once === null) await store.set(Object.entries(op.values));
          else checkOnce(await store.writeWith({ type: "set", pairs: Object.entries(op.values) }, { idempotencyKey: once.key }), op);
          break;
        case "delete":
          if (once === null) await store.delete(op.key);
          else checkOnce(await store.writeWith({ type: "delete", key: op.key }, { idempotencyKey: once.key }), op);
          break;
        case "read":
          done = { ...op, value: await store.get(op.key, level) };
          break;
      }
      outcome = "ok";
    } catch (e) {
      if (!(e instanceof StoreError)) throw e;
      outcome = e.code === "outcomeUnknown" ? "unknown" : "fail";
      this.errors.set(f.id, `${server.id}#${f.life} ${e.code}: ${e.message}`);
    }
    // Answered by a process that has since died: the crash already recorded it.
    if (!this.#inFlight.delete(f.id)) return false;
    return this.#settle(f, done, outcome);
  }

  #inFlightOf(
    server: SimServer,
    client: number,
    op: CheckedOp,
    level: "linearizable" | "leader",
    viaHttp: boolean,
    once: OnceAttempt | null,
    ttlMs: number | null = null,
  ): InFlight {
    const f: InFlight = {
      id: once?.id ?? this.#nextId++,
      client,
      op,
      invokeTime: once?.invokeTime ?? this.#world.scheduler.now,
      server,
      life: server.lives,
      level,
      viaHttp,
      once,
      ttlMs,
    };
    this.#inFlight.set(f.id, f);
    return f;
  }

  /**
   * Records an attempt's outcome, or, for a write with an Idempotency-Key whose outcome is not
   * known yet, retries it with the same key at a random live node after a pause, as a client
   * would. Resolves true once the operation is recorded.
   */
  #settle(f: InFlight, op: CheckedOp, outcome: Outcome): Promise<boolean> {
    const once = f.once;
    if (once !== null && outcome !== "ok" && (outcome === "unknown" || once.sawUnknown) && once.retriesLeft > 0) {
      const rng = this.#options.once!;
      const next: OnceAttempt = { ...once, retriesLeft: once.retriesLeft - 1, sawUnknown: true };
      this.#retrying++;
      return new Promise<void>((resolve) => this.#world.scheduler.schedule(rng.range(20, 300), resolve)).then(() => {
        this.#retrying--;
        const up = this.#world.up();
        if (up.length === 0) return this.#settle({ ...f, once: { ...next, retriesLeft: 0 } }, op, "unknown");
        return this.issueOn(rng.pick(up), f.client, f.op as KvOp, f.level, f.viaHttp, next);
      });
    }
    this.#record(f, op, once !== null && once.sawUnknown && outcome === "fail" ? "unknown" : outcome);
    return Promise.resolve(true);
  }

  /** The same operation through the node's HTTP handler, judged by status and words as a client would. */
  async #issueHttp(server: SimServer, client: number, op: KvOp, level: "linearizable" | "leader", once: OnceAttempt | null, ttlMs: number | null = null): Promise<boolean> {
    const fetch = server.opened!.fetch;
    server.isDirty = true;
    const f = this.#inFlightOf(server, client, op, level, true, once, ttlMs);
    const base = `http://${server.addr}`;
    const onceHeaders: Record<string, string> = once === null ? {} : { "idempotency-key": once.key };
    let request: Request;
    switch (op.type) {
      case "set":
        request = new Request(`${base}/key${ttlMs === null ? "" : `?ttl=${ttlMs}ms`}`, {
          method: "POST",
          body: JSON.stringify(op.values),
          headers: { "content-type": "application/json", ...onceHeaders },
        });
        break;
      case "delete":
        request = new Request(`${base}/key/${op.key}`, { method: "DELETE", headers: onceHeaders });
        break;
      case "read":
        request = new Request(`${base}/key/${op.key}?level=${level}`);
        break;
    }
    const response = await fetch(request);
    const text = await response.text();
    let outcome: Outcome;
    let done: KvOp = op;
    if (response.status === 200) {
      outcome = "ok";
      if (op.type === "read") done = { ...op, value: (JSON.parse(text) as Record<string, string>)[op.key] ?? null };
    } else if (response.status === 404 && op.type === "read") {
      outcome = "ok";
      done = { ...op, value: null };
    } else if (response.status === 503 || (response.status === 404 && op.type !== "read")) {
      outcome = /outcome/i.test(text) ? "unknown" : "fail";
      this.errors.set(f.id, `${server.id}#${f.life} HTTP ${response.status}: ${text}`);
    } else {
      throw new Error(`HTTP ${response.status} from ${server.id}#${f.life} for ${JSON.stringify(op)}: ${text}`);
    }
    if (!this.#inFlight.delete(f.id)) return false;
    return this.#settle(f, done, outcome);
  }

  /**
   * A conditional write: a linearizable versioned read of `key` (recorded as a read), then
   * `key` set to a fresh value with If-Match on the version read, or If-None-Match: * if it was
   * absent. Through the store's API or, with `viaHttp`, GET's ETag and the headers.
   */
  async #issueCas(server: SimServer, client: number, key: string, viaHttp: boolean): Promise<boolean> {
    server.isDirty = true;
    const readOp: KvOp = { type: "read", key, value: null };
    const r = this.#inFlightOf(server, client, readOp, "linearizable", viaHttp, null);
    let seen: { value: string | null; version: number | null };
    try {
      seen = viaHttp ? await this.#readVersionedHttp(server, key) : await server.opened!.store.getVersioned(key, "linearizable");
    } catch (e) {
      if (!(e instanceof StoreError)) throw e;
      if (!this.#inFlight.delete(r.id)) return false;
      this.#record(r, readOp, "fail");
      return true;
    }
    if (!this.#inFlight.delete(r.id)) return false;
    this.#record(r, { ...readOp, value: seen.value }, "ok");
    const cas: CasOp = { type: "cas", key, expect: seen.value, value: `v${this.#nextId}`, written: null };
    const f = this.#inFlightOf(server, client, cas, "linearizable", viaHttp, null);
    const condition = seen.version === null ? { type: "absent" as const } : { type: "match" as const, versions: [seen.version] };
    let outcome: Outcome;
    let status: number | null = null;
    try {
      if (viaHttp) {
        const headers: Record<string, string> = seen.version === null ? { "if-none-match": "*" } : { "if-match": `"${seen.version}"` };
        const response = await server.opened!.fetch(new Request(`http://${server.addr}/key`, { method: "POST", body: JSON.stringify({ [key]: cas.value }), headers }));
        const text = await response.text();
        if (response.status === 503) throw new StoreError(/outcome/i.test(text) ? "outcomeUnknown" : "unavailable", text);
        status = response.status;
      } else {
        status = (await server.opened!.store.writeWith({ type: "set", pairs: [[key, cas.value]], condition }, {})).status;
      }
      if (status !== 200 && status !== 412) throw new Error(`conditional write ${JSON.stringify(cas)} answered ${status}`);
      outcome = "ok";
    } catch (e) {
      if (!(e instanceof StoreError)) throw e;
      outcome = e.code === "outcomeUnknown" ? "unknown" : "fail";
      this.errors.set(f.id, `${server.id}#${f.life} ${e.code}: ${e.message}`);
    }
    if (!this.#inFlight.delete(f.id)) return false;
    this.#record(f, { ...cas, written: status === null ? null : status === 200 }, outcome);
    return true;
  }

  /**
   * A listing: a prefix, a limit and maybe a starting key drawn, then up to listPagesMax pages
   * following `next`, each through the store's API or GET /key. Every page is recorded as
   * reads of the key space's keys in its range (see the header); a refused page ends it.
   * Resolves true once recorded, false if the process died first.
   */
  async #issueList(server: SimServer, client: number, rng: SimRng): Promise<boolean> {
    server.isDirty = true;
    const keys = this.keys;
    const prefix = rng.pick(["", "k", "k1", "k2", "x"]);
    const limit = rng.range(1, 3);
    const level = rng.chance(0.3) ? "leader" : "linearizable";
    const viaHttp = rng.chance(this.#world.config.httpRate);
    const inRange = keys.filter((k) => k.startsWith(prefix));
    let after = inRange.length > 0 && rng.chance(0.3) ? rng.pick(inRange) : null;
    for (let pages = 0; pages < listPagesMax; pages++) {
      // A read placeholder: a crash meanwhile records it as unknown (dropped, as any read).
      const f = this.#inFlightOf(server, client, { type: "read", key: `list:${prefix}`, value: null }, level, viaHttp, null);
      let page: { items: readonly { key: string; value: string }[]; next: string | null } | null = null;
      try {
        page = viaHttp ? await this.#listHttp(server, prefix, after, limit, level) : await server.opened!.store.list({ prefix, after, limit }, level);
      } catch (e) {
        if (!(e instanceof StoreError)) throw e;
        this.errors.set(f.id, `${server.id}#${f.life} ${e.code}: ${e.message}`);
      }
      if (!this.#inFlight.delete(f.id)) return false;
      if (page === null) {
        this.counts.fail++;
        return true;
      }
      this.#recordPage(f, prefix, after, limit, page);
      if (page.next === null) return true;
      after = page.next;
    }
    return true;
  }

  /** GET /key?prefix=&after=&limit=&level= as a client sends it; a refusal as the StoreError it stands for. */
  async #listHttp(server: SimServer, prefix: string, after: string | null, limit: number, level: string): Promise<{ items: { key: string; value: string }[]; next: string | null }> {
    const query = `prefix=${encodeURIComponent(prefix)}&limit=${limit}&level=${level}${after === null ? "" : `&after=${encodeURIComponent(after)}`}`;
    const response = await server.opened!.fetch(new Request(`http://${server.addr}/key?${query}`));
    const text = await response.text();
    if (response.status === 200) return JSON.parse(text) as { items: { key: string; value: string }[]; next: string | null };
    if (response.status === 503) throw new StoreError("unavailable", text);
    throw new Error(`GET /key?${query} answered ${response.status}: ${text}`);
  }

  /**
   * A page as reads: for every key of the key space with the prefix, after `after` and up to
   * `next` (to the end when there is none), the value listed or absent, over the page's times.
   */
  #recordPage(f: InFlight, prefix: string, after: string | null, limit: number, page: { items: readonly { key: string; value: string }[]; next: string | null }): void {
    const listed = new Map<string, string>();
    let last: string | null = after;
    for (const item of page.items) {
      const inRange = item.key.startsWith(prefix) && (last === null || item.key > last);
      if (!inRange) throw new Error(`listing prefix ${JSON.stringify(prefix)} after ${String(after)}: ${JSON.stringify(item.key)} out of order or range in ${JSON.stringify(page)}`);
      listed.set(item.key, item.value);
      last = item.key;
    }
    if (page.items.length > limit || (page.next !== null && page.next !== last)) {
      throw new Error(`listing prefix ${JSON.stringify(prefix)} limit ${limit}: page ${JSON.stringify(page)} breaks its limit or cursor`);
    }
    this.counts.ok++;
    const completeTime = this.#world.scheduler.now;
    for (const key of this.keys) {
      const covered = key.startsWith(prefix) && (after === null || key > after) && (page.next === null || key <= page.next);
      if (!covered) continue;
      const op: KvOp = { type: "read", key, value: listed.get(key) ?? null };
      this.history.push({ id: this.#nextId++, client: f.client, op, invokeTime: f.invokeTime, completeTime, outcome: "ok" });
    }
  }

  /** GET /key/<k> as a client reads it with its ETag; a refusal as the StoreError it stands for. */
  async #readVersionedHttp(server: SimServer, key: string): Promise<{ value: string | null; version: number | null }> {
    const response = await server.opened!.fetch(new Request(`http://${server.addr}/key/${key}`));
    const text = await response.text();
    if (response.status === 404) return { value: null, version: null };
    if (response.status === 200) {
      const etag = response.headers.get("etag");
      if (etag === null || !/^"\d+"$/.test(etag)) throw new Error(`GET /key/${key} answered ETag ${String(etag)}`);
      return { value: (JSON.parse(text) as Record<string, string>)[key] ?? null, version: Number(etag.slice(1, -1)) };
    }
    if (response.status === 503) throw new StoreError("unavailable", text);
    throw new Error(`GET /key/${key} answered ${response.status}: ${text}`);
  }

  #record(f: InFlight, op: CheckedOp, outcome: Outcome): void {
    this.counts[outcome]++;
    if (op.type === "read" && outcome !== "ok") return;
    const completeTime = outcome === "unknown" ? Infinity : this.#world.scheduler.now;
    this.history.push({ id: f.id, client: f.client, op, invokeTime: f.invokeTime, completeTime, outcome });
    // A set with a TTL: each key's expiry, due between the set's times plus the TTL (see drawTtlClients).
    if (f.ttlMs !== null && op.type === "set" && outcome !== "fail") {
      for (const [key, value] of Object.entries(op.values)) {
        const expire: ExpireOp = { type: "expire", key, value };
        this.history.push({ id: this.#nextId++, client: f.client, op: expire, invokeTime: f.invokeTime + f.ttlMs, completeTime: completeTime + f.ttlMs, outcome });
      }
    }
  }

  /**
   * An operation on the TTL keys (see drawTtlClients): a read (linearizable or leader level), a
   * delete, a plain set or a set with a TTL, through the store's API or HTTP.
   */
  #issueTtl(server: SimServer, client: number, rng: SimRng): Promise<boolean> {
    const r = rng.int(10);
    const viaHttp = rng.chance(this.#world.config.httpRate);
    if (r < 4) return this.issueOn(server, client, { type: "read", key: rng.pick(ttlKeys), value: null }, rng.chance(0.3) ? "leader" : "linearizable", viaHttp);
    if (r === 4) return this.issueOn(server, client, { type: "delete", key: rng.pick(ttlKeys) }, "linearizable", viaHttp);
    const values: Record<string, string> = {};
    for (const key of rng.shuffle([...ttlKeys]).slice(0, rng.range(1, 2))) values[key] = `v${this.#nextId}`;
    return this.issueOn(server, client, { type: "set", values }, "linearizable", viaHttp, null, r === 5 ? null : rng.range(20, 600));
  }

  /** Operations in flight on a dead process never answer: writes become unknown. */
  #crashed(server: SimServer): void {
    for (const f of [...this.#inFlight.values()]) {
      if (f.server !== server) continue;
      this.#inFlight.delete(f.id);
      // Only the random clients loop; a targeted nemesis's probes (higher ids) drive themselves.
      const isLooping = f.client < this.#options.clients;
      if (f.once !== null) {
        void this.#settle(f, f.op, "unknown").then((recorded) => {
          if (recorded && this.#isRunning && isLooping) this.#later(f.client);
        });
        continue;
      }
      this.#record(f, f.op, "unknown");
      if (this.#isRunning && isLooping) this.#later(f.client);
    }
  }
}

/** A write with an Idempotency-Key that its client sends the same way every time is never 422. */
function checkOnce(outcome: { status: number; body: string }, op: KvOp): void {
  if (outcome.status !== 200) throw new Error(`Idempotency-Key write ${JSON.stringify(op)} answered ${outcome.status}: ${outcome.body}`);
}
