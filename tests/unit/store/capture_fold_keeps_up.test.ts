// Goal (issue 18): once a snapshot's encoder is done, the fold of its capture's overlay back
// into the map ends however fast writes go on meanwhile, so the snapshot finishes and the log
// can be compacted. Found at ten million keys (bench/stall_snapshot.ts, the load phase): the
// first snapshot, captured under a million keys, finished only after the 10 M-key load ended,
// because a slice moved at most captureFoldSliceEntries entries, or ~128 while the map was
// rehashing (captureFoldSliceWork), and the load wrote more new keys than that per turn; no
// other snapshot could start meanwhile, and the log kept in memory grew with the load.
// Method: the production Capture and PackedMap, and KvStateMachine's snapshot with a pause
// resolved by hand; writes between slices outnumber a slice's budget; overlay sizes counted, no
// timing.

import { expect, test } from "bun:test";
import { Capture } from "../../../store/capture.ts";
import { encodeCommand } from "../../../store/commands.ts";
import { PackedMap } from "../../../store/packed_map.ts";
import { captureFoldSliceEntries, KvStateMachine } from "../../../store/state_machine.ts";

test("the overlay never grows from one slice to the next, and empties, while writes outpace the slice's budget", () => {
  const map = new PackedMap();
  for (let i = 0; i < 1_000; i++) map.set(`base-${i}`, "v", i + 1);
  const capture = new Capture(map);
  // Written while the encoder ran: the overlay the fold starts from.
  for (let i = 0; i < 300; i++) capture.set(`during-${i}`, "d", 2_000 + i);
  for (let i = 0; i < 100; i++) capture.set(`base-${i}`, "changed", 3_000 + i);

  const budget = 16;
  let version = 10_000;
  const model = new Map<string, string>([...capture.entries()]);
  const write = (key: string, value: string): void => {
    capture.set(key, value, ++version);
    model.set(key, value);
  };
  let previous = Infinity;
  for (let slices = 0; !capture.foldSome(budget); slices++) {
    const after = capture.unfolded;
    expect(after).toBeLessThanOrEqual(previous);
    previous = after;
    if (slices > 1_000) throw new Error(`the fold did not end: ${after} entries left after ${slices} slices`);
    // Between slices, more writes than a slice's budget: new keys, base keys changed and deleted.
    for (let i = 0; i < 3 * budget; i++) write(`new-${slices}-${i}`, "n");
    for (let i = 0; i < budget; i++) write(`base-${(slices * budget + i) % 1_000}`, `again-${slices}`);
    const gone = `base-${(slices * 7) % 1_000}`;
    capture.delete(gone);
    model.delete(gone);
  }
  expect(capture.unfolded).toBe(0);
  // Every write reached the map, in plain-Map order.
  expect([...map.entries()]).toEqual([...model]);
});

test("a snapshot ends while every turn applies more new keys than a fold slice moves", async () => {
  const sm = new KvStateMachine();
  for (let i = 0; i < 2_000; i++) sm.apply(encodeCommand({ type: "set", pairs: [[`k${i}`, "v"]] }));
  const waiting: Array<() => void> = [];
  const pause = (): Promise<void> => new Promise((resolve) => waiting.push(resolve));
  let done = false;
  void sm.snapshotPieces(pause).then(() => (done = true));
  // Each turn: a batch of new keys larger than a whole slice, as a heavy load of new keys is.
  const perTurn = captureFoldSliceEntries + 500;
  let turns = 0;
  let n = 0;
  while (!done) {
    if (turns++ > 200) throw new Error(`the snapshot did not end in ${turns} turns`);
    expect(waiting.length).toBe(1);
    const pairs = Array.from({ length: perTurn }, (): [string, string] => [`new${n++}`, "n"]);
    sm.apply(encodeCommand({ type: "set", pairs }));
    waiting.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  expect(sm.size).toBe(2_000 + n);
  expect(sm.get(`new${n - 1}`)).toBe("n");
});
