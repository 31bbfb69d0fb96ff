// Reads what bench/stall_trace.ts recorded in a directory and says what stalled the leader's
// event loop, per load phase:
//  - each stall the probe saw (bench/stall_probe.ts) with how the main thread spent it (on a
//    CPU, waiting for one, blocked), the callbacks that ran long in it, the collections whose
//    log line arrived in it or just after, and the profile's leaf and entry functions inside it;
//  - a summary by cause, where a stall is put down to: the machine (mostly waiting for a CPU),
//    blocked (mostly in a system call), the collector (a collection's pause of 1 ms or more
//    overlaps it), or else the JavaScript that the profile saw most inside it;
//  - the collector's pauses, and the functions that took the most samples over the phase.
//
//   bun bench/stall_analyze.ts <dir>     (stall_trace.ts calls it at the end)

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface Stall {
  end: number;
  gapMs: number;
  cpuMs: number;
  runqMs: number;
  blockedMs: number;
  calls: { name: string; ms: number; at: number }[];
}

interface Gc {
  /** Arrival of the line (about the end of the collection), epoch ms. */
  at: number;
  kind: string;
  pauseMs: number;
  cycleMs: number;
}

interface Phase {
  name: string;
  start: number;
  end: number;
  result: { p50: number; p90: number; p99: number; p999: number; max: number; perSec: number };
}

/** Samples of the profile: epoch ms, leaf function, entry function (the frame above the root). */
interface Samples {
  at: Float64Array;
  leaf: string[];
  entry: string[];
  /** Up to four frames from the leaf, "a < b < c". */
  stack: string[];
}

function readStalls(dir: string): Stall[] {
  const path = join(dir, "probe.jsonl");
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Stall);
}

/** JavaScriptCore's logGC lines: "[GC<…>: START E … => EdenCollection … p=0.8ms (max …), cycle 1.2ms END]". */
function readGcs(dir: string): Gc[] {
  const path = join(dir, "node0.stderr.log");
  if (!existsSync(path)) return [];
  const out: Gc[] = [];
  // A collection's line may be written in pieces: its kind is in the START piece.
  let kind = "?";
  for (const line of readFileSync(path, "utf8").split("\n")) {
    kind = /START \w+ \d+kb => (\w+)Collection/.exec(line)?.[1] ?? kind;
    const m = /^(\d+\.\d+) .*p=([\d.]+)ms \(max [\d.]+\), cycle ([\d.]+)ms END/.exec(line);
    if (m === null) continue;
    out.push({ at: Number(m[1]), kind, pauseMs: Number(m[2]), cycleMs: Number(m[3]) });
    kind = "?";
  }
  return out;
}

function readProfile(dir: string): Samples | null {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (file === undefined) return null;
  const p = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
    startTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const parent = new Map<number, number>();
  const byId = new Map<number, (typeof p.nodes)[number]>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const name = (id: number): string => {
    const f = byId.get(id)!.callFrame;
    const file = f.url.split("/").pop() ?? "";
    return `${f.functionName === "" ? "(anon)" : f.functionName}${file === "" ? "" : `@${file}:${f.lineNumber + 1}`}`;
  };
  const leafOf = new Map<number, string>();
  const entryOf = new Map<number, string>();
  const stackOf = new Map<number, string>();
  for (const n of p.nodes) {
    const chain: number[] = [];
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) chain.push(id);
    // chain: leaf … root; the entry is the frame just above the root.
    leafOf.set(n.id, name(n.id));
    // Under the probe's wrappers (bench/stall_probe.ts), the frame they called.
    let e = chain.length - 2;
    while (e > 0 && name(chain[e]!).includes("stall_probe.ts")) e--;
    entryOf.set(n.id, e >= 0 ? name(chain[e]!) : "(root)");
    stackOf.set(n.id, chain.slice(0, Math.max(1, Math.min(4, chain.length - 1))).map(name).join(" < "));
  }
  const at = new Float64Array(p.samples.length);
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    at[i] = t / 1000;
  }
  return {
    at,
    leaf: p.samples.map((s) => leafOf.get(s)!),
    entry: p.samples.map((s) => entryOf.get(s)!),
    stack: p.samples.map((s) => stackOf.get(s)!),
  };
}

/** Index of the first sample at or after `t`. */
function lowerBound(a: Float64Array, t: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function top(counts: Map<string, number>, n: number): [string, number][] {
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, n);
}

function count(keys: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

/** The samples in [from, to). */
function window(s: Samples | null, from: number, to: number): number[] {
  if (s === null) return [];
  const out: number[] = [];
  for (let i = lowerBound(s.at, from); i < s.at.length && s.at[i]! < to; i++) out.push(i);
  return out;
}

/** Collections that overlap [from, to]: a line arrives at most a few ms after its collection ends. */
function gcsIn(gcs: Gc[], from: number, to: number): Gc[] {
  return gcs.filter((g) => g.at - g.cycleMs <= to && g.at + 3 >= from);
}

function cause(st: Stall, gcs: Gc[], s: Samples | null): string {
  const from = st.end - st.gapMs;
  if (st.runqMs >= st.gapMs / 2) return "machine (waiting for a CPU)";
  if (gcsIn(gcs, from, st.end).some((g) => g.pauseMs >= 1)) return "collector pause";
  if (st.blockedMs >= st.gapMs / 2) return "blocked (system call or collector helpers)";
  const idx = window(s, from, st.end);
  if (idx.length === 0) return "native (no JavaScript sampled)";
  return `js: ${top(count(idx.map((i) => s!.entry[i]!)), 1)[0]![0]}`;
}

const f1 = (x: number): string => x.toFixed(1);

export function analyze(dir: string): string {
  const phases = JSON.parse(readFileSync(join(dir, "phases.json"), "utf8")) as Phase[];
  const stalls = readStalls(dir);
  const gcs = readGcs(dir);
  const prof = readProfile(dir);
  const lines: string[] = [`stall analysis of ${dir}: ${stalls.length} stalls, ${gcs.length} collections, ${prof?.at.length ?? 0} samples`];
  for (const ph of phases) {
    const secs = (ph.end - ph.start) / 1000;
    const r = ph.result;
    lines.push("", `== ${ph.name}: ${r.perSec.toFixed(0)}/s, p50 ${r.p50.toFixed(2)} p90 ${r.p90.toFixed(2)} p99 ${r.p99.toFixed(2)} p99.9 ${r.p999.toFixed(2)} max ${r.max.toFixed(2)} ms`);
    const inPh = stalls.filter((st) => st.end > ph.start && st.end <= ph.end);
    const total = inPh.reduce((a, st) => a + st.gapMs, 0);
    const buckets = [2, 5, 10, 20, 50, Infinity];
    const hist = buckets.slice(1).map((hi, i) => `${buckets[i]}-${hi === Infinity ? "" : hi}ms: ${inPh.filter((st) => st.gapMs - 1 > buckets[i]! && st.gapMs - 1 <= hi).length}`);
    lines.push(`stalls: ${inPh.length} (${f1(inPh.length / secs)}/s), ${f1(total)} ms in all (${f1(total / secs / 10)}% of the time); ${hist.join(", ")}`);
    const sum = { cpu: 0, runq: 0, blocked: 0 };
    for (const st of inPh) {
      sum.cpu += st.cpuMs;
      sum.runq += st.runqMs;
      sum.blocked += st.blockedMs;
    }
    lines.push(`  of the stalled time: on a CPU ${f1(sum.cpu)} ms, waiting for a CPU ${f1(sum.runq)} ms, blocked ${f1(sum.blocked)} ms`);
    const byCause = new Map<string, { n: number; ms: number }>();
    for (const st of inPh) {
      const c = cause(st, gcs, prof);
      const e = byCause.get(c) ?? { n: 0, ms: 0 };
      e.n++;
      e.ms += st.gapMs;
      byCause.set(c, e);
    }
    lines.push("  by cause (count, ms):");
    for (const [c, e] of [...byCause].sort((a, b) => b[1].ms - a[1].ms).slice(0, 10)) lines.push(`    ${String(e.n).padStart(5)} ${f1(e.ms).padStart(8)}  ${c}`);
    const phGcs = gcs.filter((g) => g.at > ph.start && g.at <= ph.end);
    const pauses = phGcs.map((g) => g.pauseMs).sort((a, b) => a - b);
    const q = (x: number): string => (pauses.length === 0 ? "-" : pauses[Math.min(pauses.length - 1, Math.floor(x * pauses.length))]!.toFixed(2));
    const kinds = count(phGcs.map((g) => g.kind));
    lines.push(`collections: ${phGcs.length} (${[...kinds].map(([k, n]) => `${k} ${n}`).join(", ")}), pause total ${f1(pauses.reduce((a, b) => a + b, 0))} ms, ` +
      `p50 ${q(0.5)} p99 ${q(0.99)} max ${pauses.length === 0 ? "-" : pauses[pauses.length - 1]!.toFixed(2)} ms`);
    const idx = window(prof, ph.start, ph.end);
    if (idx.length > 0) {
      lines.push(`profile: ${idx.length} samples; most sampled leaf functions:`);
      for (const [k, n] of top(count(idx.map((i) => prof!.leaf[i]!)), 12)) lines.push(`    ${f1((100 * n) / idx.length).padStart(5)}%  ${k}`);
      lines.push("  entries:");
      for (const [k, n] of top(count(idx.map((i) => prof!.entry[i]!)), 8)) lines.push(`    ${f1((100 * n) / idx.length).padStart(5)}%  ${k}`);
    }
    lines.push("longest stalls:");
    for (const st of [...inPh].sort((a, b) => b.gapMs - a.gapMs).slice(0, 8)) {
      const from = st.end - st.gapMs;
      const w = window(prof, from, st.end);
      const stacks = top(count(w.map((i) => prof!.stack[i]!)), 3).map(([k, n]) => `${n}x ${k}`);
      const g = gcsIn(gcs, from, st.end).map((x) => `${x.kind} p=${x.pauseMs.toFixed(2)} cycle ${x.cycleMs.toFixed(1)}`);
      lines.push(`  +${f1(from - ph.start)} ms: ${f1(st.gapMs)} ms (cpu ${f1(st.cpuMs)}, runq ${f1(st.runqMs)}, blocked ${f1(st.blockedMs)}) -> ${cause(st, gcs, prof)}`);
      if (st.calls.length > 0) lines.push(`      long callbacks: ${st.calls.map((c) => `${c.name} ${c.ms.toFixed(1)}`).join("; ").slice(0, 300)}`);
      if (g.length > 0) lines.push(`      gc: ${g.join("; ")}`);
      for (const k of stacks) lines.push(`      ${k.slice(0, 240)}`);
    }
  }
  return lines.join("\n");
}

if (import.meta.main) console.log(analyze(process.argv[2]!));
