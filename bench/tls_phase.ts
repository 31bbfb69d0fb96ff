// The cost of security (issue 14), in one invocation: four 3-node clusters side by side —
// ours plain, ours secure (HTTPS, mutual TLS between nodes, -auth with Basic credentials on
// every request), etcd plain and etcd with TLS for clients and peers — with writes at 1, 16
// and 64 connections and linearizable reads at 64, the systems' order alternating across
// repeats so that drift in the machine's load falls on all of them alike.

import { EtcdCluster, HraftdCluster, type Cluster } from "./clusters.ts";
import { type BenchConfig, leaderOf, loadKeys, log, memberSpecs, phaseWrites } from "./phases.ts";
import { type TlsResults, tlsLabels } from "./report.ts";
import { makeTlsSetup } from "./tls_setup.ts";
import { runWrk } from "./wrk.ts";

/** Connection counts of the phase's write runs. */
export const tlsConnections = [1, 16, 64] as const;

/**
 * Port offsets from BENCH_PORT_BASE: client ports at offset+0..2, peer ports at offset+10..12.
 * Above the other phases' base+0..52, so a phase's lingering sockets never meet this one's.
 */
const offsets = { oursPlain: 60, oursTls: 63, etcdPlain: 80, etcdTls: 83 } as const;

export function emptyTlsResults(): TlsResults {
  return { writes: {}, cpuPerWriteUs: {}, cpuCores: {}, reads: {}, missing: {} };
}

/** Starts the four clusters at once; those that cannot form are stopped and named in `missing`. */
async function startClusters(cfg: BenchConfig, t: TlsResults): Promise<Cluster[]> {
  const size = 3;
  const sec = await makeTlsSetup(`${cfg.dir}/tls`, size);
  const token = `bench-tls-${process.pid}`;
  // The order of the first repeat: ours plain beside ours secure, etcd TLS beside etcd plain.
  const all: Cluster[] = [
    new HraftdCluster(cfg.binary, memberSpecs(cfg, offsets.oursPlain, "plain", size), tlsLabels.oursPlain),
    new HraftdCluster(cfg.binary, memberSpecs(cfg, offsets.oursTls, "secure", size), tlsLabels.oursTls, sec.ours),
    new EtcdCluster(memberSpecs(cfg, offsets.etcdTls, "etcdtls", size), `${token}-tls`, tlsLabels.etcdTls, sec.etcd),
    new EtcdCluster(memberSpecs(cfg, offsets.etcdPlain, "etcdplain", size), `${token}-plain`, tlsLabels.etcdPlain),
  ];
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
 * Makes sure a secure cluster is what the table says it is before it is measured: plain HTTP
 * gets no answer, and (ours) HTTPS without credentials gets 401. Throws otherwise.
 */
async function checkSecure(c: Cluster): Promise<void> {
  const https = c.url(0);
  const plain = https.replace(/^https:/, "http:");
  const plainStatus = await statusOf(`${plain}/`);
  if (!https.startsWith("https:") || plainStatus !== "refused") throw new Error(`${c.label}: plain HTTP was answered (${plainStatus}); not measuring it as secure`);
  if (c instanceof HraftdCluster) {
    const anonymous = await statusOf(`${https}/key/x`, c.access.caPem === undefined ? {} : { tls: { ca: c.access.caPem } });
    if (anonymous !== 401) throw new Error(`${c.label}: a read without credentials got ${anonymous}, not 401; not measuring it as secure`);
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
export async function phaseTls(cfg: BenchConfig, t: TlsResults): Promise<void> {
  const systems = await startClusters(cfg, t);
  try {
    if (systems.length === 0) throw new Error("tls: no cluster started");
    for (const c of systems) if (c.access.https) await checkSecure(c);
    await phaseWrites({ ...cfg, connections: tlsConnections }, t, systems);
    await readsAt64(cfg, t, systems);
  } finally {
    await Promise.all(systems.map((c) => c.stopAll()));
  }
}
