// Goal: the direct readers of AppendEntries frames and their replies (raft/append_envelope.ts)
// give what the general path (cbor-x, then decodeMessage's checks) gives, and never accept
// what that path refuses; they read the frames written here without cbor-x, keep an append's
// items for the WAL, and what is written is cbor-x's bytes. Method: frames from encodeEnvelope, then seeded mutations of them; for every frame the
// direct reader takes, the general path must take it too and give an equal message.

import { describe, expect, test } from "bun:test";
import { appendFrameWrites, asciiStringsBuilt, decodeAppendEnvelope, decodeAppendReplyEnvelope } from "../../../raft/append_envelope.ts";
import { decodeCbor, encodeCbor, entryEncodings } from "../../../raft/codec.ts";
import type { AppendEntries, AppendEntriesReply } from "../../../raft/core/messages.ts";
import type { Entry } from "../../../raft/core/types.ts";
import { decodeEnvelope, encodeEnvelope } from "../../../raft/envelope.ts";
import { MemDisk } from "../../../raft/mem_disk.ts";
import { decodeMessage, encodeMessage } from "../../../raft/message_codec.ts";
import { Wal } from "../../../raft/wal.ts";
import { storageRng } from "../../support/storage_rng.ts";

function entries(first: number, n: number, term: number, bytes = (i: number) => i % 30): Entry[] {
  return Array.from({ length: n }, (_, i): Entry => ({
    index: first + i,
    term,
    kind: i % 7 === 3 ? "noop" : "normal",
    data: new Uint8Array(bytes(i)).fill((first + i) % 256),
  }));
}

function append(es: Entry[], prevLogIndex: number, term = 5): AppendEntries {
  return { type: "AppendEntries", from: "n1", to: "node-2", term, prevLogIndex, prevLogTerm: term, entries: es, leaderCommit: prevLogIndex, readRound: 11 };
}

const frames: Uint8Array[] = [
  encodeEnvelope({ kind: "raft", fromAddr: "127.0.0.1:12000", msg: append([], 0, 1) }),
  encodeEnvelope({ kind: "raft", fromAddr: "127.0.0.1:12000", msg: append(entries(1, 3, 5), 0) }),
  encodeEnvelope({ kind: "raft", fromAddr: "h:1", msg: append(entries(300, 40, 5, (i) => i * 7), 299) }),
  encodeEnvelope({ kind: "raft", fromAddr: "h:1", msg: append(entries(70_000, 2, 300, () => 300), 69_999, 300) }),
];

function reply(success: boolean, x: number): AppendEntriesReply {
  return { type: "AppendEntriesReply", from: "node-2", to: "n1", term: x, success, matchIndex: x + 1, conflictIndex: x === 0 ? 0 : x - 1, conflictTerm: x, readRound: x * 3 };
}

const replies: Uint8Array[] = [0, 23, 24, 255, 256, 65535, 65536, 2 ** 30].flatMap((x) => [
  encodeEnvelope({ kind: "raft", fromAddr: "127.0.0.1:12001", msg: reply(true, x) }),
  encodeEnvelope({ kind: "raft", fromAddr: "h:2", msg: reply(false, x) }),
]);

/** The general path's reading of a raft frame: cbor-x, then decodeMessage's checks; or the error. */
function general(bytes: Uint8Array): { fromAddr: unknown; msg: unknown } | "refused" {
  try {
    const v = decodeCbor(bytes) as unknown[];
    return { fromAddr: v[1], msg: decodeMessage(v[2] as Uint8Array) };
  } catch {
    return "refused";
  }
}

describe("AppendEntries frames read directly", () => {
  test("a leader's frames are read without cbor-x, equal to the general reading", () => {
    for (const frame of frames) {
      const direct = decodeAppendEnvelope(frame, 0, 1024);
      expect(direct).not.toBeNull();
      expect(direct).toEqual(general(frame) as { fromAddr: string; msg: AppendEntries });
      expect(decodeEnvelope(frame)).toEqual({ kind: "raft", ...direct! });
    }
  });

  test("entry data read directly are plain copies: they neither alias the frame nor keep a Buffer's type", () => {
    const input = Buffer.from(frames[1]!);
    const env = decodeEnvelope(input);
    if (env.kind !== "raft" || env.msg.type !== "AppendEntries") throw new Error("not an AppendEntries");
    const before = env.msg.entries.map((e) => e.data.slice());
    input.fill(0xee);
    for (const [i, e] of env.msg.entries.entries()) {
      expect(e.data.constructor).toBe(Uint8Array);
      expect(e.data).toEqual(before[i]!);
    }
  });

  test("replies are written as cbor-x writes them and read as the general path reads them", () => {
    for (const x of [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 40]) {
      for (const [fromAddr, m] of [["127.0.0.1:12001", reply(true, x)], ["ü:1", reply(false, x)], ["h:2", { ...reply(true, x), from: "nöde" }]] as const) {
        const frame = encodeEnvelope({ kind: "raft", fromAddr, msg: m });
        expect(frame).toEqual(encodeCbor([0, fromAddr, encodeMessage(m)]));
        expect(decodeEnvelope(frame)).toEqual({ kind: "raft", fromAddr, msg: m });
        const direct = decodeAppendReplyEnvelope(frame, 0, 1024);
        if (direct !== null) expect(direct).toEqual(general(frame) as { fromAddr: string; msg: AppendEntriesReply });
      }
    }
    for (const frame of replies) expect(decodeAppendReplyEnvelope(frame, 0, 1024)).not.toBeNull();
  });

  test("a leader's appends to four followers are written without cbor-x, as cbor-x writes them", () => {
    // Issue 18 (5 nodes): one AppendEntries per follower per batch; cbor-x only where the direct writer cannot.
    for (const x of [0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1]) {
      const es = entries(x + 1, 1 + (x % 5), 5);
      const before = { ...appendFrameWrites };
      for (const to of ["n2", "n3", "node-4", "a-follower-with-an-id-of-40-characters"]) {
        const m: AppendEntries = { ...append(es, x), to, term: 5 + (x % 1000), leaderCommit: x, readRound: x };
        const frame = encodeEnvelope({ kind: "raft", fromAddr: "127.0.0.1:12000", msg: m });
        expect(frame).toEqual(encodeCbor([0, "127.0.0.1:12000", encodeMessage(m)]));
        expect(decodeEnvelope(frame)).toEqual({ kind: "raft", fromAddr: "127.0.0.1:12000", msg: m });
      }
      expect(appendFrameWrites.direct - before.direct).toBe(4);
      expect(appendFrameWrites.general - before.general).toBe(0);
    }
    // Beyond the direct writer (a non-ASCII id, a number from 2^32): cbor-x, the same bytes.
    // Entries of over a MB beside such a scalar once slipped past that check (entry_bytes.test.ts).
    const big = entries(7, 20, 5, () => 70_000);
    for (const m of [{ ...append(entries(7, 2, 5), 6), to: "nöde" }, { ...append(entries(7, 2, 5), 6), leaderCommit: 2 ** 32 },
      { ...append(big, 6), readRound: 2 ** 33 }, { ...append(big, 6), from: "ü" }]) {
      const before = appendFrameWrites.general;
      const frame = encodeEnvelope({ kind: "raft", fromAddr: "h:1", msg: m });
      expect(frame).toEqual(encodeCbor([0, "h:1", encodeMessage(m)]));
      expect(appendFrameWrites.general - before).toBe(1);
    }
  });

  test("a leader reading its four followers' acks builds each address and id once, not per ack", () => {
    // Issue 18 (5 nodes): twelve strings per batch, always the same few.
    const peers = ["n2", "n3", "node-4", "a-follower-with-an-id-of-40-characters"];
    const acks = peers.map((id, i) =>
      encodeEnvelope({ kind: "raft", fromAddr: `127.0.0.1:1200${i + 1}`, msg: { ...reply(true, 300 + i), from: id, to: "n1" } }));
    const before = asciiStringsBuilt.count;
    for (let batch = 0; batch < 100; batch++) {
      for (const [i, frame] of acks.entries()) {
        const got = decodeAppendReplyEnvelope(frame, 0, 1024);
        expect(got).toEqual({ fromAddr: `127.0.0.1:1200${i + 1}`, msg: { ...reply(true, 300 + i), from: peers[i]!, to: "n1" } });
      }
    }
    expect(asciiStringsBuilt.count - before).toBeLessThanOrEqual(9);
    // A string of the same length and hash slot as a recent one is still read as itself.
    for (const id of ["n4", "n5", "m2", "2n"]) {
      const frame = encodeEnvelope({ kind: "raft", fromAddr: "127.0.0.1:12001", msg: { ...reply(true, 1), from: id } });
      expect(decodeAppendReplyEnvelope(frame, 0, 1024)?.msg.from).toBe(id);
    }
  });

  test("a follower reads short entries with one view each (the item its WAL writes), not two", () => {
    // Issue 18 (5 nodes): every follower reads every entry; a view of the frame only to copy
    // 40 bytes out of it cost more than the copy.
    const frame = encodeEnvelope({ kind: "raft", fromAddr: "h:1", msg: append(entries(300, 16, 5, (i) => 40 + i), 299) });
    const subarray = Uint8Array.prototype.subarray;
    let views = 0;
    Uint8Array.prototype.subarray = function (this: Uint8Array, start?: number, end?: number) {
      views++;
      return subarray.call(this, start, end);
    };
    let got: ReturnType<typeof decodeAppendEnvelope>;
    try {
      got = decodeAppendEnvelope(frame, 0, 1024);
    } finally {
      Uint8Array.prototype.subarray = subarray;
    }
    expect(got!.msg.entries.map((e) => e.data)).toEqual(entries(300, 16, 5, (i) => 40 + i).map((e) => e.data));
    expect(views).toBe(16);
  });

  test("a number in eight bytes, which cbor-x reads as a BigInt and the general path refuses, is not read directly", () => {
    const append = encodeCbor([0, "h:1", encodeCbor([3, "n1", "n2", 5, 0, 5, [], 0, 11n])]);
    const ack = encodeCbor([0, "h:1", encodeCbor([4, "n2", "n1", 5, true, 3, 0, 0, 11n])]);
    expect(append[append.length - 9]).toBe(0x1b);
    expect(decodeAppendEnvelope(append, 0, 1024)).toBeNull();
    expect(decodeAppendReplyEnvelope(ack, 0, 1024)).toBeNull();
    expect(() => decodeEnvelope(append)).toThrow();
    expect(() => decodeEnvelope(ack)).toThrow();
  });

  test("the items read are what the follower's WAL writes: nothing is encoded", () => {
    const disk = new MemDisk();
    const { wal } = Wal.open(disk, "/wal");
    const env = decodeEnvelope(frames[1]!);
    if (env.kind !== "raft" || env.msg.type !== "AppendEntries") throw new Error("not an AppendEntries");
    const before = entryEncodings.count;
    wal.append(env.msg.entries);
    wal.sync();
    expect(entryEncodings.count - before).toBe(0);
    wal.close();
    expect(Wal.open(disk, "/wal").entries).toEqual(entries(1, 3, 5));
  });

  test("mutated frames: whatever is read directly, the general path reads the same", () => {
    const rng = storageRng(18);
    let direct = 0;
    let refused = 0;
    for (let round = 0; round < 6_000; round++) {
      const pool = rng.int(2) === 0 ? frames : replies;
      const frame = pool[rng.int(pool.length)]!.slice();
      let bytes: Uint8Array = frame;
      const edits = 1 + rng.int(3);
      for (let k = 0; k < edits; k++) {
        const at = rng.int(bytes.length);
        const how = rng.int(4);
        if (how === 0) bytes[at] = rng.int(256);
        else if (how === 1) bytes[at] = bytes[at]! ^ (1 << rng.int(8));
        else if (how === 2) bytes = bytes.subarray(0, at);
        else bytes = new Uint8Array([...bytes.subarray(0, at), rng.int(256), ...bytes.subarray(at)]);
      }
      const got = pool === frames ? decodeAppendEnvelope(bytes, 0, 1024) : decodeAppendReplyEnvelope(bytes, 0, 1024);
      const want = general(bytes);
      if (got === null) {
        if (want === "refused") refused++;
        continue;
      }
      direct++;
      expect(want).not.toBe("refused");
      expect(got as unknown).toEqual(want);
    }
    // The mutations reach both sides: frames still read directly, and frames refused.
    expect(direct).toBeGreaterThan(300);
    expect(refused).toBeGreaterThan(300);
  });
});
