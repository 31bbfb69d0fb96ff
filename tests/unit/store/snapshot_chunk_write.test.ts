// Goal (issue 18): a snapshot's pair chunks are written from the map's code units, with no JS
// string made per key and value (at ten million keys, twenty million strings per snapshot: most
// of its CPU and garbage), in exactly the bytes cbor-x writes for the same pairs, so snapshots
// read as before and a snapshot's bytes do not depend on the path taken.
// Method: writeChunk on production PackedMaps of seeded keys and values of every kind (empty,
// ASCII, non-ASCII, lone surrogates, held large), versions of every head size and past 2^32,
// against cbor-x encoding the same pairs as the oracle; and the state machine's snapshots, with
// PackedMap's string iterators counted.

import { afterAll, describe, expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { Encoder } from "../../../raft/cbor.ts";
import { encodeCommand } from "../../../store/commands.ts";
import { PackedMap } from "../../../store/packed_map.ts";
import { writeChunk } from "../../../store/snapshot_chunk.ts";
import { KvStateMachine, snapshotChunkChars, snapshotChunkPairs } from "../../../store/state_machine.ts";

const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });

function text(rng: ReturnType<typeof createRng>, i: number): string {
  switch (rng.int(9)) {
    case 0: return "";
    case 1: return `é${i}`;
    case 2: return `日本${i}`.repeat(1 + rng.int(20));
    case 3: return `\ud800${i}`; // a lone surrogate
    case 4: return "x".repeat(8192 + rng.int(100)); // held large
    case 5: return "a".repeat(rng.int(300));
    case 6: return "b".repeat(60_000 + rng.int(10_000)); // past the 2-byte head
    default: return `key-${i}-${rng.int(1_000_000)}`;
  }
}

const versions = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, 2 ** 53 - 1];

let stringIterations = 0;
const originalEntries = PackedMap.prototype.entries;
const originalVersioned = PackedMap.prototype.entriesVersioned;
// Only of a map holding keys (a capture's empty overlay is folded back by iterating it).
PackedMap.prototype.entries = function (this: PackedMap) {
  if (this.size > 0) stringIterations++;
  return originalEntries.call(this);
};
PackedMap.prototype.entriesVersioned = function (this: PackedMap) {
  if (this.size > 0) stringIterations++;
  return originalVersioned.call(this);
};
afterAll(() => {
  PackedMap.prototype.entries = originalEntries;
  PackedMap.prototype.entriesVersioned = originalVersioned;
});

describe("writeChunk", () => {
  test("cbor-x's bytes for the same pairs, chunk by chunk, whatever the strings and versions", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rng = createRng(seed);
      const map = new PackedMap();
      for (let i = 0; i < 3000; i++) {
        map.set(text(rng, i) || `k${i}`, text(rng, i), versions[rng.int(versions.length)]!);
        if (rng.int(5) === 0) map.delete(`key-${rng.int(i + 1)}`);
      }
      const pairs = [...originalVersioned.call(map)];
      for (const withVersions of [false, true]) {
        const pairsMax = 1 + rng.int(300);
        const charsMax = 1 + rng.int(200_000);
        let from = 0;
        let taken = 0;
        while (taken < pairs.length) {
          const chunk = writeChunk(map, from, pairsMax, charsMax, withVersions);
          expect(chunk.pairs).toBeGreaterThan(0);
          const flat = pairs.slice(taken, taken + chunk.pairs).flatMap(([k, v, ver]) => (withVersions ? [k, v, ver] : [k, v]));
          expect(Buffer.from(chunk.bytes).equals(Buffer.from(encoder.encode(flat)))).toBe(true);
          // Ended where the rule says: the pair limit, or the next pair past the units.
          if (taken + chunk.pairs < pairs.length && chunk.pairs < pairsMax) {
            const units = pairs.slice(taken, taken + chunk.pairs + 1).reduce((a, [k, v]) => a + k.length + v.length, 0);
            expect(units).toBeGreaterThan(charsMax);
          }
          taken += chunk.pairs;
          from = chunk.next;
        }
        expect(from).toBe(-1);
      }
    }
    // ~4 s of checking alone; twice that on the loaded machine passed bun's default 5 s.
  }, 30_000);
});

describe("the state machine's snapshots", () => {
  test("are written from the map's code units: no string per key, the same bytes sync and async", async () => {
    const sm = new KvStateMachine();
    const n = 3 * snapshotChunkPairs + 17;
    for (let i = 0; i < n; i += 100) {
      const pairs: [string, string][] = [];
      for (let j = i; j < Math.min(n, i + 100); j++) pairs.push([`key-${j}`, j % 7 === 0 ? `välue-${j}` : `value-${j}`]);
      sm.apply(encodeCommand({ type: "set", pairs }), i + 1);
    }
    sm.apply(encodeCommand({ type: "set", pairs: [["big", "z".repeat(snapshotChunkChars + 5)]] }), n + 1);
    stringIterations = 0;
    const sync = sm.snapshot();
    const async = await sm.snapshotAsync(() => Promise.resolve());
    expect(stringIterations).toBe(0);
    expect(Buffer.from(async).equals(Buffer.from(sync))).toBe(true);
    const restored = new KvStateMachine();
    restored.restore(async);
    expect(restored.size).toBe(n + 1);
    expect(restored.get("key-7")).toBe("välue-7");
    expect(restored.versionOf("key-150")).toBe(101);
    expect(restored.get("big")?.length).toBe(snapshotChunkChars + 5);
  });
});
