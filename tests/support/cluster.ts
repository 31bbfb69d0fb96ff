// Real hraftd processes for end-to-end tests: nodes on free random ports in temp dirs, each in
// its own process group; kill -9, SIGTERM and restart with the original command; HTTP helpers
// that speak to the API as curl does; polling with deadlines; cleanup of every process.

import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StatusReport } from "../../store/api.ts";
import { ensureBinary, repoRoot } from "./binary.ts";

/** Bytes of each node's stderr kept in memory for error messages (the full log is on disk). */
const logTailBytesMax = 16_384;
/** Lines of each node's log appended to a failed wait's message. */
const logLinesInErrorMax = 25;
/** Default deadline of one HTTP request: above the node's own 10 s request timeout. */
const requestTimeoutMsDefault = 15_000;

/** Every process spawned by this module and not yet seen to exit, for the last-resort cleanup. */
const live = new Set<ChildProcess>();

/** Sends `signal` to the process group led by `proc` (spawned detached, so it leads one). */
function signalGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // The group is already gone.
  }
}

// Whatever happens to the test run, no node outlives it.
process.on("exit", () => {
  for (const proc of live) signalGroup(proc, "SIGKILL");
});

/** Ports handed out in this run, so two nodes never get the same one before binding it. */
const handedOut = new Set<number>();

/** Binds `port` (0: any) on `host` and closes it again; the port bound, or null if refused. */
function tryBind(port: number, host: string): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(null));
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === "object" && address !== null ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

/** A TCP port that was free on `host` a moment ago (bind to port 0, then close). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await tryBind(0, host);
    if (port !== null && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found on ${host}`);
}

/** True if every port in `ports` can be bound on 127.0.0.1 right now. */
export async function portsFree(ports: readonly number[]): Promise<boolean> {
  for (const port of ports) if ((await tryBind(port, "127.0.0.1")) === null) return false;
  return true;
}

/** How a node ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** An answer from the HTTP API. */
export interface Reply {
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
}

/** The body of a reply parsed as JSON; throws with the text when it is not JSON. */
export function jsonOf(reply: Reply): unknown {
  try {
    return JSON.parse(reply.text);
  } catch {
    throw new Error(`expected JSON, got ${reply.status} ${JSON.stringify(reply.text.slice(0, 200))}`);
  }
}

/** The /status body: the store's contract (store/api.ts). */
export type Status = StatusReport;

/**
 * One request as curl would send it (`curl -d` bodies are strings; objects are sent as JSON).
 * Network errors and the deadline reject.
 */
export async function request(
  method: string,
  url: string,
  body?: string | Uint8Array | object,
  opts: { timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const init: RequestInit = {
    method,
    signal: AbortSignal.timeout(opts.timeoutMs ?? requestTimeoutMsDefault),
    headers: opts.headers ?? {},
  };
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    // What `curl -d` labels every body with; the API must read JSON whatever the label.
    if (opts.headers?.["content-type"] === undefined) {
      init.headers = { "content-type": "application/x-www-form-urlencoded", ...opts.headers };
    }
  }
  const res = await fetch(url, init);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Options of `poll`. */
export interface PollOptions {
  /** Give up after this long (ms). */
  readonly timeoutMs: number;
  /** Pause between attempts (ms). */
  readonly intervalMs?: number;
  /** Extra text for the error (e.g. node logs), computed only on failure. */
  readonly context?: () => string;
}

/**
 * Calls `attempt` until it returns something other than undefined, and returns that. An
 * attempt that throws counts as "not yet". After the deadline, throws naming `what` and the
 * last error. This is how every e2e test waits: never a fixed sleep for correctness.
 */
export async function poll<T>(what: string, attempt: () => Promise<T | undefined>, opts: PollOptions): Promise<T> {
  const deadline = performance.now() + opts.timeoutMs;
  let last = "";
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
      last = "";
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (performance.now() > deadline) {
      const extra = opts.context?.() ?? "";
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ""}${extra}`);
    }
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 50));
  }
}

/** What to start a node with. Addresses default to localhost on fresh random ports. */
export interface NodeOptions {
  readonly id: string;
  /** The node whose HTTP address goes to -join, or the literal -join value. */
  readonly join?: TestNode | string;
  readonly inmem?: boolean;
  readonly httpAddr?: string;
  readonly raftAddr?: string;
  /** Host of the addresses picked when none are given: "localhost" unless set (e.g. 127.0.0.2). */
  readonly host?: string;
  /** The whole argument list, used verbatim instead of the one built from the fields above. */
  readonly exactArgs?: readonly string[];
  /** Flags placed before the data directory (e.g. ["-snapshot-threshold", "200"]). */
  readonly extraArgs?: readonly string[];
}

/** Where a node lives: its addresses, data directory and log file. */
export interface NodePlace {
  readonly id: string;
  readonly httpAddr: string;
  readonly raftAddr: string;
  readonly dataDir: string;
  readonly logPath: string;
}

/** One node: its command line, its process (when running) and its log. */
export class TestNode implements NodePlace {
  readonly id: string;
  readonly httpAddr: string;
  readonly raftAddr: string;
  readonly dataDir: string;
  readonly logPath: string;
  #proc: ChildProcess | null = null;
  #exited: Promise<Exit> | null = null;
  #logTail = "";

  /** `command`: program and leading arguments; `args`: the rest, reused by every restart. */
  constructor(readonly command: readonly string[], readonly args: readonly string[], place: NodePlace) {
    ({ id: this.id, httpAddr: this.httpAddr, raftAddr: this.raftAddr, dataDir: this.dataDir, logPath: this.logPath } =
      place);
  }

  get isRunning(): boolean {
    return this.#proc !== null;
  }

  /** The last lines of everything the node wrote to stderr and stdout, over all its runs. */
  get log(): string {
    return this.#logTail;
  }

  /** Starts the process (again) with the original command. */
  start(args: readonly string[] = this.args): void {
    if (this.#proc !== null) throw new Error(`${this.id} is already running`);
    const [program, ...pre] = this.command;
    if (program === undefined) throw new Error("empty command");
    this.#note(`---- start: ${[program, ...pre, ...args].join(" ")}\n`);
    // detached: the node leads its own process group, so a signal reaches anything it spawns.
    const proc = spawn(program, [...pre, ...args], { cwd: repoRoot, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    live.add(proc);
    this.#proc = proc;
    proc.stdout?.on("data", (chunk: Buffer) => this.#note(chunk.toString("utf8")));
    proc.stderr?.on("data", (chunk: Buffer) => this.#note(chunk.toString("utf8")));
    this.#exited = new Promise<Exit>((resolve) => {
      const ended = (exit: Exit, note: string): void => {
        live.delete(proc);
        if (this.#proc === proc) this.#proc = null;
        this.#note(`---- ${note}\n`);
        resolve(exit);
      };
      proc.once("exit", (code, signal) => ended({ code, signal }, `exit: code ${code} signal ${signal}`));
      proc.once("error", (e) => ended({ code: null, signal: null }, `spawn error: ${e.message}`));
    });
  }

  /** Sends `signal` to the node's process group and waits (bounded) for it to exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10_000): Promise<Exit> {
    const proc = this.#proc;
    const exited = this.#exited;
    if (proc === null || exited === null) throw new Error(`${this.id} is not running`);
    signalGroup(proc, signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const result = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (result === "timeout") {
      signalGroup(proc, "SIGKILL");
      await exited;
      throw new Error(`${this.id} did not exit within ${timeoutMs} ms of ${signal}${this.logContext()}`);
    }
    return result;
  }

  /** kill -9: the process dies at once, losing nothing it had fsynced and everything else. */
  kill9(): Promise<Exit> {
    return this.stop("SIGKILL");
  }

  /** Kills the process group if it is running; never throws. */
  forceKill(): Promise<Exit | null> {
    const proc = this.#proc;
    if (proc === null || this.#exited === null) return Promise.resolve(null);
    signalGroup(proc, "SIGKILL");
    return this.#exited;
  }

  url(path: string): string {
    return `http://${this.httpAddr}${path}`;
  }

  /** POST /key with `pairs` (one log entry). */
  set(pairs: Record<string, string>, timeoutMs?: number): Promise<Reply> {
    return request("POST", this.url("/key"), pairs, timeoutMs === undefined ? {} : { timeoutMs });
  }

  /** GET /key/<key>, at `level` when given. */
  get(key: string, level?: "linearizable" | "leader" | "stale"): Promise<Reply> {
    const query = level === undefined ? "" : `?level=${level}`;
    return request("GET", this.url(`/key/${encodeURIComponent(key)}${query}`));
  }

  /** The value of `key` (read at `level`), or null on 404; throws on anything else. */
  async value(key: string, level?: "linearizable" | "leader" | "stale"): Promise<string | null> {
    const r = await this.get(key, level);
    if (r.status === 404) return null;
    if (r.status !== 200) throw new Error(`GET ${key} on ${this.id}: ${r.status} ${r.text}`);
    const body = jsonOf(r) as Record<string, unknown>;
    const v = body[key];
    if (typeof v !== "string") throw new Error(`GET ${key} on ${this.id}: unexpected body ${r.text}`);
    return v;
  }

  async status(timeoutMs = 2_000): Promise<Status> {
    const r = await request("GET", this.url("/status"), undefined, { timeoutMs });
    if (r.status !== 200) throw new Error(`status of ${this.id}: ${r.status} ${r.text}`);
    return jsonOf(r) as Status;
  }

  /** The last lines of the log, formatted for an error message. */
  logContext(): string {
    const lines = this.#logTail.trimEnd().split("\n").slice(-logLinesInErrorMax);
    return `\n--- ${this.id} (${this.logPath}) ---\n${lines.join("\n")}`;
  }

  #note(text: string): void {
    this.#logTail = (this.#logTail + text).slice(-logTailBytesMax);
    try {
      appendFileSync(this.logPath, text);
    } catch {
      // The temp dir may be gone during cleanup; the in-memory tail still has it.
    }
  }
}

/** Options of a Cluster. */
export interface ClusterOptions {
  /** The program and leading arguments; defaults to this machine's compiled binary. */
  readonly command?: readonly string[];
  /** Flags every node gets before its own extraArgs. */
  readonly commonArgs?: readonly string[];
}

/**
 * A set of nodes sharing one temp directory. Call `cleanup()` from afterAll/afterEach: it
 * kills every process (SIGKILL to each group) and removes the directory, unless
 * HRAFTD_E2E_KEEP=1 asks to keep it for inspection.
 */
export class Cluster {
  readonly root: string;
  readonly nodes: TestNode[] = [];
  readonly #command: readonly string[];
  readonly #commonArgs: readonly string[];

  constructor(opts: ClusterOptions = {}) {
    this.root = mkdtempSync(join(tmpdir(), "hraftd-e2e-"));
    this.#command = opts.command ?? [ensureBinary()];
    this.#commonArgs = opts.commonArgs ?? [];
  }

  /** Creates a node (fresh ports unless given) and starts it. Its flags follow hraftd's README order. */
  async add(opts: NodeOptions): Promise<TestNode> {
    const node = await this.define(opts);
    node.start();
    return node;
  }

  /** Creates a node without starting it. */
  async define(opts: NodeOptions): Promise<TestNode> {
    const host = opts.host ?? "localhost";
    const bindHost = host === "localhost" ? "127.0.0.1" : host;
    const httpAddr = opts.httpAddr ?? `${host}:${await freePort(bindHost)}`;
    const raftAddr = opts.raftAddr ?? `${host}:${await freePort(bindHost)}`;
    const dataDir = this.dataDirOf(opts.id);
    const args = ["-id", opts.id, "-haddr", httpAddr, "-raddr", raftAddr];
    if (opts.join !== undefined) args.push("-join", typeof opts.join === "string" ? opts.join : opts.join.httpAddr);
    if (opts.inmem === true) args.push("-inmem");
    args.push(...this.#commonArgs, ...(opts.extraArgs ?? []), dataDir);
    if (opts.exactArgs !== undefined) args.splice(0, args.length, ...opts.exactArgs);
    const node = new TestNode(this.#command, args, {
      id: opts.id,
      httpAddr,
      raftAddr,
      dataDir,
      logPath: join(this.root, `${opts.id}.log`),
    });
    this.nodes.push(node);
    return node;
  }

  /** Where node `id` keeps its data. */
  dataDirOf(id: string): string {
    return join(this.root, id);
  }

  /** The last lines of every node's log, for error messages. */
  logs(): string {
    return this.nodes.map((n) => n.logContext()).join("");
  }

  /** `poll` with every node's log appended on failure. */
  poll<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 50): Promise<T> {
    return poll(what, attempt, { timeoutMs, intervalMs, context: () => this.logs() });
  }

  /**
   * Waits until every node in `among` (default: the running ones) answers /status naming the
   * same leader, which is one of them and says it is leader; returns that node.
   */
  waitLeader(among: readonly TestNode[] = this.nodes.filter((n) => n.isRunning), timeoutMs = 10_000): Promise<TestNode> {
    return this.poll(`a leader agreed by ${among.map((n) => n.id).join(", ")}`, async () => {
      const statuses = await Promise.all(among.map((n) => n.status()));
      const leaderId = statuses[0]?.leader.id ?? "";
      if (leaderId === "" || statuses.some((s) => s.leader.id !== leaderId)) return undefined;
      const leader = among.find((n) => n.id === leaderId);
      if (leader === undefined) return undefined;
      const own = statuses[among.indexOf(leader)];
      return own?.state === "leader" ? leader : undefined;
    }, timeoutMs);
  }

  /**
   * Waits until `node` reports exactly `ids` as members, all voters (a join is complete once
   * the leader has promoted the learner).
   */
  waitVoters(node: TestNode, ids: readonly string[], timeoutMs = 15_000): Promise<Status> {
    const want = [...ids].sort().join(",");
    return this.poll(`${node.id} to list voters ${want}`, async () => {
      const s = await node.status();
      const voters = s.members.filter((m) => m.suffrage === "voter").map((m) => m.id).sort().join(",");
      return voters === want && s.members.length === ids.length ? s : undefined;
    }, timeoutMs);
  }

  /** Waits until `node`'s local state (a stale read) holds every pair in `expected`. */
  waitHolds(node: TestNode, expected: Readonly<Record<string, string>>, timeoutMs = 10_000): Promise<true> {
    const keys = Object.keys(expected);
    return this.poll(`${node.id} to hold ${keys.length} keys locally`, async () => {
      for (const key of keys) {
        if ((await node.value(key, "stale")) !== expected[key]) return undefined;
      }
      return true;
    }, timeoutMs, 100);
  }

  /** Kills every process and removes the temp directory (kept when HRAFTD_E2E_KEEP=1). */
  async cleanup(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.forceKill()));
    if (process.env["HRAFTD_E2E_KEEP"] === "1") {
      console.log(`keeping ${this.root}`);
      return;
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
