// Goal: folding a snapshot capture's overlay back into the map never holds the event loop for
// more than one slice (captureFoldSliceEntries writes into the map per turn), and the live state
// stays exactly a plain Map's (values, size, insertion order) while the fold goes on between
// turns. Found at ten million keys (bench, keys phase): writes made while a snapshot was encoded
// left over a million overlay entries, folded in one turn: a loop pause of about a second.
// Method: a pause resolved by hand; the map's writes counted per turn by wrapping PackedMap's
// set and delete; seeded applies between turns checked against a reference Map.

import { afterAll, describe, expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { encodeCommand } from "../../../store/commands.ts";
import { PackedMap } from "../../../store/packed_map.ts";
import { captureFoldSliceEntries, KvStateMachine, snapshotChunkPairs } from "../../../store/state_machine.ts";

/** Writes into any PackedMap since the last reset. */
let mapWrites = 0;
const originalSet = PackedMap.prototype.set;
const originalDelete = PackedMap.prototype.delete;
PackedMap.prototype.set = function (this: PackedMap, ...args: Parameters<PackedMap["set"]>) {
  mapWrites++;
  return originalSet.apply(this, args);
};
PackedMap.prototype.delete = function (this: PackedMap, ...args: Parameters<PackedMap["delete"]>) {
  mapWrites++;
  return originalDelete.apply(this, args);
};
afterAll(() => {
  PackedMap.prototype.set = originalSet;
  PackedMap.prototype.delete = originalDelete;
});

function set(sm: KvStateMachine, model: Map<string, string>, key: string, value: string): void {
  sm.apply(encodeCommand({ type: "set", pairs: [[key, value]] }));
  model.set(key, value);
}

function del(sm: KvStateMachine, model: Map<string, string>, key: string): void {
  sm.apply(encodeCommand({ type: "delete", key }));
  model.delete(key);
}

describe("folding a snapshot capture back", () => {
  test("a slice per turn, with the live state a plain Map's throughout", async () => {
    for (const seed of [1, 2, 3]) {
      const rng = createRng(seed);
      const sm = new KvStateMachine();
      const model = new Map<string, string>();
      const basePairs = 3 * snapshotChunkPairs;
      for (let i = 0; i < basePairs; i++) set(sm, model, `k${i}`, `base${i}`);
      const atCapture = [...model];

      const waiting: Array<() => void> = [];
      const pause = (): Promise<void> => new Promise((resolve) => waiting.push(resolve));
      let done = false;
      const bytes = sm.snapshotAsync(pause).finally(() => (done = true));

      // An overlay of every kind, several slices' worth: base keys changed, deleted, deleted and
      // set again (moves to the end), and new keys.
      for (let i = 0; i < basePairs; i++) set(sm, model, `k${i}`, `changed${i}`);
      for (let i = 0; i < 600; i++) del(sm, model, `k${rng.int(basePairs)}`);
      for (let i = 0; i < 300; i++) set(sm, model, `k${rng.int(basePairs)}`, `again${i}`);
      for (let i = 0; i < 2 * captureFoldSliceEntries; i++) set(sm, model, `new${i}`, `n${i}`);

      let turns = 0;
      let most = 0;
      while (!done) {
        expect(waiting.length).toBe(1);
        mapWrites = 0;
        waiting.shift()!();
        await new Promise((resolve) => setTimeout(resolve, 0));
        most = Math.max(most, mapWrites);
        turns++;
        // Applies between the fold's turns (and the encoder's): every kind again.
        if (!done) {
          for (let i = 0; i < 20; i++) {
            const r = rng.int(4);
            if (r === 0) del(sm, model, `k${rng.int(basePairs)}`);
            else if (r === 1) set(sm, model, `k${rng.int(basePairs)}`, `t${turns}-${i}`);
            else set(sm, model, `new${rng.int(3 * captureFoldSliceEntries)}`, `t${turns}-${i}`);
          }
          expect(sm.size).toBe(model.size);
          for (let i = 0; i < 50; i++) {
            const key = rng.int(2) === 0 ? `k${rng.int(basePairs)}` : `new${rng.int(3 * captureFoldSliceEntries)}`;
            expect(sm.get(key)).toBe(model.get(key));
          }
        }
      }
      // A slice is captureFoldSliceEntries writes, after as many as the overlay gained since the
      // previous one (at most the 20 applies between turns: capture_fold_keeps_up.test.ts).
      expect(most).toBeLessThanOrEqual(captureFoldSliceEntries + 20);
      // The fold needed turns of its own beyond the encoder's three chunks.
      expect(turns).toBeGreaterThan(3 + 1);

      const restored = new KvStateMachine();
      restored.restore(await bytes);
      expect([...restored.entries()]).toEqual(atCapture);
      expect([...sm.entries()]).toEqual([...model]);
      // A fold that finished leaves a plain map: the next snapshot is the model's, in its order.
      const next = new KvStateMachine();
      next.restore(await sm.snapshotAsync(() => Promise.resolve()));
      expect([...next.entries()]).toEqual([...model]);
    }
  }, 60_000);
});
