// Goal: a backup's capture (KvStateMachine.capture) freezes the state of its call while applies
// go on, beside the driver's snapshotAsync and other backups, released in any order; the live
// state stays exactly a plain Map's (values, size, insertion order) throughout and after.
// Method: seeded random workloads against a reference Map; captures begun and released at
// random points, each checked against the reference copied at its start.

import { expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";

function applyRandom(sm: KvStateMachine, model: Map<string, string>, rng: ReturnType<typeof createRng>): void {
  const key = `k${rng.int(60)}`;
  if (rng.int(3) === 0) {
    expect(sm.applyCommand({ type: "delete", key })).toEqual({ type: "delete", existed: model.delete(key), index: 0 });
  } else {
    const value = `v${rng.int(1000)}`;
    sm.applyCommand({ type: "set", pairs: [[key, value]] });
    model.set(key, value);
  }
}

test("captures stack, freeze their state and fold back in any release order (seeds 1-40)", async () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = createRng(seed);
    const sm = new KvStateMachine();
    const model = new Map<string, string>();
    const open: { capture: ReturnType<KvStateMachine["capture"]>; expected: [string, string][] }[] = [];
    let snapshot: { bytes: Promise<Uint8Array>; expected: Map<string, string>; release: () => void } | null = null;
    for (let step = 0; step < 400; step++) {
      const what = rng.int(20);
      if (what === 0) {
        open.push({ capture: sm.capture(), expected: [...model] });
      } else if (what === 1 && open.length > 0) {
        const [one] = open.splice(rng.int(open.length), 1);
        expect([...one!.capture.entries()]).toEqual(one!.expected);
        one!.capture.release();
        one!.capture.release(); // a second release does nothing
      } else if (what === 2 && snapshot === null) {
        let resume = (): void => undefined;
        const gate = new Promise<void>((resolve) => (resume = resolve));
        snapshot = { bytes: sm.snapshotAsync(() => gate), expected: new Map(model), release: () => resume() };
      } else if (what === 3 && snapshot !== null) {
        snapshot.release();
        const check = new KvStateMachine();
        check.restore(await snapshot.bytes);
        expect([...check.entries()]).toEqual([...snapshot.expected]);
        snapshot = null;
      } else {
        applyRandom(sm, model, rng);
      }
      expect(sm.size).toBe(model.size);
    }
    for (const one of open) {
      expect([...one.capture.entries()]).toEqual(one.expected);
      one.capture.release();
    }
    if (snapshot !== null) {
      snapshot.release();
      await snapshot.bytes;
    }
    expect([...sm.entries()]).toEqual([...model]);
    // Folded back: the synchronous snapshot of the live map is that of a plain machine.
    const plain = new KvStateMachine();
    for (const [k, v] of model) plain.applyCommand({ type: "set", pairs: [[k, v]] });
    expect(sm.snapshot()).toEqual(plain.snapshot());
  }
});

test("a restore during a backup keeps the backup's frozen state and drops its overlay", () => {
  const sm = new KvStateMachine();
  sm.applyCommand({ type: "set", pairs: [["a", "1"], ["b", "2"]] });
  const backup = sm.capture();
  sm.applyCommand({ type: "set", pairs: [["c", "3"]] });
  const other = new KvStateMachine();
  other.applyCommand({ type: "set", pairs: [["z", "9"]] });
  sm.restore(other.snapshot());
  expect([...backup.entries()]).toEqual([["a", "1"], ["b", "2"]]);
  backup.release();
  expect([...sm.entries()]).toEqual([["z", "9"]]);
});
