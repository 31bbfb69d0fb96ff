// A network lab for real-process tests: one Linux network namespace per host, each joined by
// a veth pair to a bridge the lab creates, on a private subnet that exists only inside those
// namespaces; directed traffic drops between hosts, link down/up, and removal of all of it.

import { type ChildProcess, spawn, spawnSync, type StdioOptions } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

/** One namespace of the lab: its name, its only interface and its address on the subnet. */
export interface LabHost {
  readonly ns: string;
  readonly dev: string;
  readonly ip: string;
}

/**
 * How a drop from one host to another behaves.
 * - drop: packets vanish silently (a neighbour entry pointing at a MAC nobody owns), so
 *   connections hang until their timeouts, as behind a firewall that drops.
 * - reject: a blackhole route, so the sender's own kernel fails the send at once.
 */
export type DropMode = "drop" | "reject";

/** Options of createLab. */
export interface LabOptions {
  /** Hosts to create (their addresses are .11, .12, …). */
  readonly hostsCount: number;
  /** Also create a client namespace (address .200) on the same bridge. */
  readonly withClient: boolean;
}

/** Why namespaces cannot be used here, or null when they can. */
export function netnsUnavailableReason(): string | null {
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "not running as root (uid " + process.getuid() + ")";
  const which = spawnSync("ip", ["-V"], { encoding: "utf8" });
  if (which.error !== undefined || which.status !== 0) return "the `ip` command (iproute2) is not available";
  const probe = `hcprobe${process.pid}`;
  const add = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (add.status !== 0) return `\`ip netns add\` failed: ${(add.stderr ?? "").trim()}`;
  spawnSync("ip", ["netns", "del", probe]);
  return null;
}

/** Runs `ip` (optionally inside namespace `ns`); throws with its stderr on failure. */
function ip(args: readonly string[], ns: string | null = null): string {
  const argv = ns === null ? [...args] : ["netns", "exec", ns, "ip", ...args];
  const r = spawnSync("ip", argv, { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${argv.join(" ")} failed: ${(r.stderr ?? "").trim() || r.error?.message}`);
  return r.stdout ?? "";
}

/** Like ip() but never throws: for cleanup, where "already gone" is the expected answer. */
function ipQuiet(args: readonly string[], ns: string | null = null): boolean {
  const argv = ns === null ? [...args] : ["netns", "exec", ns, "ip", ...args];
  return spawnSync("ip", argv, { encoding: "utf8", timeout: 10_000 }).status === 0;
}

/** A locally administered unicast MAC no interface of the lab has: frames to it are lost. */
const nowhereMac = "02:00:00:00:00:01";
/** The lab's subnet; it exists only inside the lab's namespaces, so every lab can reuse it. */
const subnetPrefix = "10.231.0";
const subnetBits = 24;
/** Host addresses start here; the client namespace gets clientHostByte. */
const firstHostByte = 11;
const clientHostByte = 200;
/** Hosts per lab: keeps addresses on the subnet and names short. */
const hostsMax = 50;

/** Labs created by this process, so every name is unique and an exit handler can remove them. */
const liveLabs = new Set<Lab>();
let labsCreated = 0;
let isExitHookInstalled = false;

function installExitHook(): void {
  if (isExitHookInstalled) return;
  isExitHookInstalled = true;
  process.on("exit", () => {
    for (const lab of liveLabs) lab.destroy();
  });
  // An interrupted run would otherwise skip "exit" and leave namespaces and nodes behind.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      for (const lab of liveLabs) lab.destroy();
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
    });
  }
}

/** True if process `pid` exists (signal 0 probes without delivering anything). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Kills (SIGKILL) every process inside namespace `ns`: only ever namespaces a lab created. */
function killProcessesIn(ns: string): void {
  const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" });
  for (const line of (r.stdout ?? "").split("\n")) {
    const pid = Number(line.trim());
    if (Number.isSafeInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
}

/**
 * Removes namespaces and bridges left by labs of processes that no longer exist (a test run
 * killed before its cleanup). Only names this module makes (hchaos-<pid>-…, hc<pid>k…) are
 * touched, and only when that pid is dead.
 */
export function sweepStaleLabs(): string[] {
  const removed: string[] = [];
  const nsList = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of nsList.split("\n")) {
    const name = line.trim().split(/\s+/)[0] ?? "";
    const m = /^hchaos-(\d+)-/.exec(name);
    if (m === null || isAlive(Number(m[1]))) continue;
    killProcessesIn(name);
    if (ipQuiet(["netns", "del", name])) removed.push(name);
  }
  const links = spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout ?? "";
  for (const line of links.split("\n")) {
    const m = /^\d+:\s+(hc(\d+)k\d+[bv][0-9c]*p?)[@:]/.exec(line);
    if (m === null || isAlive(Number(m[2]))) continue;
    if (ipQuiet(["link", "del", m[1]!])) removed.push(m[1]!);
  }
  return removed;
}

/**
 * A set of namespaces on one bridge. Drops are directed (from → to) and remembered, so that
 * they survive a link going down and up; heal() removes them all.
 */
export class Lab {
  readonly hosts: readonly LabHost[];
  readonly client: LabHost | null;
  readonly #bridge: string;
  readonly #rootVeths: string[] = [];
  readonly #namespaces: string[] = [];
  /** Active drops by "from>to", with their mode. */
  readonly #drops = new Map<string, DropMode>();
  #isDestroyed = false;

  constructor(options: LabOptions) {
    if (options.hostsCount < 1 || options.hostsCount > hostsMax) throw new Error(`hostsCount must be in 1..${hostsMax}`);
    installExitHook();
    const k = ++labsCreated;
    const tag = `hc${process.pid}k${k}`;
    this.#bridge = `${tag}b`;
    liveLabs.add(this);
    try {
      ip(["link", "add", this.#bridge, "type", "bridge"]);
      ip(["link", "set", this.#bridge, "up"]);
      const hosts: LabHost[] = [];
      for (let i = 0; i < options.hostsCount; i++) {
        hosts.push(this.#addHost(`hchaos-${process.pid}-${k}-n${i}`, `${tag}v${i}`, firstHostByte + i));
      }
      this.hosts = hosts;
      this.client = options.withClient ? this.#addHost(`hchaos-${process.pid}-${k}-cl`, `${tag}vc`, clientHostByte) : null;
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  #addHost(ns: string, rootVeth: string, hostByte: number): LabHost {
    ip(["netns", "add", ns]);
    this.#namespaces.push(ns);
    // The namespace side is created with a temporary name, moved in, then renamed eth0.
    const peer = `${rootVeth}p`;
    ip(["link", "add", rootVeth, "type", "veth", "peer", "name", peer]);
    this.#rootVeths.push(rootVeth);
    ip(["link", "set", rootVeth, "master", this.#bridge, "up"]);
    ip(["link", "set", peer, "netns", ns]);
    ip(["link", "set", peer, "name", "eth0"], ns);
    const addr = `${subnetPrefix}.${hostByte}`;
    ip(["addr", "add", `${addr}/${subnetBits}`, "dev", "eth0"], ns);
    ip(["link", "set", "eth0", "up"], ns);
    ip(["link", "set", "lo", "up"], ns);
    return { ns, dev: "eth0", ip: addr };
  }

  /** Spawns `argv` inside host's namespace; `ip netns exec` execs in place, so pid is the program's. */
  spawnIn(
    host: LabHost,
    argv: readonly string[],
    options: { stdio?: StdioOptions; cwd?: string; env?: Readonly<Record<string, string>> } = {},
  ): ChildProcess {
    const [cmd, ...rest] = argv;
    if (cmd === undefined) throw new Error("spawnIn: empty argv");
    // `env` adds to this process's environment (secrets reach a child this way, never by argv).
    const env = options.env === undefined ? undefined : { ...process.env, ...options.env };
    return spawn("ip", ["netns", "exec", host.ns, cmd, ...rest], { stdio: options.stdio ?? "ignore", cwd: options.cwd, env });
  }

  /** From now on host `from` cannot send to host `to` (one direction only). */
  setDrop(from: number, to: number, mode: DropMode): void {
    const key = `${from}>${to}`;
    if (this.#drops.get(key) === mode) return;
    if (this.#drops.has(key)) this.clearDrop(from, to);
    this.#drops.set(key, mode);
    this.#applyDrop(from, to, mode);
  }

  #applyDrop(from: number, to: number, mode: DropMode): void {
    const src = this.#host(from);
    const dst = this.#host(to);
    if (mode === "drop") {
      ip(["neigh", "replace", dst.ip, "lladdr", nowhereMac, "nud", "permanent", "dev", src.dev], src.ns);
    } else {
      ip(["route", "replace", "blackhole", `${dst.ip}/32`], src.ns);
    }
  }

  /** Lets host `from` send to host `to` again. */
  clearDrop(from: number, to: number): void {
    const mode = this.#drops.get(`${from}>${to}`);
    if (mode === undefined) return;
    this.#drops.delete(`${from}>${to}`);
    const src = this.#host(from);
    const dst = this.#host(to);
    if (mode === "drop") ipQuiet(["neigh", "del", dst.ip, "dev", src.dev], src.ns);
    else ipQuiet(["route", "del", "blackhole", `${dst.ip}/32`], src.ns);
  }

  /** The drops in force, as [from, to, mode]. */
  drops(): Array<[number, number, DropMode]> {
    return [...this.#drops].map(([k, mode]) => {
      const [from, to] = k.split(">").map(Number) as [number, number];
      return [from, to, mode];
    });
  }

  /** Takes host `index`'s interface down or up; drops from it are put back after it comes up. */
  setLink(index: number, isUp: boolean): void {
    const h = this.#host(index);
    ip(["link", "set", h.dev, isUp ? "up" : "down"], h.ns);
    if (!isUp) return;
    // Taking a link down flushes its neighbour entries, our "drop" entries among them.
    for (const [from, to, mode] of this.drops()) if (from === index) this.#applyDrop(from, to, mode);
  }

  /** Removes every drop and brings every link up. */
  heal(): void {
    for (const [from, to] of this.drops()) this.clearDrop(from, to);
    for (let i = 0; i < this.hosts.length; i++) this.setLink(i, true);
  }

  #host(index: number): LabHost {
    const h = this.hosts[index];
    if (h === undefined) throw new Error(`no host ${index}`);
    return h;
  }

  /**
   * Removes everything the lab created. Processes still inside its namespaces (started by the
   * test through spawnIn) are killed first, so deleting a namespace really frees it. Idempotent.
   */
  destroy(): void {
    if (this.#isDestroyed) return;
    this.#isDestroyed = true;
    liveLabs.delete(this);
    for (const ns of this.#namespaces) killProcessesIn(ns);
    for (const ns of this.#namespaces) ipQuiet(["netns", "del", ns]);
    for (const v of this.#rootVeths) if (linkExists(v)) ipQuiet(["link", "del", v]);
    if (linkExists(this.#bridge)) ipQuiet(["link", "del", this.#bridge]);
  }
}

function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** The namespaces and links of this module's naming that exist now (for tests of cleanup). */
export function labResidue(pid: number = process.pid): string[] {
  const out: string[] = [];
  const nsList = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of nsList.split("\n")) {
    const name = line.trim().split(/\s+/)[0] ?? "";
    if (name.startsWith(`hchaos-${pid}-`)) out.push(name);
  }
  const links = existsSync("/sys/class/net") ? spawnSync("ls", ["/sys/class/net"], { encoding: "utf8" }).stdout ?? "" : "";
  for (const name of links.split("\n")) if (name.startsWith(`hc${pid}k`)) out.push(name);
  return out;
}

/** Reads a process's state letter from /proc (T: stopped, Z: zombie), or null if it is gone. */
export function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return null;
  }
}
