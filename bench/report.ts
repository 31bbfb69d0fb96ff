// Turns a run's measurements into bench/RESULTS.md: one table of medians with their spread
// over repeats, ours/etcd-native, ours/etcd-gateway (or ours/bare Bun) ratios against issue
// 18's targets where it sets them (issue 7's elsewhere), and the machine.

import type { WrkResult } from "./wrk.ts";
import { renderScale, type ScaleResults } from "./scale_report.ts";
import type { PauseResults } from "./snapshot_pause_phase.ts";
import { type ApiResults, renderApi } from "./api_cost_phase.ts";
import { renderWatch, type WatchResults } from "./watch_phase.ts";
import { renderUi, type UiResults } from "./ui_phase.ts";

/** The TLS phase's measurements (bench/tls_phase.ts), keyed by cluster label. */
export interface TlsResults {
  writes: Record<string, Record<number, WrkResult[]>>;
  cpuPerWriteUs: Record<string, Record<number, number[]>>;
  cpuCores: Record<string, Record<number, number[]>>;
  /** Linearizable reads at 64 connections. */
  reads: Record<string, WrkResult[]>;
  /** Clusters that could not be started, with the reason. */
  missing: Record<string, string>;
}

/** Everything one run measured; arrays hold one value per repeat. */
export interface Results {
  date: string;
  mode: string;
  machine: Record<string, string>;
  params: Record<string, string | number>;
  writes: Record<string, Record<number, WrkResult[]>>;
  /** CPU seconds of the three processes per acknowledged write, in µs, per connection count. */
  cpuPerWriteUs: Record<string, Record<number, number[]>>;
  /** CPU busy share of the three processes during the write runs (1.0 = one core), by conns. */
  cpuCores: Record<string, Record<number, number[]>>;
  reads: Record<string, WrkResult[]>;
  failoverMs: Record<string, (number | null)[]>;
  singleStartMs: Record<string, (number | null)[]>;
  startupMs: Record<string, (number | null)[]>;
  binaryBytes: Record<string, number>;
  keys: number;
  rssBytes: Record<string, number[]>;
  rssEmptyBytes: Record<string, number[]>;
  dataBytes: Record<string, number[]>;
  restartMs: Record<string, (number | null)[]>;
  tls: TlsResults;
  /** Event-loop pauses of ours while snapshotting and installing at `keys` keys (phase keys). */
  pauses?: PauseResults;
  /** Phase api (issue 16): plain, keyed and conditional writes; absent when it did not run. */
  api?: ApiResults;
  /** Phase watch (issue 16): 1,000 watchers of one key; absent when it did not run. */
  watch?: WatchResults;
  /** Phase ui (issue 17): writes with ten pages watching vs none; absent when it did not run. */
  ui?: UiResults;
  /** Issue 18's phases ceiling, large and five (bench/scale_report.ts); absent when none ran. */
  scale?: ScaleResults;
  notes: string[];
}

/** Median of the finite values (NaN when there are none). */
export function median(xs: readonly (number | null)[]): number {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function num(x: number, digits: number): string {
  if (!Number.isFinite(x)) return "n/a";
  return x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** "median (min–max, ±spread%)", where spread is half the range relative to the median. */
export function spread(xs: readonly (number | null)[], digits = 0, scale = 1): string {
  const failed = xs.filter((x) => x === null).length;
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x)).map((x) => x * scale);
  if (v.length === 0) return "n/a";
  const m = median(v);
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const pct = m === 0 ? 0 : ((hi - lo) / 2 / m) * 100;
  const miss = failed > 0 ? `, ${failed} failed` : "";
  return v.length === 1 ? `${num(m, digits)}${miss}` : `${num(m, digits)} (${num(lo, digits)}–${num(hi, digits)}, ±${pct.toFixed(0)}%${miss})`;
}

interface Row {
  what: string;
  ours: string;
  peer: string;
  ratio: number;
  target: string;
  met: boolean | null;
}

function row(what: string, ours: readonly (number | null)[], peer: readonly (number | null)[], digits: number, target: string, check: ((r: number) => boolean) | null, scale = 1): Row {
  const ratio = median(ours) / median(peer);
  return { what, ours: spread(ours, digits, scale), peer: spread(peer, digits, scale), ratio, target, met: check === null || !Number.isFinite(ratio) ? null : check(ratio) };
}

/** A row of the writes table: the target is checked against etcd-native; the gateway is a second peer, unchecked. */
interface PeerRow extends Row {
  gateway: string;
  gatewayRatio: number;
}

function peerRow(what: string, ours: readonly number[], native: readonly number[], gateway: readonly number[], digits: number, target: string, check: ((r: number) => boolean) | null): PeerRow {
  return { ...row(what, ours, native, digits, target, check), gateway: spread(gateway, digits), gatewayRatio: median(ours) / median(gateway) };
}

const rates = (rs: readonly WrkResult[] | undefined): number[] => (rs ?? []).map((r) => r.okPerSec);
const p99s = (rs: readonly WrkResult[] | undefined): number[] => (rs ?? []).map((r) => r.p99Ms);
const p50s = (rs: readonly WrkResult[] | undefined): number[] => (rs ?? []).map((r) => r.p50Ms);
// Runs recorded before issue 18 have no p99.9 or client CPU: NaN, shown as n/a.
const p999s = (rs: readonly WrkResult[] | undefined): number[] => (rs ?? []).map((r) => r.p999Ms ?? Number.NaN);
/** The load generator's own CPU in cores (1.0 = one core busy) over each run. */
const clientCores = (rs: readonly WrkResult[] | undefined): number[] => (rs ?? []).map((r) => (r.clientCpuSeconds ?? Number.NaN) / r.seconds);

/** Labels of the writes and reads peers: etcd through the JSON gateway (wrk) and through its native gRPC API. */
const gw = "etcd";
const nat = "etcd-native";

/** Issue 18's write-rate targets, ours/etcd-native, by connection count (others: ≥ 3x). */
const writeTargets: Record<number, number> = { 1: 1.5 };

function writeRows(r: Results): PeerRow[] {
  const rows: PeerRow[] = [];
  for (const c of Object.keys(r.writes["hraftd"] ?? {}).map(Number)) {
    const [ours, native, gateway] = ["hraftd", nat, gw].map((l) => r.writes[l]?.[c]);
    const t = writeTargets[c] ?? 3;
    rows.push(peerRow(`writes/s, ${c} conn`, rates(ours), rates(native), rates(gateway), 0, `≥ ${t}x`, (x) => x >= t));
    rows.push(peerRow(`write p50 ms, ${c} conn`, p50s(ours), p50s(native), p50s(gateway), 2, "", null));
    rows.push(peerRow(`write p99 ms, ${c} conn`, p99s(ours), p99s(native), p99s(gateway), 2, "≤ 1x", (x) => x <= 1));
    rows.push(peerRow(`write p99.9 ms, ${c} conn`, p999s(ours), p999s(native), p999s(gateway), 2, "", null));
    const cpu = (l: string): number[] => r.cpuPerWriteUs[l]?.[c] ?? [];
    const cpuTarget = c === 64;
    rows.push(peerRow(`CPU µs per acked write (3 procs), ${c} conn`, cpu("hraftd"), cpu(nat), cpu(gw), 0, cpuTarget ? "≤ 0.25x" : "", cpuTarget ? (x) => x <= 0.25 : null));
    const cores = (l: string): number[] => r.cpuCores[l]?.[c] ?? [];
    rows.push(peerRow(`servers' CPU, cores (3 procs), ${c} conn`, cores("hraftd"), cores(nat), cores(gw), 2, "", null));
    rows.push(peerRow(`load generator's CPU, cores, ${c} conn`, clientCores(ours), clientCores(native), clientCores(gateway), 2, "", null));
  }
  return rows;
}

function renderPeerRows(rows: readonly PeerRow[]): string {
  const head = "| measurement | ours (hraftd-ts) | etcd-native (gRPC) | ours/native | target | met | etcd-gateway (JSON) | ours/gateway |\n" +
    "|---|---|---|---|---|---|---|---|\n";
  const ratio = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
  return head + rows.map((x) => {
    const met = x.met === null ? "" : x.met ? "yes" : "**no**";
    return `| ${x.what} | ${x.ours} | ${x.peer} | ${ratio(x.ratio)} | ${x.target} | ${met} | ${x.gateway} | ${ratio(x.gatewayRatio)} |`;
  }).join("\n") + "\n";
}

function otherRows(r: Results): Row[] {
  const rows: Row[] = [];
  const bare = rates(r.reads["bare"]);
  rows.push(row("linearizable reads/s, 64 conn (peer: bare Bun)", rates(r.reads["hraftd-linearizable"]), bare, 0, "≥ 0.8x", (x) => x >= 0.8));
  rows.push(row("stale reads/s, 64 conn (peer: bare Bun)", rates(r.reads["hraftd-stale"]), bare, 0, "≥ 0.95x", (x) => x >= 0.95));
  for (const [kind, etcdKind] of [["linearizable", "linearizable"], ["stale", "serializable"]] as const) {
    const ours = r.reads[`hraftd-${kind}`];
    for (const [peer, name] of [[nat, "etcd-native"], [gw, "etcd-gateway"]] as const) {
      const theirs = r.reads[`${peer}-${kind}`];
      rows.push(row(`${kind} reads/s, 64 conn (peer: ${name} ${etcdKind})`, rates(ours), rates(theirs), 0, "", null));
      if (peer !== nat) continue; // tails against the fastest peer only
      rows.push(row(`${kind} read p99 ms, 64 conn (peer: ${name})`, p99s(ours), p99s(theirs), 2, "", null));
      rows.push(row(`${kind} read p99.9 ms, 64 conn (peer: ${name})`, p999s(ours), p999s(theirs), 2, "", null));
    }
  }
  // The load generators' own CPU: wrk for ours (and for the bare responder), etcd-load for etcd-native.
  rows.push(row("load generator's CPU, cores, linearizable reads (peer: etcd-native's)", clientCores(r.reads["hraftd-linearizable"]), clientCores(r.reads[`${nat}-linearizable`]), 2, "", null));
  rows.push(row("load generator's CPU, cores, stale reads (peer: bare Bun's)", clientCores(r.reads["hraftd-stale"]), clientCores(r.reads["bare"]), 2, "", null));
  const fo = r.failoverMs["hraftd"] ?? [];
  rows.push(row("failover after SIGKILL of leader, ms", fo, r.failoverMs["etcd"] ?? [], 0, "≤ 0.4x", (x) => x <= 0.4));
  rows.push(row("single node, start → first write, ms", r.singleStartMs["hraftd"] ?? [], r.singleStartMs["etcd"] ?? [], 0, "≤ 0.25x", (x) => x <= 0.25));
  rows.push(row(`RSS per node, MiB, ${r.keys.toLocaleString("en-US")} keys`, r.rssBytes["hraftd"] ?? [], r.rssBytes["etcd"] ?? [], 1, "≤ 0.3x", (x) => x <= 0.3, 1 / 2 ** 20));
  rows.push(row("RSS per node, MiB, empty cluster", r.rssEmptyBytes["hraftd"] ?? [], r.rssEmptyBytes["etcd"] ?? [], 1, "", null, 1 / 2 ** 20));
  rows.push(row("RSS, MiB, empty cluster node (peer: bare Bun responder after the reads)", r.rssEmptyBytes["hraftd"] ?? [], r.rssEmptyBytes["bare"] ?? [], 1, "", null, 1 / 2 ** 20));
  rows.push(row(`data dir per node, MiB, ${r.keys.toLocaleString("en-US")} keys`, r.dataBytes["hraftd"] ?? [], r.dataBytes["etcd"] ?? [], 1, "", null, 1 / 2 ** 20));
  rows.push(row(`restart of a node holding ${r.keys.toLocaleString("en-US")} keys → serves, ms`, r.restartMs["hraftd"] ?? [], r.restartMs["etcd"] ?? [], 0, "≤ 0.3x", (x) => x <= 0.3));
  rows.push(...pauseRows(r.pauses));
  rows.push(row("start → first HTTP answer, ms (peer: bare Bun binary)", r.startupMs["hraftd"] ?? [], r.startupMs["bare"] ?? [], 0, "", null));
  const bin = (k: string): number[] => (r.binaryBytes[k] === undefined ? [] : [r.binaryBytes[k]!]);
  rows.push(row("binary size, MiB (peer: bare Bun binary)", bin("hraftd"), bin("bare"), 1, "", null, 1 / 2 ** 20));
  rows.push(row("binary size, MiB (peer: etcd)", bin("hraftd"), bin("etcd"), 1, "", null, 1 / 2 ** 20));
  return rows;
}

/**
 * The longest event-loop pause of ours seen by the /livez probes (bench/pause_probe.ts) while
 * members snapshotted and installed at the keys phase's size: one value per round (the
 * worst member for snapshots); the target is absolute (20 ms), so the peer column is empty.
 */
function pauseRows(p: PauseResults | undefined): Row[] {
  if (p === undefined || (p.snapshot.length === 0 && p.install.length === 0)) return [];
  const keys = p.keys.toLocaleString("en-US");
  const worst = p.snapshot.map((round) => Math.max(...round.map((s) => s.maxMs)));
  const absolute = (what: string, xs: number[]): Row => {
    const m = median(xs);
    return { what, ours: spread(xs, 1), peer: "", ratio: Number.NaN, target: "≤ 20 ms (every round)", met: xs.length === 0 ? null : Math.max(...xs) <= 20 && Number.isFinite(m) };
  };
  return [
    absolute(`longest event-loop pause while snapshotting ${keys} keys, ms (worst member per round)`, worst),
    absolute(`longest event-loop pause while installing a ${keys}-key snapshot, ms`, p.install.map((s) => s.maxMs)),
    // The same less the prober's own loop stalls inside each round trip (bench/pause_probe.ts):
    // the node paused at least this long. Absent in results older than the field.
    ...(p.install.concat(p.snapshot.flat()).some((s) => s.maxNodeMs === undefined) ? [] : [
      { what: `the same two, less the prober's own stalls (the node's pause at least), ms`, ours: `${spread(p.snapshot.map((round) => Math.max(...round.map((s) => s.maxNodeMs))), 1)} / ${spread(p.install.map((s) => s.maxNodeMs), 1)}`, peer: "", ratio: Number.NaN, target: "", met: null },
    ]),
    { what: `probes over 20 ms while snapshotting / installing at ${keys} keys`, ours: `${p.snapshot.flat().reduce((a, s) => a + s.over20, 0)} of ${p.snapshot.flat().reduce((a, s) => a + s.probes, 0)} / ${p.install.reduce((a, s) => a + s.over20, 0)} of ${p.install.reduce((a, s) => a + s.probes, 0)}`, peer: "", ratio: Number.NaN, target: "", met: null },
  ];
}

function renderRows(rows: readonly Row[]): string {
  const head = "| measurement | ours (hraftd-ts) | peer | ours/peer | target | met |\n|---|---|---|---|---|---|\n";
  return head + rows.map((x) => {
    const met = x.met === null ? "" : x.met ? "yes" : "**no**";
    return `| ${x.what} | ${x.ours} | ${x.peer} | ${Number.isFinite(x.ratio) ? x.ratio.toFixed(2) : "n/a"} | ${x.target} | ${met} |`;
  }).join("\n") + "\n";
}

/** Labels of the TLS phase's clusters (bench/tls_phase.ts names its clusters with these). */
export const tlsLabels = {
  oursPlain: "hraftd-plain",
  oursTls: "hraftd-tls",
  etcdPlain: "etcd-plain",
  etcdTls: "etcd-tls",
  oursHttps: "hraftd-https",
  oursNodeTls: "hraftd-nodetls",
  oursAuth: "hraftd-auth",
} as const;
const tl = tlsLabels;

function ratioText(a: readonly number[], b: readonly number[]): string {
  const x = median(a) / median(b);
  return Number.isFinite(x) ? x.toFixed(2) : "n/a";
}

/** One row of the TLS table: the four clusters' figures, ours secure/plain against `target`, ours secure/etcd TLS. */
function tlsRow(what: string, get: (label: string) => number[], digits: number, target: number | null): string {
  const cells = [tl.oursPlain, tl.oursTls, tl.etcdPlain, tl.etcdTls].map((l) => spread(get(l), digits));
  const vsPlain = median(get(tl.oursTls)) / median(get(tl.oursPlain));
  const met = target === null || !Number.isFinite(vsPlain) ? "" : vsPlain >= target ? "yes" : "**no**";
  return `| ${what} | ${cells.join(" | ")} | ${ratioText(get(tl.oursTls), get(tl.oursPlain))} | ${target === null ? "" : `≥ ${target}x`} | ${met} | ${ratioText(get(tl.oursTls), get(tl.etcdTls))} |`;
}

/** The breakdown table (BENCH_TLS_BREAKDOWN=1): ours with each feature alone beside plain and all three; "" without it. */
function renderTlsBreakdown(t: TlsResults, conns: readonly number[]): string {
  const labels = [tl.oursPlain, tl.oursHttps, tl.oursNodeTls, tl.oursAuth, tl.oursTls];
  if (![tl.oursHttps, tl.oursNodeTls, tl.oursAuth].some((l) => t.writes[l] !== undefined)) return "";
  const line = (what: string, get: (label: string) => number[], digits: number): string => {
    const cells = labels.map((l) => spread(get(l), digits));
    const ratios = labels.slice(1).map((l) => ratioText(get(l), get(tl.oursPlain)));
    return `| ${what} | ${cells.join(" | ")} | ${ratios.join(" | ")} |`;
  };
  const rows = [
    ...conns.map((c) => line(`writes/s, ${c} conn`, (l) => rates(t.writes[l]?.[c]), 0)),
    ...conns.map((c) => line(`CPU µs per acked write (3 procs), ${c} conn`, (l) => t.cpuPerWriteUs[l]?.[c] ?? [], 0)),
    line("linearizable reads/s, 64 conn", (l) => rates(t.reads[l]), 0),
  ];
  return `
What each feature costs alone (BENCH_TLS_BREAKDOWN=1: three more clusters of ours in the same rotation):

| measurement | plain | HTTPS only | node TLS only | -auth only | all three | HTTPS/plain | node TLS/plain | -auth/plain | all/plain |
|---|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}
`;
}

/** The TLS section of RESULTS.md, or "" when the phase did not run. */
function renderTls(t: TlsResults | undefined): string {
  if (t === undefined || (Object.keys(t.writes).length === 0 && Object.keys(t.missing).length === 0)) return "";
  const rows: string[] = [];
  const conns = [...new Set(Object.values(t.writes).flatMap((w) => Object.keys(w).map(Number)))].sort((a, b) => a - b);
  for (const c of conns) {
    rows.push(tlsRow(`writes/s, ${c} conn`, (l) => rates(t.writes[l]?.[c]), 0, 0.85));
    rows.push(tlsRow(`write p50 ms, ${c} conn`, (l) => p50s(t.writes[l]?.[c]), 2, null));
    rows.push(tlsRow(`write p99 ms, ${c} conn`, (l) => p99s(t.writes[l]?.[c]), 2, null));
    rows.push(tlsRow(`CPU µs per acked write (3 procs), ${c} conn`, (l) => t.cpuPerWriteUs[l]?.[c] ?? [], 0, null));
  }
  rows.push(tlsRow("linearizable reads/s, 64 conn", (l) => rates(t.reads[l]), 0, null));
  rows.push(tlsRow("linearizable read p50 ms, 64 conn", (l) => p50s(t.reads[l]), 2, null));
  rows.push(tlsRow("linearizable read p99 ms, 64 conn", (l) => p99s(t.reads[l]), 2, null));
  const missing = Object.entries(t.missing).map(([l, why]) => `\n- **${l} not measured**: ${why}`).join("");
  return `
## Security: TLS and authentication beside plain runs (issue 14)

Four 3-node clusters in the same invocation, measured in turn with the order reversed on
every other repeat: ours plain (no security flags); ours secure (HTTPS with \`-http-cert
-http-key\`, mutual TLS between nodes with \`-node-cert -node-key -node-ca-cert\`, \`-auth\`
with one user whose password is a \`Bun.password.hash\` hash, Basic credentials on every
request, joins over HTTPS with \`-join-as\`); etcd plain; etcd TLS (HTTPS for clients through
its gateway, \`--peer-cert-file --peer-key-file --peer-trusted-ca-file --peer-client-cert-auth\`
between members). Certificates (EC P-256) come from a CA made for the run with openssl.
Issue 14's target: writes with security on at least 0.85x our own plain-text rate.

| measurement | ours plain | ours secure | etcd plain | etcd TLS | ours secure/plain | target | met | ours secure/etcd TLS |
|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}

- No \`-http-verify-client\` on ours: wrk cannot present a client certificate, so clients
  authenticate with Basic credentials only; the servers' certificates are checked by the
  bench's own requests (fetch with the CA), not by wrk, which does not verify.
- Writes and reads go to the leader, so node TLS is paid on replication (and on the leader's
  heartbeats and read-index rounds), not on forwarding.${missing}
${renderTlsBreakdown(t, conns)}`;
}

/** The whole RESULTS.md text. */
export function renderResults(r: Results): string {
  const machine = Object.entries(r.machine).map(([k, v]) => `- ${k}: ${v}`).join("\n");
  const params = Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(", ");
  // Sections and rows of phases that did not run are left out (BENCH_PHASES).
  const writes = writeRows(r);
  const notes = r.notes.length === 0 ? "" : `\n## Notes from this run\n\n${r.notes.map((n) => `- ${n}`).join("\n")}\n`;
  return `# Benchmark results: hraftd-ts beside etcd and the bare machine

Written by \`bench/run\` on ${r.date} (${r.mode} mode: ${params}). Peer is etcd unless the
row names another: in the writes table etcd driven through its native gRPC API (etcd-native,
the target column's peer) and, as a second peer, through its HTTP/JSON gateway.
Each cell: median (min–max, ±half-range as % of the median) over repeats.
Ratios are ours/peer medians; for rates higher is better, for times, CPU and sizes lower is.
Issue 18's targets are checked where it sets one, issue 7's elsewhere (start-up).
Numbers from a shared 2-core machine are noisy; CPU per write is the steadiest figure.

## Machine

${machine}

${writes.length === 0 ? "" : `## Writes (unique keys, 3-node clusters, fsync on; ours and etcd-gateway by wrk, etcd-native by bench/etcd_load)

${renderPeerRows(writes)}
`}## Reads, failover, start-up, memory and size

${renderRows(otherRows(r).filter((x) => x.ours !== "n/a" || x.peer !== "n/a"))}${renderTls(r.tls)}${renderScale(r.scale)}${renderApi(r.api)}${renderWatch(r.watch)}${renderUi(r.ui)}${notes}
## Method

- Both clusters run on loopback with their data directories under the same temp directory
  (same disk). Ours: the compiled binary, default flags. etcd: Debian's etcd-server,
  default flags (heartbeat 100 ms, election 1 s), logs at warn, driven two ways: through its
  native gRPC API by bench/etcd_load (Go, Debian's packaged clientv3; N workers with one
  request in flight each, as wrk's N connections, sharing BENCH_NATIVE_CONNECTIONS gRPC
  connections, 1 by default as in etcd's own benchmark tool) and through its v3 HTTP/JSON
  gateway with wrk (\`POST /v3/kv/put\`, base64 key and value).
- Writes: at the leader, each request one new key \`<prefix>-<thread or worker>-<n>\` (value
  16 bytes, the same for all three); the three runs alternate order per connection count and
  repeat. A response counts as acknowledged when its status is 2xx (wrk) or the RPC succeeds
  (etcd-load). CPU per write: utime+stime of the three server processes from
  /proc/<pid>/stat before and after each run, divided by the acknowledged writes. The load
  generator's own CPU (wrk's rusage, etcd-load's getrusage over its run) is reported in cores
  beside the servers', so a reader can see neither side was starved on the shared cores.
- Reads: at the leader, random keys among 1,000 preloaded, 64 connections (workers);
  ours \`?level=linearizable\` (ReadIndex) and \`?level=stale\` with wrk and
  bench/lua/get_hraftd.lua, etcd default and \`serializable\` ranges through both etcd
  peers; the bare Bun responder (bench/bare_responder.ts, compiled the same way) answers a
  constant. The order reverses on every other repeat.
- Failover: SIGKILL of the leader, then writes are sent every 10 ms to each survivor; the
  time to the first acknowledged one. The killed node is restarted and rejoins between rounds.
- Single node: a fresh data directory, spawn, then writes every 5 ms until one is acknowledged.
- Keys: one cluster at a time (at ten million keys both would not fit in memory side by
  side; etcd runs with \`--quota-backend-bytes\` 8 GiB, its documented maximum, since its 2 GiB
  default is full before ten million keys), loaded in requests of 100 keys (one POST / one
  txn each), 64 at a time. RSS (VmRSS)
  and \`du -sb\` of each member's data directory once every member holds the last key and
  its memory has settled (both runtimes return freed pages to the OS some seconds after a burst: read each
  second from 10 s on until no member's RSS moved over 2% across 5 readings, at most 60 s, the
  same rule for both systems; the data directories at the same moment); then a follower is stopped
  (SIGTERM) and restarted, timed from spawn to its first linearizable read of the last key.
- Pauses (ours, at the keys phase's size; bench/snapshot_pause_phase.ts): a probe per member
  sends GET /livez one at a time every 2 ms; its round trip is the pause it met plus ~0.1 ms,
  so the longest bounds the longest pause. Snapshots: one writer overwrites the loaded keys,
  100 a request, until every member has saved another snapshot; installs: a follower is
  stopped, writes go on until the leader's log has moved past it, and the follower is started
  again, probed from its first answer until it serves the last value written. The writer's
  requests stand in the probes' way too, so these figures bound the pauses from above.
`;
}
