// WAL throughput against a plain write+fdatasync loop of the same bytes, in one invocation,
// and the time to recover a log of one million entries. Not a test: it reports, never fails.
// Usage: npx bun bench/wal_bench.ts [--dir <parent-dir>] [--entry-bytes 100] [--open-entries 1000000]

import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeEntry } from "../raft/codec.ts";
import type { Entry } from "../raft/core/mod.ts";
import { createFsDisk } from "../raft/disk.ts";
import { Wal } from "../raft/wal.ts";
import { walRecordOverheadBytes, writeWalRecord } from "../raft/wal_record.ts";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const parent = flag("dir", tmpdir());
const entryBytes = Number(flag("entry-bytes", "100"));
const openEntries = Number(flag("open-entries", "1000000"));
const slices = 10;
const runBytesTarget = 8 * 1024 * 1024;

function entry(index: number): Entry {
  const data = new Uint8Array(entryBytes);
  data.fill(index & 0xff);
  return { index, term: 1, kind: "normal", data };
}

function batches(batch: number, count: number): Entry[][] {
  return Array.from({ length: count }, (_, b) => Array.from({ length: batch }, (_, i) => entry(1 + b * batch + i)));
}

/** The WAL as the node opens it: zeros written 1 MiB ahead (server.ts), one append and one sync per batch. */
function walRunner(dir: string): (work: Entry[][]) => number {
  const { wal } = Wal.open(createFsDisk(), dir, { preallocateBytes: 1024 * 1024 });
  return (work) => {
    const t = performance.now();
    for (const b of work) {
      wal.append(b);
      wal.sync();
    }
    return performance.now() - t;
  };
}

/** A record as the WAL frames it (format 2: 13 bytes besides the payload), so both loops write the same bytes per entry. */
function walFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(walRecordOverheadBytes + payload.length);
  writeWalRecord(out, 0, payload);
  return out;
}

/** The floor: the same record bytes, pre-encoded, written and fdatasynced per batch. */
function plainRunner(dir: string): (work: Entry[][]) => number {
  const fd = fs.openSync(join(dir, "plain.log"), "w+");
  let pos = 0;
  return (work) => {
    const buffers = work.map((b) => Buffer.concat(b.map((e) => walFrame(encodeEntry(e)))));
    const t = performance.now();
    for (const buf of buffers) {
      fs.writeSync(fd, buf, 0, buf.length, pos);
      fs.fdatasyncSync(fd);
      pos += buf.length;
    }
    return performance.now() - t;
  };
}

function freshDir(): string {
  return fs.mkdtempSync(join(parent, "wal-bench-"));
}

function throughput(): void {
  console.log(`entry data ${entryBytes} B, dir ${parent}; WAL and plain loop alternate in ${slices} slices so both see the same disk`);
  console.log("batch  batches  wal appends/s  wal MB/s  plain appends/s  plain MB/s  wal/plain time");
  for (const batch of [1, 16, 256]) {
    const recordBytes = walFrame(encodeEntry(entry(1))).length;
    const count = Math.max(slices * 10, Math.min(2000, Math.floor(runBytesTarget / (batch * recordBytes))));
    const work = batches(batch, count + slices * 2);
    const dirs = [freshDir(), freshDir()];
    const wal = walRunner(dirs[0]!);
    const plain = plainRunner(dirs[1]!);
    // Warm-up: let the JIT compile both loops before anything is timed.
    wal(work.slice(0, slices * 2));
    plain(work.slice(0, slices * 2));
    let w = 0;
    let p = 0;
    const per = Math.floor(count / slices);
    for (let k = 0; k < slices; k++) {
      const slice = work.slice(slices * 2 + k * per, slices * 2 + (k + 1) * per);
      // Alternate which goes first, so neither always follows the other's flush.
      if (k % 2 === 0) (w += wal(slice)), (p += plain(slice));
      else (p += plain(slice)), (w += wal(slice));
    }
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    const n = batch * per * slices;
    const mb = (n * recordBytes) / 1e6;
    const rate = (x: number, ms: number, digits: number) => (x / (ms / 1000)).toFixed(digits);
    console.log(
      `${String(batch).padStart(5)}  ${String(per * slices).padStart(7)}  ${rate(n, w, 0).padStart(13)}  ${rate(mb, w, 2).padStart(8)}  ${rate(n, p, 0).padStart(15)}  ${rate(mb, p, 2).padStart(10)}  ${(w / p).toFixed(2).padStart(14)}x`,
    );
  }
}

function openMillion(): void {
  const dir = freshDir();
  try {
    const { wal } = Wal.open(createFsDisk(), dir);
    const chunk = 4096;
    for (let i = 1; i <= openEntries; i += chunk) {
      wal.append(Array.from({ length: Math.min(chunk, openEntries - i + 1) }, (_, k) => entry(i + k)));
    }
    wal.sync();
    wal.close();
    const files = fs.readdirSync(dir).length;
    const t = performance.now();
    const { wal: again, entries } = Wal.open(createFsDisk(), dir);
    const ms = performance.now() - t;
    again.close();
    console.log(`open of ${entries.length} entries (${files} segments): ${ms.toFixed(0)} ms`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

throughput();
openMillion();
