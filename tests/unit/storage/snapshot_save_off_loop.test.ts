// Goal (issue 18, pauses while snapshotting at 10 M keys): a snapshot this node takes is
// written to its state file off the event loop where the disk offers it, as a received one is:
// the leader's blocking 1 MiB slice writes held its loop 24-31 ms each while the other members
// flushed their own snapshots to the same disk (perf trace, bench/stall_snapshot.ts 10000000).
// Nothing is lost for it: the slices of a snapshot in pieces share one reused buffer, so each
// write must land before the next slice is copied; the saved file reads back whole after a
// restart.
// Method: openStorage on createFsDisk in a temp directory; bytes written to state files counted
// at the disk seam, on the loop and off it; writes off the loop held back a turn and landed
// last-first, as a busy thread pool might.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SnapshotMeta } from "../../../raft/core/types.ts";
import { createFsDisk } from "../../../raft/disk.ts";
import type { Disk, DiskFile } from "../../../raft/host.ts";
import { snapshotPieces } from "../../../raft/snapshot_bytes.ts";
import { openStorage } from "../../../raft/storage.ts";

const root = mkdtempSync(join(tmpdir(), "snapsave-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const meta: SnapshotMeta = {
  lastIncludedIndex: 40,
  lastIncludedTerm: 3,
  membership: { members: [{ id: "a", addr: "a:1", suffrage: "voter" }] },
};

/** The real disk, counting bytes written to snapshot state files on the loop and off it. */
function countingDisk() {
  const real = createFsDisk();
  const counts = { onLoop: 0, offLoop: 0 };
  const disk: Disk = {
    ...real,
    open(path, mode): DiskFile {
      const f = real.open(path, mode);
      if (!path.endsWith("/state") || f.writeAsync === undefined) return f;
      return {
        ...f,
        size: () => f.size(),
        read: (p, n) => f.read(p, n),
        write: (b, p) => ((counts.onLoop += b.length), f.write(b, p)),
        // Held for a turn, then started; a second write queued meanwhile starts first.
        writeAsync: (b, p, done) => {
          counts.offLoop += b.length;
          setImmediate(() => setImmediate(() => f.writeAsync!(b, p, done)));
        },
        truncate: (n) => f.truncate(n),
        sync: () => f.sync(),
        syncAsync: (done) => f.syncAsync!(done),
        close: () => f.close(),
      };
    },
  };
  return { disk, counts };
}

/** 3.5 MiB in pieces of 300,000 bytes (copied into the writer's reused slice), each byte from its position. */
function pieces(): { data: ReturnType<typeof snapshotPieces>; whole: Uint8Array } {
  const whole = new Uint8Array(3.5 * 1024 * 1024);
  for (let i = 0; i < whole.length; i++) whole[i] = (i * 7 + (i >> 12)) & 0xff;
  const parts: Uint8Array[] = [];
  for (let at = 0; at < whole.length; at += 300_000) parts.push(whole.slice(at, Math.min(at + 300_000, whole.length)));
  return { data: snapshotPieces(parts), whole };
}

test.skipIf(process.platform === "win32")("a local snapshot's slices are written off the loop and the saved file is whole", async () => {
  const dataDir = join(root, "n1");
  const { disk, counts } = countingDisk();
  const { storage } = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir });
  const { data, whole } = pieces();
  await storage.saveSnapshot(meta, data, 0);
  expect(counts.onLoop).toBe(0);
  expect(counts.offLoop).toBe(whole.length);
  storage.close();

  const again = openStorage({ logDisk: createFsDisk(), snapshotDisk: createFsDisk(), dataDir });
  const snap = again.initial.snapshot;
  expect(snap?.meta.lastIncludedIndex).toBe(40);
  expect(snap?.data.length).toBe(whole.length);
  expect(Buffer.compare(Buffer.from(snap!.data), Buffer.from(whole))).toBe(0);
  again.storage.close();
});
