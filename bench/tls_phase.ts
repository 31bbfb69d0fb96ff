// The cost of security (issue 14), in one invocation: four 3-node clusters side by side —
// ours plain, ours secure (HTTPS, mutual TLS between nodes, -auth with Basic credentials on
// every request), etcd plain and etcd with TLS for clients and peers — with writes at 1, 16
// and 64 connections and linearizable reads at 64, the systems' order alternating across
// repeats so that drift in the machine's load falls on all of them alike. BENCH_TLS_BREAKDOWN=1
// adds three clusters of ours with one feature each, to show what each costs.

import { EtcdCluster, HraftdCluster, type Cluster } from "./clusters.ts";
import { type BenchConfig, leaderOf, loadKeys, log, memberSpecs, phaseWrites } from "./phases.ts";
import { type TlsResults, tlsLabels } from "./report.ts";
import { makeTlsSetup, type OursParts } from "./tls_setup.ts";
import { runWrk } from "./wrk.ts";

/** Connection counts of the phase's write runs. */
export const tlsConnections = [1, 16, 64] as const;

/**
 * Port offsets from BENCH_PORT_BASE: client ports at offset+0..2, peer ports at offset+10..12
 * (base+60..118 in all). Above the other phases' base+0..52, so a phase's lingering sockets
 * never meet this one's.
 */
const offsets = { oursPlain: 60, oursTls: 63, etcdPlain: 80, etcdTls: 83, oursHttps: 100, oursNodeTls: 103, oursAuth: 106 } as const;

export function emptyTlsResults(): TlsResults {
  return { writes: {}, cpuPerWriteUs: {}, cpuCores: {}, reads: {}, missing: {} };
}

/** A cluster of the phase: its label, where its ports start, and what it turns on (null: etcd). */
interface Planned {
  readonly label: string;
  readonly offset: number;
  readonly prefix: string;
  readonly make: (specs: ReturnType<typeof memberSpecs>) => Cluster;
}

/**
 * Starts the phase's clusters at once; those that cannot form are stopped and named in
 * `missing`. With `breakdown`, three more of ours, each with one feature on (HTTPS only, node
 * TLS only, -auth only), show which one costs what.
 */
async function startClusters(cfg: BenchConfig, t: TlsResults, breakdown: boolean): Promise<Cluster[]> {
  const size = 3;
  const sec = await makeTlsSetup(`${cfg.dir}/tls`, size);
  const token = `bench-tls-${process.pid}`;
  const ours = (label: string, offset: number, prefix: string, parts: OursParts | null): Planned => ({
    label, offset, prefix, make: (specs) => new HraftdCluster(cfg.binary, specs, label, parts === null ? null : sec.ours(parts)),
  });
  const etcd = (label: string, offset: number, prefix: string, tls: boolean): Planned => ({
    label, offset, prefix, make: (specs) => new EtcdCluster(specs, `${token}-${prefix}`, label, tls ? sec.etcd : null),
  });
  // The order of the first repeat: ours plain beside ours secure, etcd TLS beside etcd plain.
  const plan: Planned[] = [
    ours(tlsLabels.oursPlain, offsets.oursPlain, "plain", null),
    ours(tlsLabels.oursTls, offsets.oursTls, "secure", { https: true, nodeTls: true, auth: true }),
    ...(breakdown ? [
      ours(tlsLabels.oursHttps, offsets.oursHttps, "https", { https: true, nodeTls: false, auth: false }),
      ours(tlsLabels.oursNodeTls, offsets.oursNodeTls, "nodetls", { https: false, nodeTls: true, auth: false }),
      ours(tlsLabels.oursAuth, offsets.oursAuth, "auth", { https: false, nodeTls: false, auth: true }),
    ] : []),
    etcd(tlsLabels.etcdTls, offsets.etcdTls, "etcdtls", true),
    etcd(tlsLabels.etcdPlain, offsets.etcdPlain, "etcdplain", false),
  ];
  const all = plan.map((p) => p.make(memberSpecs(cfg, p.offset, p.prefix, size)));
  const started = await Promise.allSettled(all.map((c) => c.startAll()));
  const up: Cluster[] = [];
  for (const [k, s] of started.entries()) {
    const c = all[k]!;
    if (s.status === "fulfilled") up.push(c);
    else {
      const why = s.reason instanceof Error ? s.reason.message : String(s.reason);
      t.missing[c.label] = why;
      log(`tls: ${c.label} did not start: ${why}`);
      await c.stopAll();
    }
  }
  return up;
}

/** Status of a request, or "refused" when no HTTP answer came (e.g. plain HTTP to an HTTPS port). */
async function statusOf(url: string, init: RequestInit & { tls?: { ca: string } } = {}): Promise<number | "refused"> {
  try {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return "refused";
  }
}

/**
 * Makes sure a secure cluster is what the table says it is before it is measured: with HTTPS,
 * plain HTTP gets no answer; with -auth, a request without credentials gets 401. Throws otherwise.
 */
async function checkSecure(c: Cluster): Promise<void> {
  const url = c.url(0);
  if (c.access.https) {
    const plainStatus = await statusOf(`${url.replace(/^https:/, "http:")}/`);
    if (plainStatus !== "refused") throw new Error(`${c.label}: plain HTTP was answered (${plainStatus}); not measuring it as HTTPS`);
  }
  if (c instanceof HraftdCluster && c.access.authorization !== undefined) {
    const anonymous = await statusOf(`${url}/key/x`, c.access.caPem === undefined ? {} : { tls: { ca: c.access.caPem } });
    if (anonymous !== 401) throw new Error(`${c.label}: a read without credentials got ${anonymous}, not 401; not measuring it as authenticated`);
  }
}

/** Linearizable reads at 64 connections of 1,000 preloaded keys at each leader, alternating the order. */
async function readsAt64(cfg: BenchConfig, t: TlsResults, systems: readonly Cluster[]): Promise<void> {
  for (const c of systems) await loadKeys(c, await leaderOf(c), "r-", 1000, 100);
  for (let rep = 0; rep < cfg.repeats; rep++) {
    const order = rep % 2 === 0 ? systems : [...systems].reverse();
    for (const c of order) {
      const w = await runWrk(c.wrkGet(await leaderOf(c), "linearizable", "r-", 1000), 64, cfg.seconds, `${c.label}-get-lin`);
      (t.reads[c.label] ??= []).push(w);
      log(`${c.label} linearizable reads c=64: ${w.okPerSec.toFixed(0)}/s p50 ${w.p50Ms.toFixed(2)} ms p99 ${w.p99Ms.toFixed(2)} ms, errors ${w.errors}`);
    }
  }
}

/** The TLS phase: fills `t` (and stops every cluster it started, also on failure). */
export async function phaseTls(cfg: BenchConfig, t: TlsResults, breakdown = false): Promise<void> {
  const systems = await startClusters(cfg, t, breakdown);
  try {
    if (systems.length === 0) throw new Error("tls: no cluster started");
    for (const c of systems) await checkSecure(c);
    await phaseWrites({ ...cfg, connections: tlsConnections }, t, systems);
    await readsAt64(cfg, t, systems);
  } finally {
    await Promise.all(systems.map((c) => c.stopAll()));
  }
}
