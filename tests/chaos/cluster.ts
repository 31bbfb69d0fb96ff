// Real hraftd processes in a network lab: start, SIGKILL, SIGSTOP/SIGCONT, restart, wipe,
// and HTTP requests to any node through the proxy in the lab's client namespace.

import type { ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Lab } from "../support/netns.ts";
import { proxyNoAnswerStatus, proxyPingHost, proxyTimeoutHeader } from "./proxy.ts";

/** The answer to one HTTP request: a status and body, or why there was none. */
export type HttpResult =
  // `etag`: the answer's ETag, where requestWithHeaders (client_request.ts) asked for it.
  | { readonly type: "response"; readonly status: number; readonly body: string; readonly etag?: string }
  | { readonly type: "noAnswer"; readonly reason: string };

/** The /status fields the suite uses. */
export interface NodeStatus {
  readonly me: { readonly id: string };
  readonly leader: { readonly id: string };
  readonly state: string;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly members: ReadonlyArray<{ readonly id: string; readonly addr: string; readonly suffrage: string }>;
}

/** Options of a ChaosCluster. */
export interface ClusterOptions {
  readonly lab: Lab;
  readonly binary: string;
  /** Where data directories and logs go. */
  readonly runDir: string;
  /** Unix socket of the proxy in the client namespace. */
  readonly proxySocket: string;
  /** Extra flags for every node (timings, snapshot thresholds). */
  readonly extraFlags: readonly string[];
  /** Secure mode (tests/chaos/secure.ts): node i's own flags, the nodes' environment, -join over https. */
  readonly secure?: {
    readonly flagsFor: (i: number) => readonly string[];
    readonly joinFlags: readonly string[];
    readonly env: Readonly<Record<string, string>>;
  };
}

const httpPort = 11000;
const raftPort = 12000;
/** Slack on top of the proxy's own deadline, for the hop through it. */
const proxySlackMs = 2000;

/** The nodes of one cluster, one per lab host: node<i> lives on host i. */
export class ChaosCluster {
  readonly #o: ClusterOptions;
  readonly #procs: Array<ChildProcess | null>;
  readonly #starts: number[];
  readonly #paused = new Set<number>();

  constructor(options: ClusterOptions) {
    this.#o = options;
    this.#procs = options.lab.hosts.map(() => null);
    this.#starts = options.lab.hosts.map(() => 0);
  }

  get size(): number {
    return this.#procs.length;
  }

  id(i: number): string {
    return `node${i}`;
  }

  httpAddr(i: number): string {
    return `${this.#o.lab.hosts[i]!.ip}:${httpPort}`;
  }

  raftAddr(i: number): string {
    return `${this.#o.lab.hosts[i]!.ip}:${raftPort}`;
  }

  dataDir(i: number): string {
    return join(this.#o.runDir, `data-node${i}`);
  }

  logPath(i: number): string {
    return join(this.#o.runDir, `node${i}.log`);
  }

  isRunning(i: number): boolean {
    return this.#procs[i] !== null;
  }

  isPaused(i: number): boolean {
    return this.#paused.has(i);
  }

  /** Starts node i (which must not be running); `joinVia` is the node whose HTTP -join uses. */
  start(i: number, joinVia: number | null): void {
    if (this.#procs[i] !== null) throw new Error(`${this.id(i)} is already running`);
    mkdirSync(this.dataDir(i), { recursive: true });
    const log = openSync(this.logPath(i), "a");
    const secure = this.#o.secure;
    const args = [this.#o.binary, "-id", this.id(i), "-haddr", this.httpAddr(i), "-raddr", this.raftAddr(i), ...this.#o.extraFlags];
    if (secure !== undefined) args.push(...secure.flagsFor(i));
    if (joinVia !== null) {
      args.push("-join", secure === undefined ? this.httpAddr(joinVia) : `https://${this.httpAddr(joinVia)}`, ...(secure?.joinFlags ?? []));
    }
    args.push(this.dataDir(i));
    const child = this.#o.lab.spawnIn(this.#o.lab.hosts[i]!, args, { stdio: ["ignore", log, log], ...(secure === undefined ? {} : { env: secure.env }) });
    closeSync(log);
    const generation = ++this.#starts[i]!;
    child.on("exit", () => {
      if (this.#starts[i] === generation) {
        this.#procs[i] = null;
        this.#paused.delete(i);
      }
    });
    this.#procs[i] = child;
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill(i: number): Promise<void> {
    const child = this.#procs[i];
    if (child === null || child === undefined) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
  }

  pause(i: number): void {
    const child = this.#procs[i];
    if (child === null || child === undefined || this.#paused.has(i)) return;
    child.kill("SIGSTOP");
    this.#paused.add(i);
  }

  resume(i: number): void {
    const child = this.#procs[i];
    if (child === null || child === undefined || !this.#paused.has(i)) return;
    child.kill("SIGCONT");
    this.#paused.delete(i);
  }

  /** Deletes node i's data directory (the node must be stopped). */
  wipe(i: number): void {
    if (this.#procs[i] !== null) throw new Error(`wipe of running ${this.id(i)}`);
    if (existsSync(this.dataDir(i))) rmSync(this.dataDir(i), { recursive: true, force: true });
  }

  /** Kills every node. */
  async stopAll(): Promise<void> {
    await Promise.all(this.#procs.map((_, i) => this.kill(i)));
  }

  /** One request to node i through the proxy; never throws. */
  async request(i: number, method: string, path: string, options: { body?: string; timeoutMs: number }): Promise<HttpResult> {
    return httpVia(this.#o.proxySocket, this.httpAddr(i), method, path, options);
  }

  /** Node i's /status, or null if it did not answer in time. */
  async status(i: number, timeoutMs = 1000): Promise<NodeStatus | null> {
    const r = await this.request(i, "GET", "/status", { timeoutMs });
    if (r.type !== "response" || r.status !== 200) return null;
    try {
      return JSON.parse(r.body) as NodeStatus;
    } catch {
      return null;
    }
  }

  /** Statuses of all running, unpaused nodes (null for the others or on no answer). */
  async statuses(timeoutMs = 1000): Promise<Array<NodeStatus | null>> {
    return Promise.all(this.#procs.map((p, i) => (p !== null && !this.#paused.has(i) ? this.status(i, timeoutMs) : null)));
  }

  /** The index of the node that says it leads in the highest term, or null. */
  async leader(): Promise<number | null> {
    const all = await this.statuses();
    let best: number | null = null;
    let bestTerm = -1;
    all.forEach((s, i) => {
      if (s !== null && s.state === "leader" && s.term > bestTerm) {
        best = i;
        bestTerm = s.term;
      }
    });
    return best;
  }

  /** Polls until `check` passes; false if `deadlineMs` passes first. */
  async waitFor(check: () => Promise<boolean>, deadlineMs: number, pollMs = 200): Promise<boolean> {
    const end = performance.now() + deadlineMs;
    while (performance.now() < end) {
      if (await check()) return true;
      await Bun.sleep(pollMs);
    }
    return false;
  }

  /**
   * Brings up the whole cluster: node0 bootstraps, the others join through it; resolves once
   * the leader lists every node as a voter. Throws if that takes longer than `deadlineMs`.
   */
  async bootstrap(deadlineMs: number): Promise<void> {
    this.start(0, null);
    if (!(await this.waitFor(async () => (await this.status(0))?.state === "leader", deadlineMs))) {
      throw new Error(`node0 did not become leader; see ${this.logPath(0)}`);
    }
    for (let i = 1; i < this.size; i++) this.start(i, 0);
    if (!(await this.waitFor(() => this.isFullyJoined(), deadlineMs))) {
      throw new Error(`cluster did not reach ${this.size} voters; logs in ${this.#o.runDir}`);
    }
  }

  /** True when some leader lists every node of the cluster as a voter. */
  async isFullyJoined(): Promise<boolean> {
    const leader = await this.leader();
    if (leader === null) return false;
    const s = await this.status(leader);
    if (s === null) return false;
    return this.#procs.every((_, i) => s.members.some((m) => m.id === this.id(i) && m.suffrage === "voter"));
  }
}

/** Waits until the proxy answers on its socket. */
export async function waitForProxy(socket: string, deadlineMs: number): Promise<boolean> {
  const end = performance.now() + deadlineMs;
  while (performance.now() < end) {
    const r = await httpVia(socket, proxyPingHost, "GET", "/", { timeoutMs: 500 });
    if (r.type === "response" && r.body === "pong") return true;
    await Bun.sleep(50);
  }
  return false;
}

/** One HTTP request through the proxy's Unix socket to `hostPort`. */
async function httpVia(
  socket: string,
  hostPort: string,
  method: string,
  path: string,
  options: { body?: string; timeoutMs: number },
): Promise<HttpResult> {
  try {
    const init: RequestInit & { unix: string } = {
      unix: socket,
      method,
      headers: { [proxyTimeoutHeader]: String(options.timeoutMs), "content-type": "application/json" },
      signal: AbortSignal.timeout(options.timeoutMs + proxySlackMs),
    };
    if (options.body !== undefined) init.body = options.body;
    const res = await fetch(`http://${hostPort}${path}`, init);
    const body = await res.text();
    if (res.status === proxyNoAnswerStatus) {
      let reason = body;
      try {
        reason = (JSON.parse(body) as { message?: string }).message ?? body;
      } catch {
        // Keep the raw body.
      }
      return { type: "noAnswer", reason };
    }
    return { type: "response", status: res.status, body };
  } catch (e) {
    return { type: "noAnswer", reason: `proxy: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` };
  }
}
