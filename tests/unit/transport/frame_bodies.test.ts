// Goal: the buffers of large received frames are lent again only after their last holder
// handed them back (raft/frame_bodies.ts), so a reused buffer never changes bytes someone
// still reads; in particular a received snapshot chunk's buffer goes back only once its
// off-loop write has landed (what landed is then exactly what was received).
// Method: FrameBodies' take/handBack with its counters; the storage's snapshot receiver on a
// MemDisk whose off-loop writes read their bytes only when the test lands them, as a thread
// pool does when it gets to them.

import { expect, test } from "bun:test";
import type { SnapshotMeta } from "../../../raft/core/mod.ts";
import { FrameBodies, receivedFrameBodies } from "../../../raft/frame_bodies.ts";
import type { Disk, DiskFile, OpenMode } from "../../../raft/host.ts";
import { MemDisk } from "../../../raft/mem_disk.ts";
import { openStorage } from "../../../raft/storage.ts";

const KiB = 1024;

test("a buffer handed back is lent again; small, foreign and twice-given ones are not; the kept ones are bounded", () => {
  const bodies = new FrameBodies({ minBytes: 64 * KiB, keptMax: 2, keptBytesMax: 1024 * KiB });
  // Small frames are plain allocations, never lent.
  const small = bodies.take(100);
  bodies.handBack(small);
  expect(bodies.take(100).buffer).not.toBe(small.buffer);
  expect(bodies.allocated).toBe(0);

  const a = bodies.take(512 * KiB);
  expect(a.length).toBe(512 * KiB);
  bodies.handBack(a.subarray(10, 20)); // any view of it says the same
  bodies.handBack(a); // twice: once is all that counts
  const b = bodies.take(500 * KiB);
  expect(b.buffer).toBe(a.buffer);
  expect(b.length).toBe(500 * KiB);
  expect(bodies.take(500 * KiB).buffer).not.toBe(a.buffer); // lent out again: not free
  expect(bodies.reused).toBe(1);

  // A larger frame than any free buffer gets a new one.
  bodies.handBack(b);
  const big = bodies.take(600 * KiB);
  expect(big.buffer).not.toBe(a.buffer);

  // Foreign buffers are ignored.
  bodies.handBack(new Uint8Array(512 * KiB));
  // At most keptMax kept, and none over keptBytesMax.
  const huge = bodies.take(2048 * KiB);
  const lent = [bodies.take(100 * KiB), bodies.take(100 * KiB), bodies.take(100 * KiB)];
  for (const x of [...lent, huge, big]) bodies.handBack(x);
  const again = [bodies.take(64 * KiB), bodies.take(64 * KiB), bodies.take(64 * KiB), bodies.take(64 * KiB)];
  const fromBefore = new Set([a.buffer, big.buffer, huge.buffer, ...lent.map((x) => x.buffer)]);
  // Five handed back, keptMax (2) kept: the first two (a's buffer, lent again, and the next).
  expect(again.filter((x) => fromBefore.has(x.buffer)).map((x) => x.buffer)).toEqual([lent[1]!.buffer, a.buffer]);
  expect(again.some((x) => x.buffer === huge.buffer)).toBe(false);
});

/** A MemDisk whose off-loop writes read their bytes only when landed by the test. */
class LateDisk extends MemDisk {
  readonly waiting: (() => void)[] = [];
  override open(path: string, mode: OpenMode): DiskFile {
    const f = super.open(path, mode);
    return {
      ...f,
      size: () => f.size(),
      read: (p, n) => f.read(p, n),
      write: (bytes, position) => f.write(bytes, position),
      truncate: (n) => f.truncate(n),
      sync: () => f.sync(),
      close: () => f.close(),
      writeAsync: (bytes, position, done) => {
        this.waiting.push(() => {
          f.write(bytes, position);
          done(null);
        });
      },
      syncAsync: (done) => this.waiting.push(() => done(null)),
    };
  }
  land(): void {
    for (const w of this.waiting.splice(0)) w();
  }
}

test("a received snapshot chunk's buffer is lent again only after its write landed, and the file holds what was received", async () => {
  const disk = new LateDisk();
  const { storage } = openStorage({ logDisk: disk as Disk, snapshotDisk: disk as Disk, dataDir: "/data" });
  storage.saveNodeId("b");
  const meta: SnapshotMeta = { lastIncludedIndex: 9, lastIncludedTerm: 1, membership: { members: [{ id: "a", addr: "a:1", suffrage: "voter" }] } };
  const receiver = storage.receiveSnapshot(meta);

  // A chunk as the transport's decoder assembles it.
  const chunk = receivedFrameBodies.take(256 * KiB);
  chunk.fill(0x5a);
  receiver.append(chunk);
  // Its write has not landed: a frame arriving now must not get its buffer.
  const next = receivedFrameBodies.take(256 * KiB);
  expect(next.buffer).not.toBe(chunk.buffer);
  next.fill(0x11);
  receiver.append(next);
  disk.land();
  // Both landed: their buffers may be lent again, and the file holds what was received.
  const after = [receivedFrameBodies.take(256 * KiB), receivedFrameBodies.take(256 * KiB)];
  expect(after.map((x) => x.buffer)).toContain(chunk.buffer);
  expect(after.map((x) => x.buffer)).toContain(next.buffer);
  for (const x of after) x.fill(0xff);
  const written = receiver.bytes();
  expect(written.length).toBe(512 * KiB);
  expect(written.subarray(0, 256 * KiB).every((v) => v === 0x5a)).toBe(true);
  expect(written.subarray(256 * KiB).every((v) => v === 0x11)).toBe(true);
  for (const x of after) receivedFrameBodies.handBack(x);
});
