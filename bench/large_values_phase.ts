// Phase "large" (issue 18): 64 KiB values at 16 connections to a 3-node cluster of ours (and
// etcd beside it, for reference), against the disk's own sequential write + fdatasync
// bandwidth probed in the same run, before and after the writes. Target: our acknowledged
// value bytes per second ≥ 0.7x the disk's. All three members share the one disk, so the
// disk carries every value three times (plus framing); the storage bytes the members really
// wrote (/proc/<pid>/io) are reported beside it so a reader can see how full the disk was.

import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from "node:fs";
import { EtcdCluster, HraftdCluster, type Cluster } from "./clusters.ts";
import { cpuSeconds } from "./procs.ts";
import { type BenchConfig, leaderOf, log, memberSpecs } from "./phases.ts";
import { storageWriteBytes, threadCpuSeconds } from "./proc_stats.ts";
import type { LargeResults } from "./scale_report.ts";
import { runWrk } from "./wrk.ts";

export const largeValueBytes = 64 * 1024;
export const largeConnections = 16;
/** The disk probe's chunk sizes: one value, and what a 16-connection group commit can gather. */
const probeChunks = [64 * 1024, 1024 * 1024] as const;

/**
 * Sequential appends of `chunk` bytes to a fresh file in `dir`, each followed by fdatasync,
 * for `seconds`: bytes per second. Synchronous on purpose: nothing else runs meanwhile.
 */
export function diskWriteSyncBandwidth(dir: string, chunk: number, seconds: number): number {
  const path = `${dir}/disk-bandwidth-probe`;
  const fd = openSync(path, "w");
  const buf = new Uint8Array(chunk).fill(0x5a);
  let bytes = 0;
  const t0 = performance.now();
  try {
    while (performance.now() - t0 < seconds * 1000) {
      writeSync(fd, buf);
      fdatasyncSync(fd);
      bytes += chunk;
    }
  } finally {
    closeSync(fd);
    rmSync(path);
  }
  return bytes / ((performance.now() - t0) / 1000);
}

function probeDisk(cfg: BenchConfig, r: LargeResults): void {
  for (const chunk of probeChunks) {
    const bw = diskWriteSyncBandwidth(cfg.dir, chunk, Math.min(3, cfg.seconds));
    (r.diskBytesPerSec[String(chunk)] ??= []).push(bw);
    log(`disk: sequential ${chunk / 1024} KiB appends + fdatasync → ${(bw / 2 ** 20).toFixed(1)} MiB/s`);
  }
}

/**
 * wrk at member `i` with put_large.lua. Every run uses the same prefix and keys cycle over
 * 1024 per wrk thread, so the state stays at 128 MiB (each write is still a new log entry)
 * and the runs see the steady state, snapshots of it included, not a state growing per run.
 */
function target(c: Cluster, i: number, prefix: string): { url: string; script: string; args: string[] } {
  return { url: c.url(i), script: "put_large.lua", args: [c instanceof EtcdCluster ? "etcd" : "hraftd", prefix, String(largeValueBytes)] };
}

export function emptyLargeResults(): LargeResults {
  return { valueBytes: largeValueBytes, connections: largeConnections, writes: {}, storageBytesPerSec: {}, cpuPerWriteUs: {}, leaderMainBusy: {}, diskBytesPerSec: {} };
}

export async function phaseLarge(cfg: BenchConfig, r: LargeResults): Promise<void> {
  const ours = new HraftdCluster(cfg.binary, memberSpecs(cfg, 0, "node", 3));
  const etcd = new EtcdCluster(memberSpecs(cfg, 20, "etcd", 3), `bench-large-${process.pid}`);
  const systems: Cluster[] = [ours, etcd];
  try {
    await Promise.all(systems.map((c) => c.startAll()));
    probeDisk(cfg, r);
    for (const c of systems) {
      await runWrk(target(c, await leaderOf(c), "big"), largeConnections, Math.min(3, cfg.seconds), `${c.label}-large-warmup`);
      r.writes[c.label] = [];
      r.storageBytesPerSec[c.label] = [];
      r.cpuPerWriteUs[c.label] = [];
      r.leaderMainBusy[c.label] = [];
    }
    for (let rep = 0; rep < cfg.repeats; rep++) {
      for (const c of rep % 2 === 0 ? systems : [...systems].reverse()) {
        const l = await leaderOf(c);
        const pids = c.pids();
        const sum = (f: (pid: number) => number): number => pids.reduce((s, p) => s + f(p), 0);
        const io0 = sum(storageWriteBytes);
        const cpu0 = sum(cpuSeconds);
        const lpid = c.procs[l]!.pid;
        const main0 = threadCpuSeconds(lpid);
        const w = await runWrk(target(c, l, "big"), largeConnections, cfg.seconds, `${c.label}-large-c${largeConnections}`);
        const io = sum(storageWriteBytes) - io0;
        const cpu = sum(cpuSeconds) - cpu0;
        const mainBusy = (threadCpuSeconds(lpid) - main0) / w.seconds;
        r.writes[c.label]!.push(w);
        r.storageBytesPerSec[c.label]!.push(io / w.seconds);
        r.cpuPerWriteUs[c.label]!.push(w.ok > 0 ? (cpu / w.ok) * 1e6 : Number.NaN);
        r.leaderMainBusy[c.label]!.push(mainBusy);
        log(`${c.label} 64 KiB writes c=${largeConnections}: ${w.okPerSec.toFixed(0)}/s = ${((w.okPerSec * largeValueBytes) / 2 ** 20).toFixed(1)} MiB/s of values, ` +
          `p99 ${w.p99Ms.toFixed(1)} ms, errors ${w.errors}; members wrote ${(io / w.seconds / 2 ** 20).toFixed(1)} MiB/s to storage, CPU ${((cpu / w.ok) * 1e6).toFixed(0)} µs/write, ` +
          `leader's main thread ${mainBusy.toFixed(2)} of a core`);
      }
    }
    probeDisk(cfg, r);
  } finally {
    await Promise.all(systems.map((c) => c.stopAll()));
  }
}
