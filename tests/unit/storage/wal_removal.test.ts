// Goal: removing WAL segments (prefix compaction after a snapshot, a reset by an installed
// snapshot, a conflict truncation across segments) is crash-safe: whatever combination of
// the unsynced name changes a power loss keeps, the node starts again and holds every entry
// above its snapshot that was durable, and nothing else but entries the interrupted
// operation was removing; a start also removes, unread, the segments the snapshot covers
// (which an interrupted removal may leave with gaps between) and logs it once, while a gap
// above the snapshot is still damage.
// Method: the production storage (openStorage, NodeStorage, Wal) on SimDisk with 1 KiB
// segments; a crash armed at each disk operation of the removal in turn, and one after it
// returns; then a power loss keeping each subset of the pending name changes (all of them
// up to 2^7, a seeded sample beyond), a restart through openStorage, checks of what it
// holds, and one more entry appended and read back after another restart.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Entry, HardState, SnapshotMeta } from "../../../raft/core/types.ts";
import type { Logger } from "../../../raft/host.ts";
import { type NodeStorage, openStorage } from "../../../raft/storage.ts";
import { StorageDamageError } from "../../../raft/wal.ts";
import { SimCrashError, SimDisk } from "../../sim/sim_disk.ts";
import { testEntry } from "../../support/storage_disks.ts";
import { storageRng } from "../../support/storage_rng.ts";

const dataDir = "/data";
const walDir = join(dataDir, "raft", "wal");
const membership = { members: [{ id: "n1", addr: "h:1", suffrage: "voter" as const }] };
const meta = (index: number, term: number): SnapshotMeta => ({ lastIncludedIndex: index, lastIncludedTerm: term, membership });
const entries = (from: number, to: number, term: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => testEntry(from + i, term, 100));
const hard = (term: number): HardState => ({ currentTerm: term, votedFor: null });
const stateBytes = (seed: number) => Uint8Array.from({ length: 300 }, (_, i) => (i * 7 + seed) & 0xff);

/** A Logger that keeps its lines. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (l) => lines.push(l), warn: (l) => lines.push(l), error: (l) => lines.push(l) };
}

function open(disk: SimDisk, logger: Logger = recordingLogger()) {
  return openStorage({ logDisk: disk, snapshotDisk: disk, dataDir, segmentBytesMax: 1024, logger });
}

/** The durable log every scenario starts from: entries 1..60 of term 1, eight to a segment. */
const log = entries(1, 60, 1);

/** Opens a fresh data directory the way a first start does (the node id stamped). */
function fresh(disk: SimDisk): NodeStorage {
  const { storage } = open(disk);
  storage.saveNodeId("n1");
  return storage;
}

/** One removal: how it is started, and what a restart after a crash in it may hold. */
interface Scenario {
  readonly name: string;
  /** Runs the removal on an opened storage. */
  run(storage: NodeStorage): Promise<void> | void;
  /**
   * Checks what a restart recovered (entries above the snapshot at `snapIndex`) against
   * what was durable, `completed` telling whether the removal had returned. Returns a
   * complaint, or null.
   */
  judge(snapIndex: number, held: readonly Entry[], completed: boolean): string | null;
}

/** `held` is exactly `expected`. */
function exactly(held: readonly Entry[], expected: readonly Entry[]): string | null {
  return Bun.deepEquals(held, expected) ? null : `held ${show(held)}, expected ${show(expected)}`;
}

/** `held` starts at `from` and is a prefix of one of `candidates` (each starting at `from`). */
function prefixOfOne(held: readonly Entry[], candidates: readonly (readonly Entry[])[]): string | null {
  const ok = candidates.some((c) => held.length <= c.length && held.every((e, i) => Bun.deepEquals(e, c[i])));
  return ok ? null : `held ${show(held)}, not a prefix of ${candidates.map(show).join(" or ")}`;
}

function show(es: readonly Entry[]): string {
  return es.length === 0 ? "nothing" : `[${es[0]!.index}..${es[es.length - 1]!.index}] terms ${[...new Set(es.map((e) => e.term))].join(",")}`;
}

const firstIndexOf = (name: string) => Number.parseInt(name, 10);
const above = (es: readonly Entry[], index: number) => es.filter((e) => e.index > index);

const scenarios: Scenario[] = [
  {
    name: "a compaction after a local snapshot at 45",
    run: (storage) => storage.saveSnapshot(meta(45, 1), stateBytes(45), 45),
    // The log was not to lose anything above whichever snapshot the restart found.
    judge: (snapIndex, held) => exactly(held, above(log, snapIndex)),
  },
  {
    name: "a compaction keeping trailing entries after a local snapshot at 50",
    run: (storage) => storage.saveSnapshot(meta(50, 1), stateBytes(50), 30),
    judge: (snapIndex, held) => exactly(held, above(log, snapIndex)),
  },
  {
    name: "a reset by a snapshot at 25 from a leader whose log differs",
    run: (storage) => storage.persist(hard(3), { meta: meta(25, 2), data: stateBytes(25) }, []),
    // Installed: the old entries above it were being dropped; a crash may leave a prefix of them.
    judge: (snapIndex, held) => (snapIndex === 25 ? prefixOfOne(held, [above(log, 25)]) : exactly(held, above(log, snapIndex))),
  },
  {
    name: "a reset by a snapshot at 80, past the whole log",
    run: (storage) => storage.persist(hard(3), { meta: meta(80, 2), data: stateBytes(80) }, []),
    judge: (snapIndex, held) => (snapIndex === 80 ? exactly(held, []) : exactly(held, above(log, snapIndex))),
  },
  {
    name: "a truncation at 8 across segments by conflicting entries 8..10",
    run: (storage) => storage.persist(hard(2), null, entries(8, 10, 2)),
    judge: (snapIndex, held, completed) => {
      const kept = above(log, snapIndex).filter((e) => e.index < 8);
      const missing = exactly(held.slice(0, kept.length), kept);
      if (missing !== null) return `entries below the truncation: ${missing}`;
      const rest = held.slice(kept.length);
      return completed ? exactly(rest, entries(8, 10, 2)) : prefixOfOne(rest, [above(log, 7), entries(8, 10, 2)]);
    },
  },
];

/** Starts from the durable log (and a snapshot at 5, so the store is not empty), crashes at disk operation `at` of the removal. */
async function runTo(scenario: Scenario, at: number): Promise<{ disk: SimDisk; completed: boolean }> {
  const disk = new SimDisk();
  const storage = fresh(disk);
  storage.persist(hard(1), null, log);
  await storage.saveSnapshot(meta(5, 1), stateBytes(5), 0);
  disk.armCrash(at);
  try {
    await scenario.run(storage);
  } catch (e) {
    if (!(e instanceof SimCrashError)) throw e;
    return { disk, completed: false };
  }
  disk.armCrash(-1);
  return { disk, completed: true };
}

/** Every subset of n positions when there are few, else a seeded sample (always with none and all). */
function subsets(n: number, seed: number): number[][] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= 7) return Array.from({ length: 2 ** n }, (_, mask) => all.filter((i) => (mask >> i) & 1));
  const rng = storageRng(seed);
  return [[], all, ...Array.from({ length: 126 }, () => all.filter(() => rng.int(2) === 0))];
}

describe("WAL segment removal under power loss (SimDisk, any subset of unsynced name changes)", () => {
  for (const scenario of scenarios) {
    test(`${scenario.name}: the restarted node holds what was durable`, async () => {
      let points = 0;
      let removalsInFlight = 0; // crash points with a segment's removal not yet durable
      for (let at = 0; ; at++) {
        const probe = await runTo(scenario, at);
        const pending = probe.disk.pendingNameOps();
        if (pending.some((op) => op.startsWith(`remove ${walDir}/`))) removalsInFlight++;
        for (const kept of subsets(pending.length, at)) {
          const { disk, completed } = await runTo(scenario, at);
          disk.crashKeepingNameOps(kept);
          const where =
            `crash at operation ${at}${completed ? " (after it returned)" : ""}, keeping [${kept.map((i) => pending[i]).join("; ")}] ` +
            `of [${pending.join("; ")}]; wal then held ${disk.list(walDir).join(", ")}`;
          let recovered: ReturnType<typeof open> | null = null;
          let failure: unknown = null;
          try {
            recovered = open(disk);
          } catch (e) {
            failure = e;
          }
          expect(failure === null ? null : String(failure), where).toBeNull();
          const { storage, initial } = recovered!;
          const snapIndex = initial.snapshot?.meta.lastIncludedIndex ?? 0;
          expect(scenario.judge(snapIndex, initial.entries, completed), `${where}; snapshot at ${snapIndex}`).toBeNull();
          // The log goes on from there, and a restart finds the next entry.
          const next = (initial.entries.at(-1)?.index ?? snapIndex) + 1;
          storage.persist(hard(9), null, [testEntry(next, 9, 100)]);
          storage.close();
          const again = open(disk);
          expect(again.initial.entries.at(-1), where).toEqual(testEntry(next, 9, 100));
          expect(again.initial.entries, where).toEqual([...initial.entries, testEntry(next, 9, 100)]);
          again.storage.close();
        }
        points++;
        if (probe.completed) break;
      }
      expect(points).toBeGreaterThan(3);
      expect(removalsInFlight).toBeGreaterThan(0);
    });
  }
});

describe("a start after an interrupted removal", () => {
  /** A disk holding the log 1..60 in 1 KiB segments (by first index), a snapshot at `snapIndex`, all durable. */
  async function stored(snapIndex: number): Promise<{ disk: SimDisk; segments: string[] }> {
    const disk = new SimDisk();
    const storage = fresh(disk);
    storage.persist(hard(1), null, log);
    await storage.saveSnapshot(meta(snapIndex, 1), stateBytes(snapIndex), 0); // no compaction
    storage.close();
    const segments = disk.list(walDir).sort((a, b) => firstIndexOf(a) - firstIndexOf(b));
    expect(segments.length).toBeGreaterThan(4);
    return { disk, segments };
  }

  test("segments the snapshot covers, left with gaps between them, are removed and logged once; the rest is held", async () => {
    const { disk, segments } = await stored(45);
    // Keep the first, drop the second and fourth: gaps, all below the segment holding 46.
    const holding46 = segments.filter((n) => firstIndexOf(n) <= 46).at(-1)!;
    const covered = segments.filter((n) => firstIndexOf(n) < firstIndexOf(holding46));
    expect(covered.length).toBeGreaterThanOrEqual(4);
    disk.remove(join(walDir, covered[1]!));
    disk.remove(join(walDir, covered[3]!));
    disk.syncDir(walDir);
    const logger = recordingLogger();
    const r = open(disk, logger);
    expect(r.initial.entries).toEqual(above(log, 45));
    expect(disk.list(walDir).sort()).toEqual(segments.filter((n) => !covered.includes(n)).sort());
    const walLines = logger.lines.filter((l) => l.includes(walDir));
    expect(walLines.length, logger.lines.join("\n")).toBe(1);
    for (const name of [covered[0], covered[2]]) expect(walLines[0]).toContain(name!);
    r.storage.close();
    // And it stays that way: the next start has nothing to say.
    const quiet = recordingLogger();
    open(disk, quiet).storage.close();
    expect(quiet.lines.filter((l) => l.includes(walDir))).toEqual([]);
  });

  test("a gap above the snapshot is still damage: refused, naming the segment, and nothing removed", async () => {
    const { disk, segments } = await stored(5);
    const missing = segments.find((n) => firstIndexOf(n) > 10)!;
    disk.remove(join(walDir, missing));
    disk.syncDir(walDir);
    const before = disk.list(walDir);
    let err: unknown = null;
    try {
      open(disk);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StorageDamageError);
    expect((err as Error).message).toMatch(/gap/);
    expect(disk.list(walDir)).toEqual(before);
  });
});
