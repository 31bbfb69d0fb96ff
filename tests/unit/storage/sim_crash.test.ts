// Goal: a crash never loses what storage reported durable, and recovery always succeeds.
// Method: seeded random workloads on SimDisk with a crash armed at a random disk operation
// (mid-append, mid-roll-over, mid-truncation, mid-rename), then "drop" or "tear" the unsynced
// state (tear: changed pages kept in any order, some torn at sectors), reopen and compare with
// a model; the WAL writes zeros ahead of its records or not. wal_tail.test.ts adds bigger
// batches, bit flips in synced data and the recovery log.
// STORAGE_CRASH_SEEDS=n runs more seeds.

import { describe, expect, test } from "bun:test";
import type { Entry } from "../../../raft/core/types.ts";
import { SnapshotStore } from "../../../raft/snapshots.ts";
import { StableStore } from "../../../raft/stable.ts";
import { Wal } from "../../../raft/wal.ts";
import { testEntry } from "../../support/storage_disks.ts";
import { storageRng, type StorageRng } from "../../support/storage_rng.ts";
import { SimCrashError, SimDisk } from "../../sim/sim_disk.ts";

const seeds = Number(process.env.STORAGE_CRASH_SEEDS ?? 300);
const walDir = "/d/raft/wal";

/** What the test knows about the log. */
interface Model {
  /** Log content now, by index. */
  log: Map<number, Entry>;
  /** Log content at the last completed sync(): must survive any crash. */
  acked: Map<number, Entry>;
  /** Terms ever written at each index: anything recovered must be one of them. */
  written: Map<number, Set<number>>;
  compactedThrough: number;
  /** Lowest index truncated since the last sync: acked entries from here may be replaced. */
  truncatedFrom: number;
  term: number;
}

function workload(wal: Wal, m: Model, rng: StorageRng): void {
  for (;;) {
    const op = rng.int(10);
    if (op < 5 || wal.lastIndex < wal.firstIndex) {
      let from = wal.lastIndex + 1;
      if (op === 0 && wal.lastIndex >= wal.firstIndex) {
        from = wal.firstIndex + rng.int(wal.lastIndex - wal.firstIndex + 1);
        m.term++;
        m.truncatedFrom = Math.min(m.truncatedFrom, from);
        for (let i = from; i <= wal.lastIndex; i++) m.log.delete(i);
      }
      const batch = Array.from({ length: 1 + rng.int(12) }, (_, i) => testEntry(from + i, m.term, 1 + rng.int(60)));
      for (const e of batch) {
        m.log.set(e.index, e);
        m.written.set(e.index, (m.written.get(e.index) ?? new Set()).add(e.term));
      }
      wal.append(batch);
    } else if (op < 9) {
      wal.sync();
      m.acked = new Map(m.log);
      m.truncatedFrom = Number.POSITIVE_INFINITY;
    } else {
      const upTo = wal.firstIndex + rng.int(Math.max(1, wal.lastIndex - wal.firstIndex));
      // Set first: a crash in the middle of a compaction may have removed any of its segments.
      m.compactedThrough = Math.max(m.compactedThrough, upTo);
      wal.compact(upTo);
      for (const i of [...m.log.keys()]) if (i < wal.firstIndex) m.log.delete(i);
    }
  }
}

function check(entries: Entry[], m: Model, seed: number): void {
  const where = `seed ${seed}`;
  for (let i = 1; i < entries.length; i++) {
    expect(entries[i]!.index, where).toBe(entries[i - 1]!.index + 1);
    expect(entries[i]!.term, where).toBeGreaterThanOrEqual(entries[i - 1]!.term);
  }
  for (const e of entries) {
    expect(m.written.get(e.index)?.has(e.term), `${where}: index ${e.index} term ${e.term} never written`).toBe(true);
    expect(e.data, where).toEqual(testEntry(e.index, e.term, e.data.length).data);
  }
  const byIndex = new Map(entries.map((e) => [e.index, e]));
  for (const [i, e] of m.acked) {
    if (i <= m.compactedThrough || i >= m.truncatedFrom) continue;
    expect(byIndex.get(i), `${where}: acknowledged entry ${i} lost`).toEqual(e);
  }
}

describe("crash recovery on SimDisk", () => {
  test(`WAL keeps every synced entry across ${seeds} seeded crash runs`, () => {
    let crashes = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const rng = storageRng(seed);
      const disk = new SimDisk();
      const segmentBytesMax = 1024 + rng.int(4096);
      const m: Model = { log: new Map(), acked: new Map(), written: new Map(), compactedThrough: 0, truncatedFrom: Number.POSITIVE_INFINITY, term: 1 };
      for (let round = 0; round < 4; round++) {
        // Zeros written ahead of the records, or none; it may change between restarts.
        const preallocateBytes = [0, 100, 700][rng.int(3)]!;
        const { wal, entries } = Wal.open(disk, walDir, { segmentBytesMax, preallocateBytes });
        check(entries, m, seed);
        m.log = new Map(entries.map((e) => [e.index, e]));
        m.acked = new Map(m.log);
        m.truncatedFrom = Number.POSITIVE_INFINITY;
        disk.armCrash(1 + rng.int(150));
        try {
          workload(wal, m, rng);
        } catch (err) {
          if (!(err instanceof SimCrashError)) throw new Error(`seed ${seed}: ${String(err)}`);
        }
        disk.crash(rng.int(2) === 0 ? "drop" : "tear", rng);
        crashes++;
      }
      check(Wal.open(disk, walDir, { segmentBytesMax }).entries, m, seed);
    }
    expect(crashes).toBe(seeds * 4);
  });

  test("stable store: after a crash the state is the last saved or the one being saved", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rng = storageRng(seed);
      const disk = new SimDisk();
      let saved = 0;
      let attempting = 0;
      const store = StableStore.open(disk, "/d/raft/state");
      disk.armCrash(rng.int(40));
      try {
        for (let t = 1; ; t++) {
          attempting = t;
          store.save({ hardState: { currentTerm: t, votedFor: `n${t}` }, nodeId: "me" });
          saved = t;
        }
      } catch (err) {
        if (!(err instanceof SimCrashError)) throw err;
      }
      disk.crash(rng.int(2) === 0 ? "drop" : "tear", rng);
      const term = StableStore.open(disk, "/d/raft/state").state.hardState.currentTerm;
      expect([saved, attempting], `seed ${seed}`).toContain(term);
    }
  });

  test("snapshot store: after a crash the newest finished snapshot is readable", () => {
    const membership = { members: [] };
    for (let seed = 1; seed <= 200; seed++) {
      const rng = storageRng(seed);
      const disk = new SimDisk();
      let finished = 0;
      const store = SnapshotStore.open(disk, "/d/snapshots");
      disk.armCrash(rng.int(60));
      try {
        for (let i = 10; ; i += 10) {
          store.save({ lastIncludedIndex: i, lastIncludedTerm: 1, membership }, new Uint8Array(1 + rng.int(300)).fill(i & 0xff));
          finished = i;
        }
      } catch (err) {
        if (!(err instanceof SimCrashError)) throw err;
      }
      disk.crash(rng.int(2) === 0 ? "drop" : "tear", rng);
      const latest = SnapshotStore.open(disk, "/d/snapshots").latest();
      const index = latest?.meta.lastIncludedIndex ?? 0;
      expect(index === finished || index === finished + 10, `seed ${seed}: ${index} vs ${finished}`).toBe(true);
      if (latest !== null) expect(latest.data.every((b) => b === (index & 0xff))).toBe(true);
    }
  });
});
