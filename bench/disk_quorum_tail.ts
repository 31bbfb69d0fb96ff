// The disk's own share of the 1-connection write tail (issue 18): three writers, one file
// each (as three members on one disk), append one small record and fdatasync it in lock-step
// rounds, as a leader and two followers do for each write at one connection. A round's
// "quorum" latency is the second of its three syncs to finish: the earliest a write could
// commit if nothing but the disk took time. Its p99 is the floor under our write p99 (and
// etcd's) on this disk at this rate; compare it with the cluster's in the same minute.
//
//   bun bench/disk_quorum_tail.ts [seconds=10] [rounds per second=1800, 0: as fast as it goes] [dir=/var/tmp]
//
// Each file gets 1 MiB of zeros written and synced ahead, as the WAL does (raft/wal.ts,
// preallocateBytes), so a sync writes data only, not the file's size. Prints one line of
// percentiles for each writer's own sync and for the round's quorum, in milliseconds.

import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";

const seconds = Number(process.argv[2] ?? "10");
const rate = Number(process.argv[3] ?? "1800");
const parent = process.argv[4] ?? "/var/tmp";
const writers = 3;
const recordBytes = 120; // about one small write's WAL record (a 16-byte value under a short key)
const zeroBytes = 1024 * 1024;

// Shared words: [0] the round number the main thread has released, [1 + w] the round writer w
// finished; completion times (ms since the writers' shared start) in a Float64Array.
const control = new Int32Array(new SharedArrayBuffer(4 * (1 + writers)));
const finished = new Float64Array(new SharedArrayBuffer(8 * writers));
/** Never notified: waiting on it is a sleep of the main thread to pace the rounds. */
const sleeper = new Int32Array(new SharedArrayBuffer(4));

const workerSource = `
const { openSync, writeSync, fdatasyncSync, closeSync } = require("node:fs");
self.onmessage = (e) => {
  const { path, control, finished, w, recordBytes, zeroBytes } = e.data;
  const fd = openSync(path, "w+");
  writeSync(fd, new Uint8Array(zeroBytes), 0, zeroBytes, 0);
  fdatasyncSync(fd);
  const record = new Uint8Array(recordBytes).fill(0x5a);
  let offset = 0;
  Atomics.store(control, 1 + w, 0);
  Atomics.notify(control, 1 + w);
  for (let round = 1; ; round++) {
    Atomics.wait(control, 0, round - 1);
    if (Atomics.load(control, 0) < 0) break;
    if (offset + recordBytes > zeroBytes) offset = 0; // stay inside the zeros written ahead
    writeSync(fd, record, 0, recordBytes, offset);
    offset += recordBytes;
    fdatasyncSync(fd);
    finished[w] = performance.timeOrigin + performance.now();
    Atomics.store(control, 1 + w, round);
    Atomics.notify(control, 1 + w);
  }
  closeSync(fd);
  postMessage("done");
};`;

function percentiles(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): string => s[Math.min(s.length - 1, Math.floor(s.length * q))]!.toFixed(3);
  return `p50 ${at(0.5)}  p90 ${at(0.9)}  p99 ${at(0.99)}  p99.9 ${at(0.999)}  max ${s[s.length - 1]!.toFixed(2)}`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(parent, "disk-quorum-tail."));
  control.fill(-1);
  control[0] = 0;
  const url = URL.createObjectURL(new Blob([workerSource], { type: "application/javascript" }));
  const workers = Array.from({ length: writers }, (_, w) => {
    const worker = new Worker(url);
    worker.postMessage({ path: join(dir, `w${w}`), control, finished, w, recordBytes, zeroBytes });
    return worker;
  });
  for (let w = 0; w < writers; w++) while (Atomics.load(control, 1 + w) !== 0) await Bun.sleep(1);
  const own: number[][] = Array.from({ length: writers }, () => []);
  const quorum: number[] = [];
  const gapMs = rate > 0 ? 1000 / rate : 0;
  const end = performance.now() + seconds * 1000;
  let next = performance.now();
  for (let round = 1; performance.now() < end; round++) {
    if (gapMs > 0) {
      while (performance.now() < next) Atomics.wait(sleeper, 0, 0, Math.max(0, next - performance.now()));
      next += gapMs;
    }
    const start = performance.timeOrigin + performance.now();
    Atomics.store(control, 0, round);
    Atomics.notify(control, 0);
    for (let w = 0; w < writers; w++) {
      while (Atomics.load(control, 1 + w) !== round) Atomics.wait(control, 1 + w, round - 1, 1000);
    }
    const took = Array.from(finished, (t) => t - start);
    took.forEach((t, w) => own[w]!.push(t));
    quorum.push([...took].sort((a, b) => a - b)[1]!);
  }
  Atomics.store(control, 0, -1);
  Atomics.notify(control, 0);
  await Promise.all(workers.map((worker) => new Promise<void>((resolve) => {
    worker.onmessage = () => resolve();
  })));
  for (const worker of workers) worker.terminate();
  rmSync(dir, { recursive: true, force: true });
  const achieved = quorum.length / seconds;
  console.log(`${quorum.length} rounds in ${seconds} s (${achieved.toFixed(0)}/s, asked ${rate > 0 ? rate : "max"}), ${recordBytes}-byte records, ${writers} writers`);
  own.forEach((xs, w) => console.log(`writer ${w} sync   ${percentiles(xs)}`));
  console.log(`quorum (2nd of 3) ${percentiles(quorum)}`);
}

await main();
