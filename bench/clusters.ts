// The two systems under test behind one interface: a cluster of our compiled hraftd binary
// and a cluster of etcd, each of `size` processes on loopback, with ways to start, stop,
// kill, restart a member, find the leader, write, read, and point wrk at a member.

import { mkdirSync } from "node:fs";
import { type Proc, sleep, spawnTracked, stopProc, waitUntil } from "./procs.ts";

/** One member's fixed identity: where it listens and keeps its data. */
export interface MemberSpec {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
}

/** What wrk needs to aim at a member: the base URL, a Lua script in bench/lua, its args, and headers (wrk -H). */
export interface WrkTarget {
  readonly url: string;
  readonly script: string;
  readonly args: string[];
  readonly headers?: readonly string[];
}

/**
 * How clients (the bench's own requests and wrk) reach a cluster: plain HTTP, or HTTPS
 * trusting `caPem`, with an Authorization header on every request when the cluster wants one.
 */
export interface ClientAccess {
  readonly https: boolean;
  /** PEM of the CA that signed the members' HTTPS certificates (https only). */
  readonly caPem?: string;
  /** "Basic …", sent with every request. */
  readonly authorization?: string;
}

/** Plain HTTP, no credentials: how every cluster was reached before issue 14. */
export const plainAccess: ClientAccess = { https: false };

/** fetch options for `access`: the CA to verify members with and the Authorization header. */
function fetchInit(access: ClientAccess, init: RequestInit & { tls?: { ca: string } }): RequestInit {
  if (access.caPem !== undefined) init.tls = { ca: access.caPem };
  if (access.authorization !== undefined) init.headers = { ...(init.headers as Record<string, string> | undefined), Authorization: access.authorization };
  return init;
}

/** Read levels measured: linearizable (ReadIndex / etcd default) and local (stale / serializable). */
export type ReadKind = "linearizable" | "stale";

/** A cluster under test. Member indexes are 0..size-1; a stopped member's proc is null. */
export abstract class Cluster {
  readonly procs: (Proc | null)[];
  constructor(
    readonly label: string,
    readonly members: readonly MemberSpec[],
    readonly access: ClientAccess = plainAccess,
  ) {
    this.procs = members.map(() => null);
    for (const m of members) mkdirSync(m.dataDir, { recursive: true });
  }

  /** Command line of member `i` (same for first start and restart). */
  protected abstract command(i: number): string[];
  /** Writes every pair in one request (one log entry / one txn); true on acknowledgement. */
  abstract writeMany(i: number, pairs: readonly (readonly [string, string])[], timeoutMs?: number): Promise<boolean>;
  /** The value of `key` read at member `i`, or null when not served. */
  abstract read(i: number, key: string, kind: ReadKind, timeoutMs?: number): Promise<string | null>;
  /** Index of the member that says it is leader, or null. */
  abstract leader(): Promise<number | null>;
  /** wrk target for unique-key writes at member `i`. */
  abstract wrkPut(i: number, prefix: string, value: string): WrkTarget;
  /** wrk target for reads of keys `${prefix}${0..count-1}` at member `i`. */
  abstract wrkGet(i: number, kind: ReadKind, prefix: string, count: number): WrkTarget;
  /** Waits until the whole cluster has formed and accepts writes (after startAll's spawns). */
  protected abstract formed(limitMs: number): Promise<boolean>;
  /** Environment added to every member's process (none by default). */
  protected memberEnv(): Record<string, string> | undefined {
    return undefined;
  }

  get size(): number {
    return this.members.length;
  }

  /** Spawns member `i` (it must be stopped). */
  spawn(i: number): Proc {
    const m = this.members[i]!;
    const proc = spawnTracked(`${this.label}-${m.name}`, this.command(i), this.memberEnv());
    this.procs[i] = proc;
    return proc;
  }

  /** Starts all members and waits until a write is acknowledged with all of them in. */
  async startAll(limitMs = 60_000): Promise<void> {
    await this.spawnAll();
    if (!(await this.formed(limitMs))) throw new Error(`${this.label}: cluster did not form in ${limitMs} ms (logs in the run dir)`);
  }

  protected async spawnAll(): Promise<void> {
    for (let i = 0; i < this.size; i++) this.spawn(i);
  }

  /** Stops member `i` with `signal` (SIGKILL for a crash) and waits for it to exit. */
  async stop(i: number, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const proc = this.procs[i];
    if (proc === null || proc === undefined) return;
    await stopProc(proc, signal);
    this.procs[i] = null;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.stop(i)));
  }

  /** Pids of the running members. */
  pids(): number[] {
    return this.procs.flatMap((p) => (p === null ? [] : [p.pid]));
  }

  /** Indexes of running members. */
  running(): number[] {
    return this.procs.flatMap((p, i) => (p === null ? [] : [i]));
  }

  url(i: number): string {
    return `${this.access.https ? "https" : "http"}://127.0.0.1:${this.members[i]!.clientPort}`;
  }

  /** A wrk target at member `i` with this cluster's headers (wrk speaks HTTPS by the URL; it does not verify). */
  protected target(i: number, script: string, args: string[]): WrkTarget {
    const auth = this.access.authorization;
    return { url: this.url(i), script, args, ...(auth === undefined ? {} : { headers: [`Authorization: ${auth}`] }) };
  }

  protected post(url: string, body: string, timeoutMs: number): Promise<Response | null> {
    return post(this.access, url, body, timeoutMs);
  }

  protected getJson(url: string, timeoutMs: number, method = "GET", body?: string): Promise<unknown> {
    return getJson(this.access, url, timeoutMs, method, body);
  }

  /** One key written at member `i`; true on acknowledgement. */
  write(i: number, key: string, value: string, timeoutMs = 2_000): Promise<boolean> {
    return this.writeMany(i, [[key, value]], timeoutMs);
  }
}

async function post(access: ClientAccess, url: string, body: string, timeoutMs: number): Promise<Response | null> {
  try {
    return await fetch(url, fetchInit(access, { method: "POST", body, signal: AbortSignal.timeout(timeoutMs) }));
  } catch {
    return null;
  }
}

async function getJson(access: ClientAccess, url: string, timeoutMs: number, method = "GET", body?: string): Promise<unknown> {
  try {
    const r = await fetch(url, fetchInit(access, { method, body: body ?? null, signal: AbortSignal.timeout(timeoutMs) }));
    if (r.status !== 200) return null;
    return await r.json();
  } catch {
    return null;
  }
}

/** What a secure cluster of ours adds: how to reach it, flags per member, the joiner's user and password. */
export interface HraftdSecurity {
  readonly access: ClientAccess;
  /** Certificate and -auth flags of member `i`. */
  flags(i: number): string[];
  /** -join-as: the user joining members authenticate as ("" without -auth). */
  readonly joinAs: string;
  /** Its password, handed over in HRAFTD_JOIN_PASSWORD (never on the command line). */
  readonly joinPassword: string;
  /**
   * False when a follower cannot forward an authenticated write: with -auth but no node TLS the
   * leader gives forwarded requests only the "*" user's permissions (the peer is not authenticated).
   */
  readonly followersForward: boolean;
}

/** Our compiled binary: member 0 bootstraps, the others `-join` it one at a time. */
export class HraftdCluster extends Cluster {
  constructor(readonly binary: string, members: readonly MemberSpec[], label = "hraftd", readonly security: HraftdSecurity | null = null) {
    super(label, members, security?.access ?? plainAccess);
  }

  protected command(i: number): string[] {
    const m = this.members[i]!;
    const s = this.security;
    const leader0 = `127.0.0.1:${this.members[0]!.clientPort}`;
    const joinAs = s === null || s.joinAs === "" ? [] : ["-join-as", s.joinAs];
    const join = i === 0 ? [] : ["-join", this.access.https ? `https://${leader0}` : leader0, ...joinAs];
    const flags = s === null ? [] : s.flags(i);
    return [this.binary, "-id", m.name, "-haddr", `127.0.0.1:${m.clientPort}`, "-raddr", `127.0.0.1:${m.peerPort}`, ...flags, ...join, m.dataDir];
  }

  protected override memberEnv(): Record<string, string> | undefined {
    return this.security === null || this.security.joinAs === "" ? undefined : { HRAFTD_JOIN_PASSWORD: this.security.joinPassword };
  }

  // Joins are one membership change at a time: wait for each member before the next.
  protected override async spawnAll(): Promise<void> {
    this.spawn(0);
    if (!(await waitUntil(() => this.write(0, "bench-up", "1", 500), 30_000))) throw new Error("hraftd: node 0 never accepted a write");
    for (let i = 1; i < this.size; i++) {
      this.spawn(i);
      const ok = await waitUntil(async () => (await this.voters(0)) > i, 30_000, 50);
      if (!ok) throw new Error(`hraftd: ${this.members[i]!.name} did not join`);
    }
  }

  private async voters(i: number): Promise<number> {
    const s = (await this.getJson(`${this.url(i)}/status`, 1_000)) as { members?: { suffrage: string }[] } | null;
    return s?.members?.filter((m) => m.suffrage === "voter").length ?? 0;
  }

  protected async formed(limitMs: number): Promise<boolean> {
    if (this.security?.followersForward === false) {
      // Writes only at the leader; every member must see the whole membership.
      return waitUntil(async () => {
        const l = await this.leader();
        if (l === null || !(await this.write(l, "bench-up", "1", 1_000))) return false;
        return (await Promise.all(this.running().map((i) => this.voters(i)))).every((n) => n === this.size);
      }, limitMs);
    }
    return waitUntil(async () => (await Promise.all(this.running().map((i) => this.write(i, "bench-up", "1", 1_000)))).every((x) => x), limitMs);
  }

  async writeMany(i: number, pairs: readonly (readonly [string, string])[], timeoutMs = 2_000): Promise<boolean> {
    const r = await this.post(`${this.url(i)}/key`, JSON.stringify(Object.fromEntries(pairs)), timeoutMs);
    if (r === null) return false;
    await r.arrayBuffer().catch(() => undefined);
    return r.status === 200;
  }

  async read(i: number, key: string, kind: ReadKind, timeoutMs = 2_000): Promise<string | null> {
    const s = (await this.getJson(`${this.url(i)}/key/${encodeURIComponent(key)}?level=${kind}`, timeoutMs)) as Record<string, string> | null;
    return s?.[key] ?? null;
  }

  async leader(): Promise<number | null> {
    for (const i of this.running()) {
      const s = (await this.getJson(`${this.url(i)}/status`, 1_000)) as { state?: string } | null;
      if (s?.state === "leader") return i;
    }
    return null;
  }

  wrkPut(i: number, prefix: string, value: string): WrkTarget {
    return this.target(i, "put_hraftd.lua", [prefix, value]);
  }

  wrkGet(i: number, kind: ReadKind, prefix: string, count: number): WrkTarget {
    return this.target(i, "get_hraftd.lua", [prefix, String(count), kind]);
  }
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

/** etcd with TLS: certificate and key per member (clients and peers), the CA peers must be signed by. */
export interface EtcdTls {
  readonly access: ClientAccess;
  cert(i: number): string;
  key(i: number): string;
  readonly caFile: string;
}

/** Debian's etcd (v3 API through its HTTP/JSON gateway); all members start together. */
export class EtcdCluster extends Cluster {
  /** member_id (as the gateway prints it) → member index, learned when the cluster forms. */
  private ids = new Map<string, number>();

  constructor(members: readonly MemberSpec[], readonly token: string, label = "etcd", readonly tls: EtcdTls | null = null) {
    super(label, members, tls?.access ?? plainAccess);
  }

  protected command(i: number): string[] {
    const m = this.members[i]!;
    const t = this.tls;
    const scheme = t === null ? "http" : "https";
    const peer = (x: MemberSpec): string => `${scheme}://127.0.0.1:${x.peerPort}`;
    const client = this.url(i);
    // HTTPS for clients (the gateway too); between members, TLS with client certificates from the CA.
    const tlsFlags = t === null ? [] : [
      "--cert-file", t.cert(i), "--key-file", t.key(i),
      "--peer-cert-file", t.cert(i), "--peer-key-file", t.key(i), "--peer-trusted-ca-file", t.caFile, "--peer-client-cert-auth",
    ];
    return [
      "etcd", "--name", m.name, "--data-dir", m.dataDir,
      "--listen-client-urls", client, "--advertise-client-urls", client,
      "--listen-peer-urls", peer(m), "--initial-advertise-peer-urls", peer(m),
      "--initial-cluster", this.members.map((x) => `${x.name}=${peer(x)}`).join(","),
      "--initial-cluster-state", "new", "--initial-cluster-token", this.token,
      "--logger", "zap", "--log-level", "warn", ...tlsFlags,
      // The documented maximum backend size: the 2 GiB default fills before ten million keys.
      "--quota-backend-bytes", String(8 * 2 ** 30),
    ];
  }

  protected async formed(limitMs: number): Promise<boolean> {
    const ok = await waitUntil(async () => (await Promise.all(this.running().map((i) => this.write(i, "bench-up", "1", 1_000)))).every((x) => x), limitMs);
    if (ok) {
      for (const i of this.running()) {
        const s = (await this.status(i)) as { header?: { member_id?: string } } | null;
        if (s?.header?.member_id !== undefined) this.ids.set(s.header.member_id, i);
      }
    }
    return ok;
  }

  private status(i: number): Promise<unknown> {
    return this.getJson(`${this.url(i)}/v3/maintenance/status`, 1_000, "POST", "{}");
  }

  async writeMany(i: number, pairs: readonly (readonly [string, string])[], timeoutMs = 2_000): Promise<boolean> {
    const body = pairs.length === 1
      ? JSON.stringify({ key: b64(pairs[0]![0]), value: b64(pairs[0]![1]) })
      : JSON.stringify({ success: pairs.map(([k, v]) => ({ request_put: { key: b64(k), value: b64(v) } })) });
    const r = await this.post(`${this.url(i)}/v3/kv/${pairs.length === 1 ? "put" : "txn"}`, body, timeoutMs);
    if (r === null) return false;
    const text = await r.text().catch(() => "");
    return r.status === 200 && text.includes('"header"');
  }

  async read(i: number, key: string, kind: ReadKind, timeoutMs = 2_000): Promise<string | null> {
    const body = JSON.stringify({ key: b64(key), serializable: kind === "stale" });
    const s = (await this.getJson(`${this.url(i)}/v3/kv/range`, timeoutMs, "POST", body)) as { kvs?: { value: string }[] } | null;
    const v = s?.kvs?.[0]?.value;
    return v === undefined ? null : Buffer.from(v, "base64").toString();
  }

  async leader(): Promise<number | null> {
    for (const i of this.running()) {
      const s = (await this.status(i)) as { leader?: string; header?: { member_id?: string } } | null;
      if (s?.leader !== undefined && s.leader === s.header?.member_id) return i;
    }
    return null;
  }

  wrkPut(i: number, prefix: string, value: string): WrkTarget {
    return this.target(i, "put_etcd.lua", [prefix, value]);
  }

  wrkGet(i: number, kind: ReadKind, prefix: string, count: number): WrkTarget {
    return this.target(i, "get_etcd.lua", [prefix, String(count), kind]);
  }
}

/** Waits for a member to answer a linearizable read of `key` with `value`; ms taken, or null. */
export async function timeToServe(c: Cluster, i: number, key: string, value: string, t0: number, limitMs: number): Promise<number | null> {
  const ok = await waitUntil(async () => (await c.read(i, key, "linearizable", 1_000)) === value, limitMs, 10);
  return ok ? performance.now() - t0 : null;
}

/**
 * Time from `t0` until any member in `targets` acknowledges a write. Attempts go out every
 * `everyMs` to each target (at most `inflightMax` at once), so attempts stuck on a dead
 * leader (etcd holds a put proposed while leaderless until it times out) do not hide a later
 * success; each gives up after `attemptMs`, well under the cap's worth of cadence. Null after
 * `limitMs`.
 */
export async function timeToFirstWrite(c: Cluster, targets: number[], t0: number, limitMs: number, everyMs = 10, inflightMax = 200): Promise<number | null> {
  const attemptMs = 1_000;
  let done: number | null = null;
  let inflight = 0;
  let n = 0;
  const deadline = t0 + limitMs;
  while (done === null && performance.now() < deadline) {
    for (const i of targets) {
      if (inflight >= inflightMax) break;
      inflight++;
      const key = `failover-${process.pid}-${n++}`;
      void c.write(i, key, "v", attemptMs).then((ok) => {
        inflight--;
        if (ok && done === null) done = performance.now() - t0;
      });
    }
    await sleep(everyMs);
  }
  return done;
}
