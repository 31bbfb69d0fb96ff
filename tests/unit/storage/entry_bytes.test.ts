// Goal: an entry is CBOR-encoded once per process (issue 18, CPU per write). A leader's Ready
// sends AppendEntries to every follower and then writes its own WAL record: one encoding
// serves them all. A follower writes the item it received. The bytes are the same as before:
// each AppendEntries envelope is byte for byte cbor-x's encoding of the same value, and the
// log reads back the same entries. Method: entryEncodings (the codec's work counter) around
// the production encodeEnvelope, decodeEnvelope and Wal.append on MemDisk.

import { describe, expect, test } from "bun:test";
import { encodeCbor, encodeEntries, entryArray, entryEncodings } from "../../../raft/codec.ts";
import type { AppendEntries } from "../../../raft/core/messages.ts";
import type { Entry, Membership } from "../../../raft/core/types.ts";
import { decodeEnvelope, encodeEnvelope } from "../../../raft/envelope.ts";
import { MemDisk } from "../../../raft/mem_disk.ts";
import { encodeMessage } from "../../../raft/message_codec.ts";
import { Wal } from "../../../raft/wal.ts";

const membership: Membership = {
  members: ["n1", "n2", "n3", "n4", "n5"].map((id, i) => ({ id, addr: `127.0.0.1:${12000 + i}`, suffrage: "voter" as const })),
};

/** `n` entries from `first`, with data of growing sizes and one config entry. */
function batch(first: number, n: number, term = 3, dataBytes = (i: number) => i % 40): Entry[] {
  return Array.from({ length: n }, (_, i): Entry => {
    const index = first + i;
    if (i === 1) return { index, term, kind: "config", data: new Uint8Array(), membership };
    return { index, term, kind: "normal", data: new Uint8Array(dataBytes(i)).fill(index % 251) };
  });
}

function append(to: string, entries: Entry[], prevLogIndex = entries[0]!.index - 1): AppendEntries {
  return { type: "AppendEntries", from: "n1", to, term: 3, prevLogIndex, prevLogTerm: 3, entries, leaderCommit: prevLogIndex, readRound: 42 };
}

/** What encodeEnvelope gave for an AppendEntries before it wrote one itself: cbor-x's encoding. */
function cborEnvelope(fromAddr: string, m: AppendEntries): Uint8Array {
  return encodeCbor([0, fromAddr, encodeMessage(m)]);
}

function openWal(disk: MemDisk): Wal {
  return Wal.open(disk, "/data/wal", { segmentBytesMax: 1 << 20 }).wal;
}

describe("entry bytes", () => {
  test("a leader encodes a Ready's entries once for four followers and its own WAL", () => {
    const disk = new MemDisk();
    const wal = openWal(disk);
    const entries = batch(1, 50);
    const before = entryEncodings.count;
    const frames = ["n2", "n3", "n4", "n5"].map((to) => encodeEnvelope({ kind: "raft", fromAddr: "127.0.0.1:12000", msg: append(to, entries, 0) }));
    wal.append(entries);
    wal.sync();
    expect(entryEncodings.count - before).toBe(50);
    for (const [i, to] of ["n2", "n3", "n4", "n5"].entries()) {
      const env = decodeEnvelope(frames[i]!);
      expect(env).toEqual({ kind: "raft", fromAddr: "127.0.0.1:12000", msg: append(to, entries, 0) });
    }
    wal.close();
    expect(Wal.open(disk, "/data/wal").entries).toEqual(entries);
  });

  test("a follower writes the items it received, encoding nothing", () => {
    const disk = new MemDisk();
    const wal = openWal(disk);
    // Sent by another process: entry objects the follower never saw.
    const frame = encodeEnvelope({ kind: "raft", fromAddr: "127.0.0.1:12000", msg: append("n2", batch(1, 30), 0) });
    const env = decodeEnvelope(frame);
    if (env.kind !== "raft" || env.msg.type !== "AppendEntries") throw new Error("not an AppendEntries");
    const before = entryEncodings.count;
    wal.append(env.msg.entries);
    wal.sync();
    expect(entryEncodings.count - before).toBe(0);
    wal.close();
    expect(Wal.open(disk, "/data/wal").entries).toEqual(batch(1, 30));
  });

  test("the log's write lets the bytes go: later messages encode the entries again, once", () => {
    const disk = new MemDisk();
    const wal = openWal(disk);
    const entries = batch(1, 10);
    encodeEnvelope({ kind: "raft", fromAddr: "a:1", msg: append("n2", entries, 0) });
    wal.append(entries);
    const before = entryEncodings.count;
    // Followers catching up later, both in one Ready: encoded for the first, reused by the second.
    encodeEnvelope({ kind: "raft", fromAddr: "a:1", msg: append("n2", entries.slice(3), 3) });
    encodeEnvelope({ kind: "raft", fromAddr: "a:1", msg: append("n3", entries, 0) });
    expect(entryEncodings.count - before).toBe(7 + 3);
    wal.close();
  });

  test("encodeEntries writes cbor-x's bytes for every head size", () => {
    const edges = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 40];
    for (const index of edges.filter((x) => x > 0)) {
      for (const term of edges) {
        for (const size of [0, 23, 24, 255, 256, 65535, 65536]) {
          const entries: Entry[] = [
            { index, term, kind: "normal", data: new Uint8Array(size).fill(7) },
            { index: index + 1, term, kind: "noop", data: new Uint8Array() },
          ];
          const { bytes, ends } = encodeEntries(entries);
          const whole = encodeCbor(entries.map(entryArray));
          expect(bytes).toEqual(whole.subarray(whole.length - bytes.length));
          expect(ends[1]).toBe(bytes.length);
        }
      }
    }
  });

  test("an AppendEntries envelope is byte for byte cbor-x's encoding of it", () => {
    const sizes = [0, 1, 2, 23, 24, 25, 255, 256, 300];
    for (const n of sizes) {
      for (const dataBytes of [(_: number) => 0, (i: number) => i, (_: number) => 23, (_: number) => 24, (_: number) => 256, (_: number) => 70_000]) {
        if (n > 25 && dataBytes(0) === 70_000) continue;
        for (const first of [1, 24, 2 ** 32 + 5, 2 ** 40]) {
          const entries = n === 0 ? [] : batch(first, n, 7, dataBytes);
          const m = { ...append("n2", entries, first - 1), term: 9, leaderCommit: first + 3, readRound: 2 ** 33 };
          for (const fromAddr of ["a:1", "x".repeat(30), "y".repeat(300)]) {
            const fresh = structuredClone(m); // no bytes kept for these entries yet
            expect(encodeEnvelope({ kind: "raft", fromAddr, msg: fresh })).toEqual(cborEnvelope(fromAddr, m));
          }
        }
      }
    }
  });
});
