// Goal (issue 18, install pauses at ten million keys): a follower receiving a snapshot
// assembles each InstallSnapshot chunk's frame in a buffer an earlier chunk used once that
// chunk is written, not in fresh memory per chunk, and the leader encodes each chunk's envelope
// in one an earlier envelope used once the socket took it; what lands in the snapshot is still
// exactly what was sent. Traced (bench/stall_snapshot.ts STALL_PERF=1, 10 M keys): page faults
// on the fresh 512 KiB buffers and their zero fill were a quarter of the follower's main
// thread while the snapshot came in (turns of 15-25 ms), and a fifth of the leader's.
// Method: both production transports, the production envelope codec and the storage's
// snapshot receiver on the real file system, as open_node.ts wires them; each chunk is sent
// once the previous one was taken in, as a leader does on the reply; the buffers under the
// received chunks and under the envelopes sent are counted by identity; the installed snapshot is read back after a reopen.

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { InstallSnapshot, SnapshotMeta } from "../../../raft/core/mod.ts";
import { createFsDisk } from "../../../raft/disk.ts";
import { decodeEnvelope, type Envelope, encodeEnvelope } from "../../../raft/envelope.ts";
import { openStorage } from "../../../raft/storage.ts";
import type { TcpTransport } from "../../../raft/transport.ts";
import { transportImplementations } from "./implementations.ts";

const chunkBytes = 512 * 1024;
const chunks = 16;
const membership = { members: ["a", "b"].map((id) => ({ id, addr: `${id}:1`, suffrage: "voter" as const })) };
const meta: SnapshotMeta = { lastIncludedIndex: 500, lastIncludedTerm: 2, membership };
const state = Uint8Array.from({ length: chunks * chunkBytes - 1000 }, (_, i) => (i * 131 + (i >>> 11)) & 0xff);

const open: TcpTransport<Envelope>[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe.each(transportImplementations)("a snapshot received over $name", ({ create }) => {
  test("reuses the buffers of chunks already written and sent, and installs exactly the bytes sent", async () => {
    const dir = mkdtempSync(join(tmpdir(), "frame-reuse-"));
    dirs.push(dir);
    const disk = createFsDisk();
    const { storage } = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: dir });
    storage.saveNodeId("b");
    const receiver = storage.receiveSnapshot(meta);

    const buffers = new Set<ArrayBufferLike>();
    let received = 0;
    const follower = create<Envelope>({
      listenAddr: "127.0.0.1:0",
      encode: encodeEnvelope,
      decode: decodeEnvelope,
      logger: () => {},
      onMessage: (env) => {
        if (env.kind !== "raft" || env.msg.type !== "InstallSnapshot") throw new Error("unexpected message");
        buffers.add(env.msg.data.buffer);
        receiver.append(env.msg.data);
        received++;
      },
    });
    open.push(follower);
    await follower.listen();
    const sentBuffers = new Set<ArrayBufferLike>();
    const encode = (env: Envelope): Uint8Array => {
      const bytes = encodeEnvelope(env);
      sentBuffers.add(bytes.buffer);
      return bytes;
    };
    const leader = create<Envelope>({ listenAddr: "127.0.0.1:0", encode, decode: decodeEnvelope, logger: () => {}, onMessage: () => {} });
    open.push(leader);
    await leader.listen();

    for (let i = 0; i < chunks; i++) {
      const offset = i * chunkBytes;
      const data = state.subarray(offset, Math.min(offset + chunkBytes, state.length));
      const msg: InstallSnapshot = { type: "InstallSnapshot", from: "a", to: "b", term: 2, meta, offset, data, done: i === chunks - 1 };
      expect(leader.send(follower.address(), { kind: "raft", fromAddr: leader.address(), msg })).toBe(true);
      await until(`chunk ${i}`, () => received === i + 1);
      // A leader's next chunk waits for the reply, sent as this one is taken in; its write to
      // the page cache is a fraction of that round trip. A little slack for a loaded machine.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Fresh memory per chunk took 16 buffers; reused, a few (writes still landing when the
    // next chunk came, and whatever the process's pool held before).
    expect(buffers.size).toBeLessThanOrEqual(6);
    expect(sentBuffers.size).toBeLessThanOrEqual(6);

    await storage.persistSnapshotAsync({ currentTerm: 2, votedFor: "a" }, { meta, data: receiver.bytes() }, []);
    storage.close();
    const reopened = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir: dir });
    const installed = reopened.initial.snapshot;
    expect(installed?.meta).toEqual(meta);
    expect(installed?.data.length).toBe(state.length);
    expect(Buffer.compare(installed!.data, state)).toBe(0);
    reopened.storage.close();
  }, 30_000);
});
