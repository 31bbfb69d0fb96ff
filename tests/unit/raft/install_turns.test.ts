// Goal (issue 18): a follower installs a large snapshot from the leader without any turn of
// the event loop doing work that grows with the snapshot: no turn writes, copies or decodes
// more than a bound far below the snapshot's size (receiving it, joining it, persisting it,
// restoring the state machine from it). And the install keeps its guarantees: the "done"
// reply leaves only once the snapshot is durable and installed in the store, entries that
// arrive meanwhile are applied only after the restore completed, a restart finds the
// snapshot, and the core then holds the stored file's bytes rather than the received copy.
// Method: the production driver, core and storage (RaftNode, createRaft, openStorage) on a
// MemDisk whose syncs complete off the loop, with every deferred piece of work run as one
// turn by the test; bytes are counted per turn at the disk seam (writes), at the state
// machine seam (a double that decodes in 64 KiB pieces, pausing through the scheduler) and
// at Uint8Array.prototype.set (copies, outside the disk's own buffers).

import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import type { Entry, InstallSnapshot, Message, SnapshotMeta } from "../../../raft/core/mod.ts";
import { RaftNode } from "../../../raft/node.ts";
import type { StateMachine } from "../../../raft/node_options.ts";
import { openStorage } from "../../../raft/storage.ts";
import { app, entry, mkCore } from "./core_kit.ts";
import { TurnDisk, Turns } from "./turn_kit.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
/** The snapshot: 8 MiB in 512 KiB chunks, as the leader sends them. */
const snapshotBytes = 8 * MiB;
const chunkBytes = 512 * KiB;
/** What one turn may do at most: a slice of the snapshot file, one chunk, a few pieces. */
const turnBytesMax = 1 * MiB + 4 * KiB;

/** Counts the bytes Uint8Array.prototype.set copies in each turn (outside disk writes). */
const originalSet = Uint8Array.prototype.set;
function countCopies(turns: Turns, disk: TurnDisk): void {
  Uint8Array.prototype.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number): void {
    if (!disk.isWriting) turns.now.copied += source.length;
    originalSet.call(this, source, offset);
  } as typeof Uint8Array.prototype.set;
}
afterEach(() => {
  Uint8Array.prototype.set = originalSet;
});

/** A state machine that decodes a snapshot in 64 KiB pieces, pausing through the scheduler. */
class PieceMachine implements StateMachine {
  isRestoring = false;
  restoredFrom: Uint8Array | null = null;
  readonly applied: number[] = [];
  readonly events: string[] = [];
  constructor(private readonly turns: Turns) {}

  apply(e: Entry): unknown {
    if (this.isRestoring) throw new Error(`entry ${e.index} applied during a restore`);
    this.applied.push(e.index);
    return null;
  }
  snapshot(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(0));
  }
  restore(data: Uint8Array): void {
    this.turns.now.decoded += data.length;
    this.restoredFrom = data;
    this.events.push("restored");
  }
  async restoreAsync(data: Uint8Array): Promise<void> {
    this.isRestoring = true;
    try {
      for (let at = 0; at < data.length; at += 64 * KiB) {
        this.turns.now.decoded += Math.min(64 * KiB, data.length - at);
        await new Promise<void>((resolve) => this.turns.scheduler.defer(resolve));
      }
    } finally {
      this.isRestoring = false;
    }
    this.restoredFrom = data;
    this.events.push("restored");
  }
}

const members = ["a", "b", "c"];
const membership = { members: members.map((id) => ({ id, addr: `${id}:1`, suffrage: "voter" as const })) };
const snapMeta: SnapshotMeta = { lastIncludedIndex: 100, lastIncludedTerm: 2, membership };
const snapshotData = Uint8Array.from({ length: snapshotBytes }, (_, i) => (i * 31 + (i >>> 13)) & 0xff);

test("a follower installs a snapshot with no turn writing, copying or decoding more than a slice, durably", async () => {
  const turns = new Turns();
  const disk = new TurnDisk(turns);
  const { storage } = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: "/data", scheduler: turns.scheduler });
  storage.saveNodeId("b");
  const core = mkCore("b", members);
  const sm = new PieceMachine(turns);
  const sent: Message[] = [];
  const snapDir = "/data/snapshots";
  let doneReplyLog: string[] | null = null;
  let fatal: unknown = null;
  const node = new RaftNode({
    core,
    storage,
    stateMachine: sm,
    send: (m) => {
      sent.push(m);
      if (m.type === "InstallSnapshotReply" && m.done) {
        doneReplyLog = [...disk.log];
        sm.events.push("done sent");
      }
    },
    events: { applied: () => {}, softState: () => {}, restored: () => {} },
    scheduler: turns.scheduler,
    logger: { info: () => {}, warn: () => {}, error: () => {} },
    snapshotThresholdEntries: 1_000_000,
    snapshotTrailingEntries: 0,
    start: { lastIncludedIndex: 0, lastIncludedTerm: 0, membership },
    onFatal: (e) => {
      fatal = e;
    },
  });
  countCopies(turns, disk);

  // The leader (a, term 2) sends the snapshot a chunk at a time, each after the reply to the last.
  for (let offset = 0; offset < snapshotBytes; offset += chunkBytes) {
    const end = Math.min(offset + chunkBytes, snapshotBytes);
    const chunk: InstallSnapshot = {
      type: "InstallSnapshot", from: "a", to: "b", term: 2, meta: snapMeta, offset,
      // A copy, as the transport's decoder hands each message its own bytes.
      data: snapshotData.slice(offset, end), done: end === snapshotBytes,
    };
    await turns.turn(() => node.receive(chunk));
    if (end < snapshotBytes) {
      await turns.run(() => sent.some((m) => m.type === "InstallSnapshotReply" && m.nextOffset === end));
      expect(sent.some((m) => m.type === "InstallSnapshotReply" && m.nextOffset === end)).toBe(true);
    }
  }
  // A few turns into the install, the leader's next entries arrive, committed at once.
  for (let i = 0; i < 5 && turns.queue.length > 0; i++) await turns.turn(turns.queue.shift()!);
  const isRestoredEarly = sm.restoredFrom !== null;
  const after = [entry(101, 2), entry(102, 2), entry(103, 2)];
  await turns.turn(() => node.receive(app("a", "b", 2, 100, 2, after, 103)));
  await turns.run();

  expect(fatal).toBeNull();
  expect(turns.count).toBeGreaterThan(snapshotBytes / MiB);
  // No turn did work that grows with the snapshot.
  expect(turns.worst.written).toBeLessThanOrEqual(turnBytesMax);
  expect(turns.worst.copied).toBeLessThanOrEqual(turnBytesMax);
  expect(turns.worst.decoded).toBeLessThanOrEqual(turnBytesMax);
  expect(turns.worst.decoded).toBeGreaterThan(0);
  expect(isRestoredEarly).toBe(false);

  // "done" left once the snapshot was durable and in place, and the restore complete.
  const final = join(snapDir, "2-100");
  expect(doneReplyLog).not.toBeNull();
  const logAtDone = doneReplyLog as unknown as string[];
  const renamed = logAtDone.indexOf(`rename ${final}.tmp ${final}`);
  expect(renamed).toBeGreaterThanOrEqual(0);
  expect(logAtDone.lastIndexOf(`syncDir ${snapDir}`)).toBeGreaterThan(renamed);
  expect(sm.events).toEqual(["restored", "done sent"]);
  expect(Buffer.compare(sm.restoredFrom!, snapshotData)).toBe(0);
  // The entries that came during the install were applied after it.
  expect(sm.applied).toEqual([101, 102, 103]);
  expect(core.status().lastApplied).toBe(103);
  // The core holds the stored file's view now, not the received copy.
  const held = (core as unknown as { snapshot: { data: Uint8Array } }).snapshot.data;
  expect(held.buffer).not.toBe((sm.restoredFrom as Uint8Array).buffer);
  expect(Buffer.compare(held, snapshotData)).toBe(0);

  // A restart finds the snapshot and the entries after it.
  storage.close();
  Uint8Array.prototype.set = originalSet;
  const again = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: "/data" });
  expect(again.initial.snapshot?.meta).toEqual(snapMeta);
  expect(Buffer.compare(again.initial.snapshot!.data, snapshotData)).toBe(0);
  expect(again.initial.entries.map((e) => e.index)).toEqual([101, 102, 103]);
});
