// Goal (issue 18): persisting a snapshot received from the leader over many turns of the event
// loop (NodeStorage.persistSnapshotAsync: written in slices, fsyncs off the loop) keeps the
// crash guarantees of the blocking persist(): a power loss at any point leaves the old state
// (old snapshot, old log, old term) or the new one (the new snapshot, whole, with a prefix of
// the entries that came with it and a term no older than the snapshot's), never a mix a start
// refuses or a torn snapshot; once it has settled, all of the new state is there.
// Method: the production storage on SimDisk, holding a log 1..60 and a snapshot at 5; a crash
// armed at each disk operation of the install in turn (and one after it settled), then power
// losses that drop what was unsynced and that tear it (any pages, a prefix of the name
// changes), a restart through openStorage and checks of what it found.

import { expect, test } from "bun:test";
import type { Entry, HardState, SnapshotMeta } from "../../../raft/core/types.ts";
import { openStorage } from "../../../raft/storage.ts";
import { SimCrashError, SimDisk } from "../../sim/sim_disk.ts";
import { testEntry } from "../../support/storage_disks.ts";
import { storageRng } from "../../support/storage_rng.ts";

const dataDir = "/data";
const membership = { members: [{ id: "n1", addr: "h:1", suffrage: "voter" as const }] };
const meta = (index: number, term: number): SnapshotMeta => ({ lastIncludedIndex: index, lastIncludedTerm: term, membership });
const entries = (from: number, to: number, term: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => testEntry(from + i, term, 100));
const hard = (term: number): HardState => ({ currentTerm: term, votedFor: null });
const oldLog = entries(1, 60, 1);
const oldState = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
/** Three slices of the snapshot file (1 MiB each), so a crash can fall between them. */
const newState = Uint8Array.from({ length: 2.5 * 1024 * 1024 }, (_, i) => (i * 13 + (i >>> 11)) & 0xff);
const newMeta = meta(80, 2);
const newEntries = entries(81, 83, 2);

function open(disk: SimDisk) {
  return openStorage({ logDisk: disk, snapshotDisk: disk, dataDir, segmentBytesMax: 1024 });
}

/** The starting point, durable; then the install with a crash armed at operation `at`. */
async function runTo(at: number): Promise<{ disk: SimDisk; completed: boolean }> {
  const disk = new SimDisk();
  const { storage } = open(disk);
  storage.saveNodeId("n1");
  storage.persist(hard(1), null, oldLog);
  await storage.saveSnapshot(meta(5, 1), oldState, 0);
  disk.armCrash(at);
  try {
    await storage.persistSnapshotAsync(hard(3), { meta: newMeta, data: newState }, newEntries);
  } catch (e) {
    if (!(e instanceof SimCrashError)) throw e;
    return { disk, completed: false };
  }
  disk.armCrash(-1);
  return { disk, completed: true };
}

/** What a restart found, judged: null if it is the old state or the new one, else a complaint. */
function judge(disk: SimDisk, completed: boolean): string | null {
  let recovered: ReturnType<typeof open>;
  try {
    recovered = open(disk);
  } catch (e) {
    return `the restart refused: ${String(e)}`;
  }
  const { snapshot, entries: held, hardState } = recovered.initial;
  const indexes = held.map((e) => `${e.index}/${e.term}`).join(" ");
  if (snapshot?.meta.lastIncludedIndex === 5) {
    if (completed) return "settled, yet the old snapshot is the newest";
    if (Buffer.compare(snapshot.data, oldState) !== 0) return "the old snapshot's state changed";
    if (!Bun.deepEquals(held, oldLog.slice(5))) return `old snapshot with log ${indexes}`;
    return hardState.currentTerm === 1 ? null : `old snapshot with term ${hardState.currentTerm}`;
  }
  if (snapshot === null || !Bun.deepEquals(snapshot.meta, newMeta)) return `snapshot ${JSON.stringify(snapshot?.meta)}`;
  if (Buffer.compare(snapshot.data, newState) !== 0) return "the new snapshot's state is not what was sent";
  const isPrefix = held.length <= newEntries.length && held.every((e, i) => Bun.deepEquals(e, newEntries[i]));
  if (!isPrefix || (completed && held.length !== newEntries.length)) return `new snapshot with log ${indexes}`;
  if (hardState.currentTerm < 2 || (completed && hardState.currentTerm !== 3)) return `new snapshot with term ${hardState.currentTerm}`;
  return null;
}

test("an install persisted over many turns leaves the old state or the new one after any crash", async () => {
  let points = 0;
  let sawOld = false;
  let sawNew = false;
  for (let at = 0; ; at++) {
    const probe = await runTo(at);
    for (const mode of ["drop", "tear", "tear", "tear"] as const) {
      const { disk, completed } = await runTo(at);
      disk.crash(mode, storageRng(at * 4 + points));
      const where = `crash at operation ${at}${completed ? " (after it settled)" : ""}, ${mode}`;
      expect(judge(disk, completed), where).toBeNull();
      const found = open(disk).initial.snapshot?.meta.lastIncludedIndex;
      sawOld ||= found === 5;
      sawNew ||= found === 80;
    }
    points++;
    if (probe.completed) break;
  }
  expect(points).toBeGreaterThan(10);
  expect(sawOld && sawNew).toBe(true);
});
