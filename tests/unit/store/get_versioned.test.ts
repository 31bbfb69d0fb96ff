// Goal: the one-lookup read of a value and its version (getVersioned, then versionFound) answers
// exactly what get() and versionOf() answer one after the other, on the live map and while a
// snapshot capture holds writes aside, for present, overwritten, deleted and absent keys.
// Method: seeded random sets and deletes at growing log indexes, every key compared after each.

import { describe, expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { encodeCommand } from "../../../store/commands.ts";
import { PackedMap } from "../../../store/packed_map.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";

const keySpace = 40;

function expectSameAsTwoLookups(m: { getVersioned(k: string): string | undefined; readonly versionFound: number; get(k: string): string | undefined; versionOf(k: string): number | undefined }): void {
  for (let i = 0; i <= keySpace; i++) {
    const key = `k${i}`; // k40 is never set
    const value = m.getVersioned(key);
    const version = m.versionFound;
    expect({ key, value, version }).toEqual({ key, value: m.get(key), version: value === undefined ? 0 : (m.versionOf(key) ?? 0) });
  }
}

describe("getVersioned", () => {
  test("PackedMap: same as get + versionOf through sets, overwrites and deletes", () => {
    const rng = createRng(7);
    const m = new PackedMap();
    for (let step = 1; step <= 2000; step++) {
      const key = `k${rng.int(keySpace)}`;
      if (rng.int(3) === 0) m.delete(key);
      else m.set(key, `v${step}`, step);
      if (step % 50 === 0) expectSameAsTwoLookups(m);
    }
  });

  test("KvStateMachine: same on the live map and during a capture", async () => {
    const rng = createRng(11);
    const sm = new KvStateMachine();
    let index = 0;
    const steps = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const key = `k${rng.int(keySpace)}`;
        index++;
        sm.apply(encodeCommand(rng.int(3) === 0 ? { type: "delete", key } : { type: "set", pairs: [[key, `v${index}`]] }), index);
      }
    };
    steps(200);
    expectSameAsTwoLookups(sm);
    const waiting: Array<() => void> = [];
    const bytes = sm.snapshotAsync(() => new Promise<void>((resolve) => waiting.push(resolve)));
    for (let round = 0; round < 5; round++) {
      steps(30);
      expectSameAsTwoLookups(sm);
      // Let the capture encode a chunk if it is waiting for one.
      waiting.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    while (waiting.length > 0) {
      waiting.shift()!();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await bytes;
    steps(50);
    expectSameAsTwoLookups(sm);
  });
});
