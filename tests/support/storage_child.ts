// Crash child for tests/unit/storage/kill.test.ts: appends random batches to a real WAL,
// fsyncs each, and reports on stdout. Lines: "T <index>" before a conflicting append
// truncates at <index>; "D <lastIndex> <term>" after a sync returned. Runs until killed.
// Usage: bun tests/support/storage_child.ts <wal-dir> <seed>

import { writeSync } from "node:fs";
import { createFsDisk } from "../../raft/disk.ts";
import { Wal } from "../../raft/wal.ts";
import { testEntry } from "./storage_disks.ts";
import { storageRng } from "./storage_rng.ts";

const [dir, seedText] = process.argv.slice(2);
if (dir === undefined || seedText === undefined) throw new Error("usage: storage_child.ts <wal-dir> <seed>");
const rng = storageRng(Number(seedText));
// Odd seeds write zeros ahead of the records (the node's default), even seeds do not.
const preallocateBytes = Number(seedText) % 2 === 1 ? 4096 : 0;
const { wal, entries } = Wal.open(createFsDisk(), dir, { segmentBytesMax: 16 * 1024, preallocateBytes });
let term = entries.at(-1)?.term ?? 1;
const batchesMax = 100_000;

for (let n = 0; n < batchesMax; n++) {
  let from = wal.lastIndex + 1;
  if (rng.int(15) === 0 && wal.lastIndex >= wal.firstIndex) {
    from = Math.max(wal.firstIndex, wal.lastIndex - rng.int(30));
    term++;
    writeSync(1, `T ${from}\n`);
  }
  const count = 1 + rng.int(40);
  wal.append(Array.from({ length: count }, (_, i) => testEntry(from + i, term, 8 + rng.int(200))));
  wal.sync();
  writeSync(1, `D ${wal.lastIndex} ${term}\n`);
  if (rng.int(50) === 0) wal.compact(wal.lastIndex - 200);
}
