// Goal: the stable store and the snapshot store behave identically on the real file system,
// MemDisk and SimDisk. Method: one conformance suite per store, run against each Disk.

import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { SnapshotMeta } from "../../../raft/core/types.ts";
import { SnapshotStore } from "../../../raft/snapshots.ts";
import { StableStore } from "../../../raft/stable.ts";
import { type DiskFixture, diskKinds } from "../../support/storage_disks.ts";

const membership = { members: [{ id: "a", addr: "h:1", suffrage: "voter" as const }] };
const meta = (index: number, term: number): SnapshotMeta => ({ lastIncludedIndex: index, lastIncludedTerm: term, membership });
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);

for (const kind of diskKinds) {
  describe(`stable store on ${kind.name}`, () => {
    let fx: DiskFixture;
    afterEach(() => fx.cleanup());

    test("defaults when absent, then what was saved", () => {
      fx = kind.make();
      const path = join(fx.root, "raft", "state");
      const s = StableStore.open(fx.disk, path);
      expect(s.state).toEqual({ hardState: { currentTerm: 0, votedFor: null }, nodeId: null });
      s.save({ hardState: { currentTerm: 3, votedFor: "b" }, nodeId: "a" });
      s.save({ hardState: { currentTerm: 4, votedFor: null }, nodeId: "a" });
      expect(StableStore.open(fx.disk, path).state).toEqual({ hardState: { currentTerm: 4, votedFor: null }, nodeId: "a" });
    });

    test("a leftover temp file from a crashed save is ignored", () => {
      fx = kind.make();
      const path = join(fx.root, "raft", "state");
      StableStore.open(fx.disk, path).save({ hardState: { currentTerm: 2, votedFor: "a" }, nodeId: "a" });
      const f = fx.disk.open(`${path}.tmp`, "create");
      f.write(new Uint8Array([1, 2, 3]), 0);
      f.close();
      expect(StableStore.open(fx.disk, path).state.hardState.currentTerm).toBe(2);
      expect(fx.disk.exists(`${path}.tmp`)).toBe(false);
    });
  });

  describe(`snapshot store on ${kind.name}`, () => {
    let fx: DiskFixture;
    const dir = () => join(fx.root, "snapshots");
    afterEach(() => fx.cleanup());

    test("save, latest, and only the newest two are kept", () => {
      fx = kind.make();
      const s = SnapshotStore.open(fx.disk, dir());
      expect(s.latest()).toBeNull();
      s.save(meta(10, 1), bytes(100, 1));
      s.save(meta(20, 2), bytes(200, 2));
      s.save(meta(30, 2), bytes(300, 3));
      expect(s.list().map((m) => m.lastIncludedIndex)).toEqual([20, 30]);
      expect(fx.disk.list(dir())).toEqual(["2-20", "2-30"]);
      const again = SnapshotStore.open(fx.disk, dir());
      expect(again.latest()).toEqual({ meta: meta(30, 2), data: bytes(300, 3) });
    });

    test("chunked writer ignores out-of-order chunks; reader reads ranges", () => {
      fx = kind.make();
      const s = SnapshotStore.open(fx.disk, dir());
      const data = bytes(1000, 7);
      const w = s.openWriter(meta(50, 3));
      expect(w.write(0, data.subarray(0, 400))).toBe(400);
      expect(w.write(800, data.subarray(800))).toBe(400); // a gap: refused, tells where to resume
      expect(w.write(0, data.subarray(0, 400))).toBe(400); // a duplicate: refused
      expect(w.write(400, data.subarray(400))).toBe(1000);
      expect(s.list()).toEqual([]); // not visible before finish
      w.finish();
      const r = SnapshotStore.open(fx.disk, dir()).openReader(meta(50, 3));
      expect(r.size).toBe(1000);
      expect(r.read(990, 100)).toEqual(data.subarray(990));
      r.close();
    });

    test("an unfinished install leaves nothing behind after reopening", () => {
      fx = kind.make();
      const s = SnapshotStore.open(fx.disk, dir());
      s.save(meta(5, 1), bytes(10, 1));
      s.openWriter(meta(9, 2)).write(0, bytes(10, 2));
      const again = SnapshotStore.open(fx.disk, dir());
      expect(again.list()).toEqual([meta(5, 1)]);
      expect(fx.disk.list(dir())).toEqual(["1-5"]);
    });
  });
}
