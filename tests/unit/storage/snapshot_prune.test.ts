// Goal: removing an old snapshot is crash-safe, and a start tolerates the leftovers of
// anything but the snapshot it needs (temp dirs of unfinished installs, snapshots renamed
// aside for removal, old snapshots half removed by an earlier version), removing each and
// logging what it removed; an unreadable newest snapshot is still damage and changes nothing.
// Method: the production storage on the real file system, MemDisk and SimDisk; a wrapper
// disk that stops a recursive removal part-way (a process killed mid `rm -rf`); SimDisk
// crashes at every disk operation of a pruning install.

import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { SnapshotMeta } from "../../../raft/core/types.ts";
import type { Disk, Logger } from "../../../raft/host.ts";
import { SnapshotStore } from "../../../raft/snapshots.ts";
import { openStorage } from "../../../raft/storage.ts";
import { StorageDamageError } from "../../../raft/wal.ts";
import { InterruptingDisk, RemovalInterrupted } from "../../support/interrupting_disk.ts";
import { type DiskFixture, diskKinds } from "../../support/storage_disks.ts";
import { storageRng } from "../../support/storage_rng.ts";
import { type CrashMode, SimCrashError, SimDisk } from "../../sim/sim_disk.ts";

const membership = { members: [{ id: "a", addr: "h:1", suffrage: "voter" as const }] };
const meta = (index: number, term: number): SnapshotMeta => ({ lastIncludedIndex: index, lastIncludedTerm: term, membership });
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);

/** A Logger that keeps its lines. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (l) => lines.push(l), warn: (l) => lines.push(l), error: (l) => lines.push(l) };
}

function writeFile(disk: Disk, path: string, data: Uint8Array): void {
  const f = disk.open(path, "create");
  f.write(data, 0);
  f.sync();
  f.close();
}

for (const kind of diskKinds) {
  describe(`snapshot pruning on ${kind.name}`, () => {
    let fx: DiskFixture;
    afterEach(() => fx.cleanup());
    const dataDir = () => join(fx.root, "node");
    const snapDir = () => join(dataDir(), "snapshots");

    for (const stopAfter of [0, 1, 2]) {
      test(`a node stopped after ${stopAfter} name(s) of an old snapshot were removed starts from the newest`, async () => {
        fx = kind.make();
        const disk = new InterruptingDisk(fx.disk);
        const first = openStorage({ logDisk: fx.disk, snapshotDisk: disk, dataDir: dataDir() });
        await first.storage.saveSnapshot(meta(10, 1), bytes(100, 1), 0);
        await first.storage.saveSnapshot(meta(20, 1), bytes(200, 2), 0);
        disk.interruptAfter(stopAfter); // the install of 2-30 prunes 1-10: meta, state, then the directory
        let stopped: unknown = null;
        await first.storage.saveSnapshot(meta(30, 2), bytes(300, 3), 0).catch((e) => (stopped = e));
        expect(stopped).toBeInstanceOf(RemovalInterrupted);
        first.storage.close();

        const logger = recordingLogger();
        const again = openStorage({ logDisk: fx.disk, snapshotDisk: fx.disk, dataDir: dataDir(), logger });
        expect(again.initial.snapshot).toEqual({ meta: meta(30, 2), data: bytes(300, 3) });
        expect(fx.disk.list(snapDir())).toEqual(["1-20", "2-30"]);
        expect(logger.lines.filter((l) => l.includes("1-10")).length, logger.lines.join("\n")).toBe(1);
        again.storage.close();
      });
    }

    test("a start removes every kind of leftover, logs each, and leaves other files alone", () => {
      fx = kind.make();
      const store = SnapshotStore.open(fx.disk, snapDir());
      store.save(meta(20, 2), bytes(200, 2));
      store.save(meta(30, 2), bytes(300, 3));
      const leftovers = {
        "2-40.tmp": "an install that never finished",
        "1-5.removed": "a snapshot renamed aside for removal",
        "1-8": "state but no meta (half removed)",
        "1-9": "garbage meta",
        "1-12": "an empty directory (all but the directory removed)",
      };
      fx.disk.mkdirp(join(snapDir(), "2-40.tmp"));
      writeFile(fx.disk, join(snapDir(), "2-40.tmp", "state"), bytes(10, 4));
      fx.disk.mkdirp(join(snapDir(), "1-5.removed"));
      writeFile(fx.disk, join(snapDir(), "1-5.removed", "state"), bytes(10, 5));
      fx.disk.mkdirp(join(snapDir(), "1-8"));
      writeFile(fx.disk, join(snapDir(), "1-8", "state"), bytes(10, 8));
      fx.disk.mkdirp(join(snapDir(), "1-9"));
      writeFile(fx.disk, join(snapDir(), "1-9", "meta"), new TextEncoder().encode("not a meta file"));
      fx.disk.mkdirp(join(snapDir(), "1-12"));
      writeFile(fx.disk, join(snapDir(), "notes.txt"), new TextEncoder().encode("an operator's file"));

      const logger = recordingLogger();
      const r = openStorage({ logDisk: fx.disk, snapshotDisk: fx.disk, dataDir: dataDir(), logger });
      expect(r.initial.snapshot?.meta).toEqual(meta(30, 2));
      expect(fx.disk.list(snapDir())).toEqual(["2-20", "2-30", "notes.txt"]);
      for (const name of Object.keys(leftovers)) {
        expect(logger.lines.filter((l) => l.includes(join(snapDir(), name))).length, `${name}: ${logger.lines.join("\n")}`).toBe(1);
      }
      r.storage.close();
    });

    for (const missing of ["meta", "state"]) {
      test(`a newest snapshot without its ${missing} is damage, named, and nothing is removed`, () => {
        fx = kind.make();
        const store = SnapshotStore.open(fx.disk, snapDir());
        store.save(meta(20, 2), bytes(200, 2));
        store.save(meta(30, 2), bytes(300, 3));
        fx.disk.mkdirp(join(snapDir(), "2-40.tmp"));
        fx.disk.remove(join(snapDir(), "2-30", missing));
        const before = fx.disk.list(snapDir());
        let err: unknown = null;
        try {
          openStorage({ logDisk: fx.disk, snapshotDisk: fx.disk, dataDir: dataDir(), logger: recordingLogger() });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(StorageDamageError);
        expect((err as StorageDamageError).path).toBe(join(snapDir(), "2-30", missing));
        expect((err as Error).message).toContain(join(snapDir(), "2-30", missing));
        expect(fx.disk.list(snapDir())).toEqual(before);
      });
    }
  });
}

describe("snapshot pruning under power loss (SimDisk)", () => {
  for (const mode of ["drop", "tear"] as CrashMode[]) {
    test(`a crash at any disk operation of a pruning install (${mode}) leaves a store that opens clean`, () => {
      let crashPoints = 0;
      for (let at = 0; ; at++) {
        const disk = new SimDisk();
        const dir = "/d/snapshots";
        const store = SnapshotStore.open(disk, dir);
        store.save(meta(10, 1), bytes(100, 1));
        store.save(meta(20, 1), bytes(200, 2));
        disk.armCrash(at);
        try {
          store.save(meta(30, 2), bytes(300, 3));
          disk.armCrash(-1);
          break; // The whole install ran before operation `at`.
        } catch (e) {
          if (!(e instanceof SimCrashError)) throw e;
        }
        crashPoints++;
        disk.crash(mode, storageRng(at));
        const logger = recordingLogger();
        const again = SnapshotStore.open(disk, dir, logger);
        const latest = again.latest();
        const where = `crash at operation ${at} (${mode}): ${disk.list(dir).join(", ")}`;
        expect([20, 30], where).toContain(latest?.meta.lastIncludedIndex ?? 0);
        expect(latest?.data, where).toEqual(latest?.meta.lastIncludedIndex === 30 ? bytes(300, 3) : bytes(200, 2));
        for (const name of disk.list(dir)) expect(name, where).toMatch(/^\d+-\d+$/);
      }
      expect(crashPoints).toBeGreaterThan(5);
    });
  }
});
