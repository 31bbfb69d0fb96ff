// Goal: snapshotAsync's copy-on-write capture is invisible. Applies made while it encodes change
// the live state exactly as they would change a plain Map (values, size, insertion order), and the
// snapshot holds exactly the state at the call. A restore meanwhile wins over the capture.
// Method: a pause resolved by hand, so applies land between chunks at chosen points; seeded random
// workloads checked against a reference Map before, during and after each capture.

import { describe, expect, test } from "bun:test";
import { createRng } from "../../../raft/core/mod.ts";
import { encodeCommand } from "../../../store/commands.ts";
import { KvStateMachine, snapshotChunkPairs } from "../../../store/state_machine.ts";

/** A pause that returns only when the test says so. */
class ManualPause {
  #waiting: Array<() => void> = [];
  readonly pause = (): Promise<void> => new Promise((resolve) => this.#waiting.push(resolve));
  get isWaiting(): boolean {
    return this.#waiting.length > 0;
  }
  /** Lets the capture encode its next chunk, and waits until it pauses again or finishes. */
  async release(): Promise<void> {
    this.#waiting.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** A capture in flight: its promise, and whether it has settled. */
function start(sm: KvStateMachine, pause: ManualPause): { bytes: Promise<Uint8Array>; isDone: () => boolean } {
  let done = false;
  const bytes = sm.snapshotAsync(pause.pause);
  bytes.then(
    () => (done = true),
    () => (done = true),
  );
  return { bytes, isDone: () => done };
}

/** Applies commands to the machine and to a reference Map, checking every result. */
class Workload {
  readonly model = new Map<string, string>();
  readonly #deleted: string[] = [];
  #serial = 0;
  constructor(
    readonly sm: KvStateMachine,
    readonly int: (n: number) => number,
    readonly keySpace: number,
  ) {}

  key(): string {
    // Re-setting a key deleted a moment ago is the case that moves it to the end of the order.
    if (this.#deleted.length > 0 && this.int(4) === 0) return this.#deleted[this.int(this.#deleted.length)]!;
    return `k${this.int(this.keySpace)}`;
  }

  step(): void {
    if (this.int(3) === 0) {
      const key = this.key();
      const existed = this.model.delete(key);
      expect(this.sm.apply(encodeCommand({ type: "delete", key }))).toEqual({ type: "delete", existed, index: 0 });
      this.#deleted.push(key);
      return;
    }
    const pairs: Array<[string, string]> = [];
    const count = 1 + this.int(3);
    // One key twice in a command happens too: the later value wins.
    for (let i = 0; i < count; i++) pairs.push([this.key(), `v${this.#serial++}`]);
    expect(this.sm.apply(encodeCommand({ type: "set", pairs }))).toEqual({ type: "set", count, index: 0 });
    for (const [k, v] of pairs) this.model.set(k, v);
  }

  steps(n: number): void {
    for (let i = 0; i < n; i++) this.step();
  }

  /** Live state equals the model: size, every key of the key space, entries in order. */
  check(): void {
    expect(this.sm.size).toBe(this.model.size);
    for (let i = 0; i < this.keySpace; i++) expect(this.sm.get(`k${i}`)).toBe(this.model.get(`k${i}`));
    expect(this.sm.get("never-set")).toBeUndefined();
    expect([...this.sm.entries()]).toEqual([...this.model]);
  }
}

/** A machine that never captured, holding `pairs` in this order: the bytes to expect. */
function plain(pairs: Iterable<[string, string]>): KvStateMachine {
  const sm = new KvStateMachine();
  for (const pair of pairs) sm.apply(encodeCommand({ type: "set", pairs: [pair] }));
  return sm;
}

function decoded(bytes: Uint8Array): Array<[string, string]> {
  const sm = new KvStateMachine();
  sm.restore(bytes);
  return [...sm.entries()];
}

/**
 * One seeded run: build a state, start a capture, interleave applies with its chunks, finish it,
 * keep applying. Checks the snapshot and the live state at every point against the model.
 */
async function run(seed: number, basePairs: number, keySpace: number, stepsPerPause: number): Promise<void> {
  const rng = createRng(seed);
  const int = (n: number): number => rng.int(n);
  const sm = new KvStateMachine();
  const w = new Workload(sm, int, keySpace);
  for (let i = 0; i < basePairs; i++) w.model.set(`k${i}`, `base${i}`);
  if (basePairs > 0) sm.restore(plain(w.model).snapshot());
  w.steps(stepsPerPause);
  w.check();

  const atCapture = [...w.model];
  const expectedBytes = sm.snapshot();
  const pause = new ManualPause();
  const capture = start(sm, pause);
  let pauses = 0;
  for (;;) {
    w.steps(int(stepsPerPause + 1));
    w.check();
    // The sync snapshot of the live view is the one a machine that never captured would give.
    if (int(4) === 0) expect(sm.snapshot()).toEqual(plain(w.model).snapshot());
    // No pause waiting: the capture has encoded its last chunk (or had none).
    if (!pause.isWaiting) break;
    await pause.release();
    pauses++;
  }
  expect(pauses).toBe(Math.ceil(atCapture.length / snapshotChunkPairs));
  const bytes = await capture.bytes;
  expect(decoded(bytes)).toEqual(atCapture);
  expect(bytes).toEqual(expectedBytes);

  // After the fold: same state, plain-Map order, and applies go on as usual.
  w.check();
  expect(sm.snapshot()).toEqual(plain(w.model).snapshot());
  w.steps(stepsPerPause);
  w.check();
  expect(await sm.snapshotAsync(() => Promise.resolve())).toEqual(plain(w.model).snapshot());
}

describe("snapshotAsync capture", () => {
  test("seeded small workloads: live state and snapshot match the model throughout", async () => {
    for (let seed = 1; seed <= 300; seed++) await run(seed, 0, 12 + (seed % 30), 1 + (seed % 25));
  });

  test("seeded workloads over several chunks: applies between chunks are excluded", async () => {
    // A base of a few chunks, with writes mostly on base keys spread over all of them.
    for (let seed = 1; seed <= 3; seed++) await run(seed, 2 * snapshotChunkPairs + 17 * seed, 2 * snapshotChunkPairs + 200, 300);
  }, 60_000);

  test("a second snapshotAsync during a capture rejects; the first is unharmed", async () => {
    const sm = plain([["a", "1"]]);
    const pause = new ManualPause();
    const first = start(sm, pause);
    await expect(sm.snapshotAsync(() => Promise.resolve())).rejects.toThrow(/already running/);
    sm.apply(encodeCommand({ type: "set", pairs: [["b", "2"]] }));
    await pause.release();
    expect(decoded(await first.bytes)).toEqual([["a", "1"]]);
    expect(decoded(await sm.snapshotAsync(() => Promise.resolve()))).toEqual([["a", "1"], ["b", "2"]]);
  });

  test("a pause that fails ends the capture: the writes made meanwhile are kept", async () => {
    const sm = plain([["a", "1"], ["b", "2"]]);
    let pauses = 0;
    const failing = async (): Promise<void> => {
      if (pauses++ > 0) return;
      sm.apply(encodeCommand({ type: "delete", key: "a" }));
      sm.apply(encodeCommand({ type: "set", pairs: [["a", "3"], ["c", "4"]] }));
      throw new Error("pause failed");
    };
    await expect(sm.snapshotAsync(failing)).rejects.toThrow("pause failed");
    expect([...sm.entries()]).toEqual([["b", "2"], ["a", "3"], ["c", "4"]]);
    expect(decoded(await sm.snapshotAsync(failing))).toEqual([["b", "2"], ["a", "3"], ["c", "4"]]);
  });
});

describe("restore during a capture", () => {
  /** A state over two chunks, a capture of it, and writes between its chunks. */
  async function capturing(): Promise<{ sm: KvStateMachine; pause: ManualPause; capture: ReturnType<typeof start>; expected: Uint8Array }> {
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < snapshotChunkPairs + 5; i++) pairs.push([`old${i}`, `${i}`]);
    const sm = plain(pairs);
    const expected = sm.snapshot();
    const pause = new ManualPause();
    const capture = start(sm, pause);
    // Overlay entries of every kind: changed, deleted, deleted then re-set, added.
    sm.apply(encodeCommand({ type: "set", pairs: [["old0", "changed"], ["new", "x"]] }));
    sm.apply(encodeCommand({ type: "delete", key: "old1" }));
    sm.apply(encodeCommand({ type: "delete", key: "old2" }));
    sm.apply(encodeCommand({ type: "set", pairs: [["old2", "again"]] }));
    await pause.release();
    expect(pause.isWaiting).toBe(true);
    return { sm, pause, capture, expected };
  }
  const restored: Array<[string, string]> = [["r1", "a"], ["old3", "b"], ["r2", "c"]];
  const afterRestore: Array<[string, string]> = [["r1", "a"], ["old3", "b"], ["r2", "c"], ["later", "d"]];

  async function finish(c: Awaited<ReturnType<typeof capturing>>): Promise<void> {
    c.sm.apply(encodeCommand({ type: "set", pairs: [["later", "d"]] }));
    c.sm.apply(encodeCommand({ type: "delete", key: "old0" }));
    while (!c.capture.isDone()) await c.pause.release();
    // The capture's bytes are of the state at its start; the restored state survives its end.
    expect(await c.capture.bytes).toEqual(c.expected);
    expect([...c.sm.entries()]).toEqual(afterRestore);
    expect(c.sm.size).toBe(afterRestore.length);
    expect(c.sm.get("new")).toBeUndefined();
    expect(c.sm.get("old0")).toBeUndefined();
    expect(c.sm.snapshot()).toEqual(plain(afterRestore).snapshot());
  }

  test("restore", async () => {
    const c = await capturing();
    c.sm.restore(plain(restored).snapshot());
    expect([...c.sm.entries()]).toEqual(restored);
    await finish(c);
  });

  test("restoreAsync", async () => {
    const c = await capturing();
    await c.sm.restoreAsync(plain(restored).snapshot(), () => Promise.resolve());
    await finish(c);
  });

  test("a new capture started after the restore is not disturbed by the old one ending", async () => {
    const c = await capturing();
    c.sm.restore(plain(restored).snapshot());
    const second = new ManualPause();
    const next = start(c.sm, second);
    await finish(c);
    expect(next.isDone()).toBe(false);
    while (!next.isDone()) await second.release();
    expect(decoded(await next.bytes)).toEqual(restored);
    expect([...c.sm.entries()]).toEqual(afterRestore);
  });
});
