// Goal: the codec round-trips every message and entry shape, and rejects malformed bytes with
// a CodecError only. Method: one sample per message type, then seeded random mutations.

import { describe, expect, test } from "bun:test";
import { CodecError, decodeEntry, encodeCbor, encodeEntries, decodeHardState, decodeSnapshotMeta, encodeEntry, encodeHardState, encodeSnapshotMeta } from "../../../raft/codec.ts";
import { decodeMessage, encodeMessage } from "../../../raft/message_codec.ts";
import type { Message } from "../../../raft/core/messages.ts";
import type { Entry, Membership } from "../../../raft/core/types.ts";
import { storageRng } from "../../support/storage_rng.ts";

const membership: Membership = {
  members: [
    { id: "a", addr: "localhost:12000", suffrage: "voter" },
    { id: "b", addr: "localhost:12001", suffrage: "learner" },
  ],
};
const entries: Entry[] = [
  { index: 5, term: 2, kind: "normal", data: new Uint8Array([1, 2, 3]) },
  { index: 6, term: 3, kind: "noop", data: new Uint8Array() },
  { index: 7, term: 3, kind: "config", data: new Uint8Array(), membership },
];
const env = { from: "a", to: "b", term: 3 };
const samples: Message[] = [
  { type: "RequestVote", ...env, preVote: true, lastLogIndex: 9, lastLogTerm: 2, transfer: false },
  { type: "RequestVoteReply", ...env, preVote: false, voteGranted: true },
  { type: "AppendEntries", ...env, prevLogIndex: 4, prevLogTerm: 1, entries, leaderCommit: 4, readRound: 7 },
  { type: "AppendEntries", ...env, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, readRound: 0 },
  { type: "AppendEntriesReply", ...env, success: false, matchIndex: 0, conflictIndex: 3, conflictTerm: 1, readRound: 0 },
  { type: "InstallSnapshot", ...env, meta: { lastIncludedIndex: 10, lastIncludedTerm: 2, membership }, offset: 4096, data: new Uint8Array([9, 9]), done: true },
  { type: "InstallSnapshotReply", ...env, lastIncludedIndex: 10, nextOffset: -1, done: false },
  { type: "TimeoutNow", ...env },
  { type: "ReadIndex", ...env, ctxs: ["x", ""] },
  { type: "ReadIndexReply", ...env, ctxs: ["x"], readIndex: -1 },
];

describe("codec", () => {
  test("every message type round-trips", () => {
    for (const m of samples) expect(decodeMessage(encodeMessage(m))).toEqual(m);
  });

  test("entries, hard state and snapshot meta round-trip", () => {
    for (const e of entries) expect(decodeEntry(encodeEntry(e))).toEqual(e);
    const hs = [{ currentTerm: 4, votedFor: "b" }, { currentTerm: 0, votedFor: null }];
    for (const h of hs) expect(decodeHardState(encodeHardState(h))).toEqual(h);
    const meta = { lastIncludedIndex: 3, lastIncludedTerm: 1, membership };
    expect(decodeSnapshotMeta(encodeSnapshotMeta(meta))).toEqual(meta);
  });

  test("decoded bytes do not alias the input buffer", () => {
    const b = encodeEntry(entries[0]!);
    const e = decodeEntry(b);
    b.fill(0);
    expect(Array.from(e.data)).toEqual([1, 2, 3]);
  });

  test("wrong shapes are CodecErrors with a field name", () => {
    const bad: [unknown, RegExp][] = [
      [[1, "a", "b", -1, false, 0, 0, false], /term/],
      [[1, "a", "b", 2 ** 53, false, 0, 0, false], /term/],
      [[1, "a", "b", 1.5, false, 0, 0, false], /term/],
      [[1, "", "b", 1, false, 0, 0, false], /from/],
      [[1, "a", "b", 1, "no", 0, 0, false], /preVote/],
      [[99, "a", "b", 1], /unknown type/],
      [[3, "a", "b", 3, 4, 1, [[6, 2, 0, new Uint8Array()]], 0, 0], /not contiguous/],
      [[3, "a", "b", 3, 4, 1, [[5, 4, 0, new Uint8Array()]], 0, 0], /out of order/],
      [[3, "a", "b", 3, 4, 1, [[5, 2, 2, new Uint8Array()]], 0, 0], /membership/],
      [[3, "a", "b", 3, 4, 1, [[5, 2, 0, "text"]], 0, 0], /data/],
      [[5, "a", "b", 3, [1, 1, [["a", "x", 0], ["a", "y", 0]]], 0, new Uint8Array(), true], /duplicate/],
      [{ type: "TimeoutNow" }, /array/],
    ];
    for (const [value, why] of bad) {
      expect(() => decodeMessage(encodeCbor(value))).toThrow(CodecError);
      expect(() => decodeMessage(encodeCbor(value))).toThrow(why);
    }
    expect(() => decodeMessage(new Uint8Array([0x82, 1]))).toThrow(CodecError);
    expect(() => decodeMessage(new Uint8Array())).toThrow(CodecError);
  });

  test("10,000 mutated messages decode or throw CodecError, nothing else", () => {
    const rng = storageRng(42);
    const encoded = samples.map(encodeMessage);
    let rejected = 0;
    for (let i = 0; i < 10_000; i++) {
      const src = encoded[rng.int(encoded.length)]!;
      const b = mutate(src, rng);
      try {
        decodeMessage(b);
      } catch (err) {
        if (!(err instanceof CodecError)) throw new Error(`case ${i}: ${String(err)}`);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(1000);
  });
});

function mutate(src: Uint8Array, rng: { int(n: number): number }): Uint8Array {
  const b = new Uint8Array(src);
  switch (rng.int(4)) {
    case 0: // flip a few bytes
      for (let k = rng.int(3) + 1; k > 0; k--) b[rng.int(b.length)] = rng.int(256);
      return b;
    case 1: // truncate
      return b.subarray(0, rng.int(b.length));
    case 2: // append garbage
      return Uint8Array.from([...b, ...Array.from({ length: rng.int(8) + 1 }, () => rng.int(256))]);
    default: // pure garbage
      return Uint8Array.from({ length: rng.int(64) }, () => rng.int(256));
  }
}

describe("encodeEntries", () => {
  test("each slice is byte-identical to encodeEntry, for every kind and size", () => {
    const rng = storageRng(3);
    const list: Entry[] = [];
    for (let i = 1; i <= 300; i++) {
      const data = new Uint8Array(rng.int(3) === 0 ? rng.int(70000) : rng.int(40));
      const idx = i * (rng.int(2) === 0 ? 1 : 2 ** 20) + (i > 200 ? 2 ** 40 : 0);
      list.push(i % 7 === 0 ? { index: idx, term: i, kind: "config", data, membership } : { index: idx, term: i * 1000, kind: i % 5 === 0 ? "noop" : "normal", data });
    }
    const { bytes, ends } = encodeEntries(list);
    let start = 0;
    list.forEach((e, i) => {
      expect(bytes.subarray(start, ends[i])).toEqual(encodeEntry(e));
      start = ends[i]!;
    });
    expect(encodeEntries([]).ends).toEqual([]);
  });
});
