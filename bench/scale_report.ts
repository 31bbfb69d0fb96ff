// Issue 18's scale rows for RESULTS.md: the single-thread ceiling (phase "ceiling"), 64 KiB
// values against the disk (phase "large") and five nodes against three (phase "five").
// Kept apart from report.ts, which only holds these results and calls renderScale.
// (report.ts imports this file and this file imports report.ts's helpers: only functions
// cross, called after both modules have loaded, so the cycle is harmless.)

import { median, spread } from "./report.ts";
import type { WrkResult } from "./wrk.ts";

/** Phase "large": one connection count, one value size; arrays hold one value per repeat. */
export interface LargeResults {
  valueBytes: number;
  connections: number;
  writes: Record<string, WrkResult[]>;
  /** Bytes per second all members wrote to storage during the run (/proc/<pid>/io write_bytes). */
  storageBytesPerSec: Record<string, number[]>;
  /** CPU µs of all members per acknowledged write. */
  cpuPerWriteUs: Record<string, number[]>;
  /** The leader's main-thread busy share (1.0 = one core); meaningless for etcd (Go spreads its work over threads). */
  leaderMainBusy: Record<string, number[]>;
  /** The disk alone, keyed by chunk bytes: appends + fdatasync, bytes per second, one per probe. */
  diskBytesPerSec: Record<string, number[]>;
}

/** Phase "five": by cluster label ("hraftd-3", "hraftd-5"), then connection count. */
export interface FiveResults {
  writes: Record<string, Record<number, WrkResult[]>>;
  /** CPU µs of all members per acknowledged write. */
  cpuPerWriteUs: Record<string, Record<number, number[]>>;
  /** The leader's main-thread CPU µs per acknowledged write (what bounds it given a core per node). */
  leaderMainUsPerWrite: Record<string, Record<number, number[]>>;
}

/** Phase "ceiling": by connection count; CPU in µs per acknowledged write. */
export interface CeilingResults {
  writes: Record<number, WrkResult[]>;
  /** The leader's main thread (where JavaScript runs: HTTP, Raft, the map). */
  mainUsPerWrite: Record<number, number[]>;
  /** The whole leader process (main thread plus GC and I/O helper threads). */
  leaderUsPerWrite: Record<number, number[]>;
  /** All three members. */
  clusterUsPerWrite: Record<number, number[]>;
  /** The main thread's busy share during the run (1.0 = one core). */
  mainBusy: Record<number, number[]>;
  /** The last repeat's leader CPU per write by thread name, largest first. */
  threads: Record<number, [string, number][]>;
  /** Stale reads at the leader, 64 connections: HTTP and a map lookup, no Raft. */
  staleReads: WrkResult[];
  /** The leader's main-thread CPU per stale read, µs. */
  mainUsPerStaleRead: number[];
}

export interface ScaleResults {
  ceiling?: CeilingResults;
  large?: LargeResults;
  five?: FiveResults;
}

const rates = (rs: readonly WrkResult[] | undefined): number[] => (rs ?? []).map((r) => r.okPerSec);
const met = (ok: boolean | null): string => (ok === null ? "" : ok ? "yes" : "**no**");
const ratio = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "n/a");

function renderCeiling(c: CeilingResults): string {
  const conns = Object.keys(c.writes).map(Number).sort((a, b) => a - b);
  const rows = conns.map((n) => {
    const ceiling = (c.mainUsPerWrite[n] ?? []).map((us) => 1e6 / us);
    const threads = (c.threads[n] ?? []).slice(0, 4).map(([name, us]) => `${name} ${us.toFixed(1)}`).join(", ");
    return `| ${n} | ${spread(rates(c.writes[n]))} | ${spread(c.mainUsPerWrite[n] ?? [], 1)} | ${spread(c.leaderUsPerWrite[n] ?? [], 1)} | ` +
      `${spread(c.clusterUsPerWrite[n] ?? [], 1)} | ${spread(c.mainBusy[n] ?? [], 2)} | ${spread(ceiling)} | ${threads} |`;
  });
  return `
### The single-thread ceiling (phase ceiling)

A 3-node cluster of ours; unique-key writes (16-byte values) at the leader. CPU per
acknowledged write read from /proc: the leader's main thread (\`task/<pid>/stat\`, where all
JavaScript runs), the whole leader process, all three members. Ceiling = 1 s / main-thread CPU
per write: the leader's write rate once its main thread has a core of its own, on a machine
with more cores. Busy = the main thread's share of one core during the run (here the three
members and wrk share 2 cores, so it stays below 1 and the rate below the ceiling).

Stale reads at the leader (64 connections, HTTP and a map lookup, no Raft): ${spread(rates(c.staleReads))}/s,
leader main thread ${spread(c.mainUsPerStaleRead, 1)} µs per read: about the share of a write's main-thread
cost that HTTP handling takes, so what worker threads could move off the Raft thread.

| conns | writes/s | leader main thread µs/write | leader process µs/write | 3 members µs/write | main thread busy (cores) | ceiling writes/s | leader µs/write by thread (last repeat) |
|---|---|---|---|---|---|---|---|
${rows.join("\n")}
`;
}

function renderLarge(l: LargeResults): string {
  const mib = 1 / 2 ** 20;
  const disk = Object.entries(l.diskBytesPerSec).map(([chunk, xs]) => ({ chunk: Number(chunk), xs, m: median(xs) }));
  const best = disk.reduce((a, b) => (b.m > a.m ? b : a), { chunk: 0, xs: [] as number[], m: Number.NEGATIVE_INFINITY });
  const valueBw = (label: string): number[] => rates(l.writes[label]).map((x) => x * l.valueBytes);
  const rows = Object.keys(l.writes).map((label) => {
    const x = median(valueBw(label)) / best.m;
    const target = label === "hraftd";
    return `| ${label} | ${spread(rates(l.writes[label]))} | ${spread(valueBw(label), 1, mib)} | ${spread((l.writes[label] ?? []).map((w) => w.p99Ms), 1)} | ` +
      `${spread(l.storageBytesPerSec[label] ?? [], 1, mib)} | ${spread(l.cpuPerWriteUs[label] ?? [], 0)} | ${target ? spread(l.leaderMainBusy[label] ?? [], 2) : "(Go)"} | ${ratio(x)} | ${target ? "≥ 0.7x" : ""} | ${met(target && Number.isFinite(x) ? x >= 0.7 : null)} |`;
  });
  const diskLines = disk.map((d) => `${d.chunk / 1024} KiB appends + fdatasync: ${spread(d.xs, 1, mib)} MiB/s`).join("; ");
  return `
### Large values against the disk (phase large)

${l.valueBytes / 1024} KiB values at ${l.connections} connections to the leader of a 3-node cluster (keys
cycle over 1,024 per wrk thread, so each write is a new log entry but memory stays bounded).
The disk alone, in the same run before and after the writes, one appender on a fresh file in
the run's directory: ${diskLines}. The target compares our acknowledged value bytes per second
with the better of those (${Number.isFinite(best.m) ? (best.m * mib).toFixed(0) : "n/a"} MiB/s). The three members share that disk, so it
carries each value three times, which alone caps the ratio at 1/3 here (the target suits
a disk per member). "Storage written" is what the members wrote (/proc/<pid>/io
write_bytes, all members; an upper bound on what reached the disk: a page counts again each
time a write dirties it, so before 41f55ac, when our WAL wrote 1 MiB of zeros ahead of its
records and then overwrote them, it counted ~7x the records' bytes where /proc/diskstats saw
2x; since then a flush of 256 KiB or more, such as a batch of 64 KiB values at 16
connections, writes no zeros ahead).

| system | writes/s | values MiB/s | p99 ms | storage written MiB/s (all members) | CPU µs/write (all members) | leader main thread busy (cores) | values/disk | target | met |
|---|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}
`;
}

function renderFive(f: FiveResults, three: string, five: string): string {
  const conns = Object.keys(f.writes[three] ?? {}).map(Number).sort((a, b) => a - b);
  const main = (label: string, n: number): number[] => f.leaderMainUsPerWrite[label]?.[n] ?? [];
  const rows = conns.map((n) => {
    const x = median(rates(f.writes[five]?.[n])) / median(rates(f.writes[three]?.[n]));
    return `| ${n} | ${spread(rates(f.writes[three]?.[n]))} | ${spread(rates(f.writes[five]?.[n]))} | ${ratio(x)} | ≥ 0.8x | ${met(Number.isFinite(x) ? x >= 0.8 : null)} | ` +
      `${spread(f.cpuPerWriteUs[three]?.[n] ?? [], 0)} | ${spread(f.cpuPerWriteUs[five]?.[n] ?? [], 0)} | ` +
      `${spread(main(three, n), 1)} | ${spread(main(five, n), 1)} | ${ratio(median(main(three, n)) / median(main(five, n)))} |`;
  });
  return `
### Five nodes against three (phase five)

Two clusters of ours running side by side, 3 and 5 members, unique-key writes (16-byte
values) at the leader, order alternating per repeat. All members of both share this
machine's cores and disk, so the rates are bound by total CPU (all members' µs per write).
With a core per node the leader's main thread bounds each cluster instead: the last column,
3-node over 5-node leader main-thread µs per write, is the 5/3 rate ratio to expect there.

| conns | 3 nodes writes/s | 5 nodes writes/s | 5/3 | target | met | 3 nodes CPU µs/write | 5 nodes CPU µs/write | 3 nodes leader main µs/write | 5 nodes leader main µs/write | 5/3 with a core per node |
|---|---|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}
`;
}

/** The scale section of RESULTS.md, or "" when none of its phases ran. */
export function renderScale(s: ScaleResults | undefined): string {
  if (s === undefined || (s.ceiling === undefined && s.large === undefined && s.five === undefined)) return "";
  return `
## Scale: one thread, large values, five nodes (issue 18)
${s.ceiling === undefined ? "" : renderCeiling(s.ceiling)}${s.large === undefined ? "" : renderLarge(s.large)}${s.five === undefined ? "" : renderFive(s.five, "hraftd-3", "hraftd-5")}`;
}
