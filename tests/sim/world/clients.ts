// Concurrent clients of the simulated world. They call the store's public API (what the HTTP
// handlers call) at random live nodes: multi-key writes, deletes, linearizable and leader-level
// reads; some go through the node's HTTP handler (the Hono app's fetch, with the fast path in
// front, as server.ts serves it) and are judged as an HTTP client must (503 with "outcome
// unknown" in words is unknown, any other refusal failed, 500 is a bug); each operation is recorded with its simulated invoke and completion times and its
// outcome, for the linearizability checker. A write whose node dies before answering, or that
// is answered "outcome unknown", may or may not have happened.

import type { HistoryOp, KvOp, Outcome } from "../checkers/linearizability.ts";
import type { SimRng } from "../prng.ts";
import { StoreError } from "../../../store/errors.ts";
import type { SimServer, World } from "./world.ts";

/** Knobs of the client population. */
export interface ClientOptions {
  readonly clients: number;
  readonly keys: number;
  /** Think time between one client's operations, in simulated ms. */
  readonly thinkMsMax: number;
}

interface InFlight {
  readonly id: number;
  readonly client: number;
  readonly op: KvOp;
  readonly invokeTime: number;
  readonly server: SimServer;
  readonly life: number;
}

export class Clients {
  readonly history: HistoryOp[] = [];
  readonly #world: World;
  readonly #rng: SimRng;
  readonly #options: ClientOptions;
  readonly #inFlight = new Map<number, InFlight>();
  #nextId = 1;
  #isRunning = false;
  /** While paused (a targeted nemesis wants no writes for a while), clients due to issue wait here. */
  #isPaused = false;
  #parked: number[] = [];
  /** Counters for the run's report. */
  readonly counts = { ok: 0, fail: 0, unknown: 0 };
  /** Why each failed operation failed, by id (printed with a witness). */
  readonly errors = new Map<number, string>();

  constructor(world: World, rng: SimRng, options: ClientOptions) {
    this.#world = world;
    this.#rng = rng;
    this.#options = options;
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
    return this.#inFlight.size;
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
    const op = this.#drawOp();
    const level = this.#rng.chance(0.3) ? "leader" : "linearizable";
    const viaHttp = this.#rng.chance(this.#world.config.httpRate);
    void this.issueOn(server, client, op, level, viaHttp).then((recorded) => {
      if (recorded) this.#later(client);
    });
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
  async issueOn(server: SimServer, client: number, op: KvOp, level: "linearizable" | "leader", viaHttp = false): Promise<boolean> {
    if (viaHttp) return this.#issueHttp(server, client, op, level);
    server.isDirty = true; // Called outside any event too (the final reads): see World.check.
    const store = server.opened!.store;
    const f: InFlight = { id: this.#nextId++, client, op, invokeTime: this.#world.scheduler.now, server, life: server.lives };
    this.#inFlight.set(f.id, f);
    let outcome: Outcome;
    let done: KvOp = op;
    try {
      switch (op.type) {
        case "set":
          await store.set(Object.entries(op.values));
          break;
        case "delete":
          await store.delete(op.key);
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
    this.#record(f, done, outcome);
    return true;
  }

  /** The same operation through the node's HTTP handler, judged by status and words as a client would. */
  async #issueHttp(server: SimServer, client: number, op: KvOp, level: "linearizable" | "leader"): Promise<boolean> {
    const fetch = server.opened!.fetch;
    server.isDirty = true;
    const f: InFlight = { id: this.#nextId++, client, op, invokeTime: this.#world.scheduler.now, server, life: server.lives };
    this.#inFlight.set(f.id, f);
    const base = `http://${server.addr}`;
    let request: Request;
    switch (op.type) {
      case "set":
        request = new Request(`${base}/key`, { method: "POST", body: JSON.stringify(op.values), headers: { "content-type": "application/json" } });
        break;
      case "delete":
        request = new Request(`${base}/key/${op.key}`, { method: "DELETE" });
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
    this.#record(f, done, outcome);
    return true;
  }

  #record(f: InFlight, op: KvOp, outcome: Outcome): void {
    this.counts[outcome]++;
    if (op.type === "read" && outcome !== "ok") return;
    this.history.push({
      id: f.id,
      client: f.client,
      op,
      invokeTime: f.invokeTime,
      completeTime: outcome === "unknown" ? Infinity : this.#world.scheduler.now,
      outcome,
    });
  }

  /** Operations in flight on a dead process never answer: writes become unknown. */
  #crashed(server: SimServer): void {
    for (const f of [...this.#inFlight.values()]) {
      if (f.server !== server) continue;
      this.#inFlight.delete(f.id);
      this.#record(f, f.op, "unknown");
      // Only the random clients loop; a targeted nemesis's probes (higher ids) drive themselves.
      if (this.#isRunning && f.client < this.#options.clients) this.#later(f.client);
    }
  }
}
