// Goal (issue 18, memory and pauses at ten million keys): a node's local snapshot reaches the
// disk as the pieces the state machine encoded, copied a slice at a time into one buffer of a
// slice's size, never joined into a buffer of the whole snapshot. Joined, ten million keys made
// a 289–336 MB buffer: a peak of resident memory the size of the state, and a large free.
// The file written is still the whole snapshot (the state machine restores it to the same map).
// Method: one node built by openNode on simulated seams (tests/sim/world), written to through
// its HTTP handler until its snapshot is several MiB; the disk seam records, for each write to
// a snapshot's state file, the size of the buffer the written bytes lie in.

import { expect, test } from "bun:test";
import { openNode } from "../../../open_node.ts";
import type { Disk, DiskFile } from "../../../raft/host.ts";
import { joinedSnapshot, snapshotPieces, snapshotSlices } from "../../../raft/snapshot_bytes.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";
import { createSimRng } from "../../sim/prng.ts";
import { Scheduler } from "../../sim/scheduler.ts";
import { SimDisk } from "../../sim/sim_disk.ts";
import { drainMicrotasks, SimProcess } from "../../sim/world/sim_process.ts";
import { simSeams } from "../../sim/world/sim_seams.ts";
import { SimWire } from "../../sim/world/sim_wire.ts";

const addr = "n1.sim:7000";
const sliceBytes = 1024 * 1024;

/**
 * `disk`, recording the buffer size behind every write to a snapshot's state file, and in
 * `events` the write (by path) among the node's deferrals.
 */
function recording(disk: Disk, buffers: number[], events: string[]): Disk {
  const file = (f: DiskFile, path: string): DiskFile =>
    new Proxy(f, {
      get(target, key) {
        if (key === "write" && /\/snapshots\/[^/]+\/state$/.test(path)) {
          return (bytes: Uint8Array, position: number) => {
            buffers.push(bytes.buffer.byteLength);
            events.push(path);
            target.write(bytes, position);
          };
        }
        const v = Reflect.get(target, key) as unknown;
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  return new Proxy(disk, {
    get(target, key) {
      if (key === "open") return (path: string, mode: Parameters<Disk["open"]>[1]) => file(target.open(path, mode), path);
      const v = Reflect.get(target, key) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

test("a local snapshot of several MiB is written from buffers no larger than a slice, yielding through the node's scheduler between them, and restores whole", async () => {
  const scheduler = new Scheduler();
  const rng = createSimRng(7);
  const wire = new SimWire(scheduler, rng.fork("wire"));
  const proc = new SimProcess(scheduler, "n1");
  const simDisk = new SimDisk();
  const buffers: number[] = [];
  const events: string[] = [];
  const logger = { info: () => undefined, warn: () => undefined, error: (l: string) => console.error(l) };
  const seams = simSeams({ proc, disk: recording(proc.fence(simDisk), buffers, events), wire, addr, tickMs: 10, rng: rng.fork("n1"), logger });
  // The node's scheduler seam, noting each deferral among the writes: the slices of a snapshot
  // must yield through it (the simulator's turns), never through the host's own event loop
  // (the storage's default), which simulated time does not drive and a crash does not stop.
  const scheduler_ = { defer: (fn: () => void) => { events.push("defer"); seams.scheduler.defer(fn); } };
  const opened = openNode(
    {
      nodeId: "n1", raftAddr: addr, dataDir: "/data/n1", isJoining: false,
      electionTicks: 10, heartbeatTicks: 2, tickMs: 10,
      snapshotThresholdEntries: 4, snapshotTrailingEntries: 2, walPreallocateBytes: 0,
      requestTimeoutMs: 60_000, bodyBytesMax: 1 << 20, version: "v-test",
      bootstrapMembers: [{ id: "n1", addr, suffrage: "voter" }],
    },
    { ...seams, scheduler: scheduler_, onFatal: (e) => console.error(`FATAL ${String(e)}`) },
  );
  await opened.start();
  const settle = async <T>(promise: Promise<T>): Promise<T> => {
    let done = false;
    promise.then(() => (done = true), () => (done = true));
    for (let i = 0; i < 2_000_000 && !done; i++) {
      scheduler.runOne();
      await drainMicrotasks();
    }
    return promise;
  };
  const post = (body: Record<string, string>): Promise<Response> =>
    settle(Promise.resolve(opened.fetch(new Request("http://n1/key", { method: "POST", body: JSON.stringify(body) }))));
  await settle(new Promise((resolve) => scheduler.schedule(1_000, () => resolve(undefined))));

  // 160,000 keys of 36 bytes each with their values: a state of about 6 MiB.
  for (let r = 0; r < 160; r++) {
    const body: Record<string, string> = {};
    for (let i = 0; i < 1_000; i++) body[`key-${String(r * 1_000 + i).padStart(10, "0")}`] = "value-0123456789";
    expect((await post(body)).status).toBe(200);
  }
  const loaded = opened.node.core.status().commitIndex;
  // Keys overwritten until the log has grown past a quarter of the state: another snapshot,
  // taken after every key was written, once saved.
  const snapshotsDir = "/data/n1/snapshots";
  const snapshotDirs = (): string[] => simDisk.list(snapshotsDir).filter((d) => /^\d+-\d+$/.test(d));
  const stateBytes = (): number => Math.max(0, ...snapshotDirs().map((d) => simDisk.readFile(`${snapshotsDir}/${d}/state`).length));
  const newestIndex = (): number => Math.max(0, ...snapshotDirs().map((d) => Number(d.split("-")[1])));
  for (let r = 0; (stateBytes() < 4 * sliceBytes || newestIndex() < loaded) && r < 200; r++) {
    const body: Record<string, string> = {};
    for (let i = 0; i < 1_000; i++) body[`key-${String(((r * 1_000) % 160_000) + i).padStart(10, "0")}`] = "value-9876543210";
    expect((await post(body)).status).toBe(200);
    await settle(new Promise((resolve) => scheduler.schedule(50, () => resolve(undefined))));
  }
  expect(stateBytes()).toBeGreaterThan(4 * sliceBytes);
  expect(Math.max(...buffers)).toBeLessThanOrEqual(sliceBytes);
  // Between two slices of one snapshot's state file, the node yielded through its seam.
  let unyielded = 0;
  let slices = 0;
  for (let i = 1; i < events.length; i++) {
    if (events[i] === "defer") continue;
    const previous = events.slice(0, i).findLastIndex((e) => e !== "defer");
    if (events[previous] !== events[i]) continue;
    slices++;
    if (previous === i - 1) unyielded++;
  }
  expect(slices).toBeGreaterThan(3);
  expect(unyielded).toBe(0);

  // The newest stored snapshot is the whole state: the state machine restores every key from it.
  const newest = simDisk.list(snapshotsDir).filter((d) => /^\d+-\d+$/.test(d)).sort((a, b) => Number(a.split("-")[1]) - Number(b.split("-")[1])).at(-1)!;
  const sm = new KvStateMachine();
  sm.restore(simDisk.readFile(`${snapshotsDir}/${newest}/state`));
  expect(sm.size).toBe(160_000);
  await settle(opened.stop());
}, 120_000);

test("slices of pieces are the pieces' bytes in order, each slice full but the last, whatever the pieces' sizes", () => {
  const rng = createSimRng(3);
  for (let round = 0; round < 200; round++) {
    const pieces = Array.from({ length: rng.int(20) }, () => Uint8Array.from({ length: rng.int(50) }, () => rng.int(256)));
    const sliceLength = 1 + rng.int(40);
    const data = snapshotPieces(pieces);
    const out: number[] = [];
    const lengths: number[] = [];
    for (const s of snapshotSlices(data, sliceLength)) {
      out.push(...s);
      lengths.push(s.length);
    }
    expect(out).toEqual([...joinedSnapshot(data)]);
    expect(lengths.slice(0, -1).every((n) => n === sliceLength)).toBe(true);
    expect(out.length).toBe(data.size);
  }
});
