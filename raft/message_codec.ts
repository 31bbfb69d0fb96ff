// The gateway between bytes and Raft messages: the compact CBOR encoding of each message of
// raft/core/messages.ts, and a check of every decoded field (the core trusts what passes).

import { decodeCbor, decodeCborViews, encodeCbor, entryArray, entryFrom, metaArray, snapshotMetaFrom } from "./codec.ts";
import { skipItem, skipItemHeader } from "./cbor_items.ts";
import { arr, bool, bytes, fail, indexOf, nat, natOrMinusOne, nodeIdOf, str, termOf } from "./codec_shapes.ts";
import { keepEntryItems } from "./entry_bytes.ts";
import type {
  AppendEntries,
  AppendEntriesReply,
  Entry,
  InstallSnapshot,
  InstallSnapshotReply,
  Message,
  NodeId,
  ReadIndexReply,
  ReadIndexRequest,
  RequestVote,
  RequestVoteReply,
  Term,
  TimeoutNow,
} from "./core/mod.ts";
import { unreachable } from "../unreachable.ts";

/** Most read contexts in one ReadIndex message. */
export const readCtxsCountMax = 65536;

// A message is an array, [type, from, to, term, ...fields]: each value's position is its
// name. Changing any code or position below changes the wire format.
const typeCodes: Record<Message["type"], number> = {
  RequestVote: 1,
  RequestVoteReply: 2,
  AppendEntries: 3,
  AppendEntriesReply: 4,
  InstallSnapshot: 5,
  InstallSnapshotReply: 6,
  TimeoutNow: 7,
  ReadIndex: 8,
  ReadIndexReply: 9,
};

/** The wire code of a message type (the first item of its array). */
export function typeCodeOf(type: Message["type"]): number {
  return typeCodes[type];
}

/** Encodes one message as [type, from, to, term, ...fields]. */
export function encodeMessage(msg: Message): Uint8Array {
  return encodeCbor([typeCodes[msg.type], msg.from, msg.to, msg.term, ...messageFields(msg)]);
}

function messageFields(msg: Message): unknown[] {
  switch (msg.type) {
    case "RequestVote":
      return [msg.preVote, msg.lastLogIndex, msg.lastLogTerm, msg.transfer];
    case "RequestVoteReply":
      return [msg.preVote, msg.voteGranted];
    case "AppendEntries":
      return [msg.prevLogIndex, msg.prevLogTerm, msg.entries.map(entryArray), msg.leaderCommit, msg.readRound];
    case "AppendEntriesReply":
      return [msg.success, msg.matchIndex, msg.conflictIndex, msg.conflictTerm, msg.readRound];
    case "InstallSnapshot":
      return [metaArray(msg.meta), msg.offset, msg.data, msg.done];
    case "InstallSnapshotReply":
      return [msg.lastIncludedIndex, msg.nextOffset, msg.done];
    case "TimeoutNow":
      return [];
    case "ReadIndex":
      return [msg.ctxs];
    case "ReadIndexReply":
      return [msg.ctxs, msg.readIndex];
    default:
      return unreachable(msg);
  }
}

/**
 * Decodes one message and checks every field against raft/core/messages.ts. Entries in an
 * AppendEntries must be contiguous after prevLogIndex, with terms that never decrease and
 * never exceed the message's term (Log Matching, §5.3), so the core can trust the slice.
 * `asViews`: byte strings (a snapshot chunk's data, entries' data) are views of `b`, not
 * copies; only for bytes no one reuses or changes (decodeCborViews).
 */
export function decodeMessage(b: Uint8Array, asViews = false): Message {
  const a = arr(asViews ? decodeCborViews(b, "message") : decodeCbor(b, "message"), "message");
  if (a.length < 4) fail("message", "too short");
  const code = a[0];
  const type = typeof code === "number" ? messageTypeByCode[code] : undefined;
  if (type === undefined) fail("message", `unknown type code ${String(code)}`);
  const w = `${type}`;
  const from = nodeIdOf(a[1], `${w}.from`);
  const to = nodeIdOf(a[2], `${w}.to`);
  const term = termOf(a[3], `${w}.term`);
  const msg = decodeFields(type, { from, to, term }, a, w);
  if (msg.type === "AppendEntries") holdReceivedItems(b, msg.entries);
  return msg;
}

/**
 * Keeps each received entry's item, cut out of the message bytes, as its encoding
 * (raft/entry_bytes.ts): a follower's WAL writes the bytes the leader sent, which decoded to
 * exactly these entries, instead of encoding them again. A form skipItem does not read keeps
 * nothing: the log then encodes those entries itself.
 */
function holdReceivedItems(b: Uint8Array, entries: readonly Entry[]): void {
  if (entries.length === 0) return;
  try {
    let at = skipItemHeader(b, 0);
    for (let k = 0; k < 6; k++) at = skipItem(b, at); // type, from, to, term, prevLogIndex, prevLogTerm
    if (b[at]! >> 5 !== 4) return;
    at = skipItemHeader(b, at);
    const items = new Array<Uint8Array>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const end = skipItem(b, at);
      items[i] = b.subarray(at, end);
      at = end;
    }
    keepEntryItems(entries, items);
  } catch {
    // Not a form we cut (an indefinite length): encoded again by the log, as before.
  }
}

const messageTypeByCode: Record<number, Message["type"] | undefined> = Object.fromEntries(
  Object.entries(typeCodes).map(([k, v]) => [v, k as Message["type"]]),
);

interface Head {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

function want(a: unknown[], n: number, w: string): void {
  if (a.length !== 4 + n) fail(w, `expected ${4 + n} items, got ${a.length}`);
}

function decodeFields(type: Message["type"], h: Head, a: unknown[], w: string): Message {
  switch (type) {
    case "RequestVote": {
      want(a, 4, w);
      const m: RequestVote = { type, ...h, preVote: bool(a[4], `${w}.preVote`), lastLogIndex: indexOf(a[5], `${w}.lastLogIndex`), lastLogTerm: termOf(a[6], `${w}.lastLogTerm`), transfer: bool(a[7], `${w}.transfer`) };
      return m;
    }
    case "RequestVoteReply": {
      want(a, 2, w);
      const m: RequestVoteReply = { type, ...h, preVote: bool(a[4], `${w}.preVote`), voteGranted: bool(a[5], `${w}.voteGranted`) };
      return m;
    }
    case "AppendEntries":
      want(a, 5, w);
      return appendEntries(h, a, w);
    case "AppendEntriesReply": {
      want(a, 5, w);
      const m: AppendEntriesReply = { type, ...h, success: bool(a[4], `${w}.success`), matchIndex: indexOf(a[5], `${w}.matchIndex`), conflictIndex: indexOf(a[6], `${w}.conflictIndex`), conflictTerm: termOf(a[7], `${w}.conflictTerm`), readRound: nat(a[8], `${w}.readRound`) };
      return m;
    }
    case "InstallSnapshot": {
      want(a, 4, w);
      const m: InstallSnapshot = { type, ...h, meta: snapshotMetaFrom(a[4], `${w}.meta`), offset: nat(a[5], `${w}.offset`), data: bytes(a[6], `${w}.data`), done: bool(a[7], `${w}.done`) };
      return m;
    }
    case "InstallSnapshotReply": {
      want(a, 3, w);
      const m: InstallSnapshotReply = { type, ...h, lastIncludedIndex: indexOf(a[4], `${w}.lastIncludedIndex`), nextOffset: natOrMinusOne(a[5], `${w}.nextOffset`), done: bool(a[6], `${w}.done`) };
      return m;
    }
    case "TimeoutNow": {
      want(a, 0, w);
      const m: TimeoutNow = { type, ...h };
      return m;
    }
    case "ReadIndex": {
      want(a, 1, w);
      const m: ReadIndexRequest = { type, ...h, ctxs: ctxs(a[4], `${w}.ctxs`) };
      return m;
    }
    case "ReadIndexReply": {
      want(a, 2, w);
      const m: ReadIndexReply = { type, ...h, ctxs: ctxs(a[4], `${w}.ctxs`), readIndex: natOrMinusOne(a[5], `${w}.readIndex`) };
      return m;
    }
    default:
      return unreachable(type as never);
  }
}

function ctxs(v: unknown, what: string): string[] {
  const list = arr(v, what);
  if (list.length > readCtxsCountMax) fail(what, `more than ${readCtxsCountMax} contexts`);
  return list.map((c, i) => str(c, `${what}[${i}]`, true));
}

function appendEntries(h: Head, a: unknown[], w: string): AppendEntries {
  const prevLogIndex = indexOf(a[4], `${w}.prevLogIndex`);
  const prevLogTerm = termOf(a[5], `${w}.prevLogTerm`);
  const list = arr(a[6], `${w}.entries`);
  const entries: Entry[] = new Array<Entry>(list.length);
  let lastTerm = prevLogTerm;
  for (let i = 0; i < list.length; i++) {
    const e = entryFrom(list[i], `${w}.entries[${i}]`);
    if (e.index !== prevLogIndex + 1 + i) fail(`${w}.entries[${i}]`, `index ${e.index} is not contiguous`);
    if (e.term < lastTerm || e.term > h.term) fail(`${w}.entries[${i}]`, `term ${e.term} out of order`);
    lastTerm = e.term;
    entries[i] = e;
  }
  return {
    type: "AppendEntries",
    ...h,
    prevLogIndex,
    prevLogTerm,
    entries,
    leaderCommit: indexOf(a[7], `${w}.leaderCommit`),
    readRound: nat(a[8], `${w}.readRound`),
  };
}
