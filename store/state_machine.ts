// The replicated key-value state machine: deterministic apply of committed commands, and
// snapshot/restore of the whole map in CBOR (sync, or chunked so a big map does not stall).

import { Decoder, Encoder } from "../raft/cbor.ts";
import { Capture, type CaptureBase } from "./capture.ts";
import {
  type Command,
  commandBytesMax,
  type Condition,
  decodeCommand,
  type ExpireCommand,
  type OnceCommand,
  onceIdCharsMax,
  type WriteCommand,
  writeBytesDigest,
} from "./commands.ts";
import { CommandError, SnapshotError } from "./errors.ts";
import { ExpiryTable } from "./expiry.ts";
import { type ListPage, listPage, type ListQuery } from "./listing.ts";
import { OrderedKeys } from "./ordered_keys.ts";
import { ChangeFeed } from "./change_feed.ts";
import { PackedMap } from "./packed_map.ts";
import { onceHead, readOnceHead } from "./once_codec.ts";
import { pairSpans, plainSetBytesMax, plainSetSpan, plainSetSpans } from "./plain_set.ts";
import { conditionalSetHead, conditionHead, meetsConditionHead } from "./condition_codec.ts";
import { type Outcome, type SessionEntry, type SessionLimits, sessionLimitsDefault, SessionTable } from "./sessions.ts";
import { encodePackedSessionChunks, type PackedEntries } from "./session_chunk_codec.ts";
import { readChunkInto, writeChunk } from "./snapshot_chunk.ts";
import { realTimers } from "../raft/real_time.ts";
import { type SnapshotPieces, snapshotPieces } from "../raft/snapshot_bytes.ts";
import { unreachable } from "../unreachable.ts";

/**
 * What applying one entry did. Every replica computes the same result for the same bytes,
 * including the `error` result for bytes that are not a valid command (a deterministic no-op).
 */
export type ApplyResult =
  // `index`: the entry's, the version of what it wrote (a write's answer carries it).
  | { readonly type: "set"; readonly count: number; readonly index: number }
  | { readonly type: "delete"; readonly existed: boolean; readonly index: number }
  /**
   * A once command: the outcome its client is answered, and whether it is the stored outcome
   * of an earlier application of the same id (`replayed`, nothing written now). A different
   * request under an id still remembered is 422 (nothing written, nothing remembered).
   * `index`: the entry's (what a 200 not replayed wrote is at that version).
   */
  | { readonly type: "once"; readonly status: number; readonly body: string; readonly replayed: boolean; readonly index: number }
  /** A conditional write whose condition failed at apply: nothing written; `body` is the 412's. */
  | { readonly type: "precondition"; readonly body: string }
  /** An expiry (issue 16, TTL): `count` keys were due, still at the version named, and deleted. */
  | { readonly type: "expire"; readonly count: number }
  | { readonly type: "error"; readonly error: string };

/**
 * The whole state frozen at one applied index while writes go on (copy-on-write): a backup
 * reads it at its client's pace. `release` once done (a second call does nothing), else the
 * writes made meanwhile stay in the overlay.
 */
export interface CapturedState {
  /** Number of pairs in the frozen state. */
  readonly size: number;
  /** The frozen pairs, in the map's order. */
  entries(): Generator<[string, string], void, undefined>;
  /** The same with each key's version. */
  entriesVersioned(): Generator<[string, string, number], void, undefined>;
  /** The once-only table as of the same state (a copy: applies go on meanwhile). */
  readonly sessions: { readonly logClock: number; readonly entries: readonly SessionEntry[] };
  /** Keys with a deadline (log-time ms) as of the same state (a copy; issue 16, TTL). */
  readonly deadlines: readonly (readonly [string, number])[];
  release(): void;
}

/** Yields to the event loop between snapshot chunks; tests pass one that resolves at once. */
export type Pause = () => Promise<void>;

/**
 * Snapshot layout, format 1: one CBOR array `[1, pairCount, chunk, chunk, …]`, each chunk a
 * byte string holding a CBOR array `[k1, v1, k2, v2, …]` of at most snapshotChunkPairs pairs
 * (fewer when their keys and values pass snapshotChunkChars; a reader takes any chunking).
 * Chunks let a large map be encoded and decoded piecewise, yielding in between.
 *
 * Format 2 adds the once-only table (store/sessions.ts) as the third element:
 * `[2, pairCount, [logClock, sessionChunk, …], chunk, …]`, each session chunk a byte string
 * holding `[id, digest, stamp, status, body, …]`, oldest entry first. A state whose log clock
 * never moved (no Idempotency-Key ever used) is still written as format 1, byte for byte as
 * before, so a build that predates format 2 reads it; format 1 is read as an empty table.
 */
export const snapshotFormat = 1;
/** The format with the once-only table. */
export const snapshotFormatSessions = 2;
/**
 * Format 3 adds each key's version (the log index of its last write, issue 16): the table is
 * always there (`[logClock]` alone when empty) and pair chunks hold `[k1, v1, ver1, …]`. Written
 * once any key has a version (every write applied with its index); until then formats 1 and 2
 * as before. Keys restored from formats 1 and 2 have version 0 ("unknown").
 */
export const snapshotFormatVersions = 3;
/**
 * Format 4 adds the deadlines of expiring keys (issue 16, TTL) as a fourth element after the
 * once-only table: `[4, pairCount, [logClock, sessionChunk, …], [deadlineChunk, …], chunk, …]`,
 * each deadline chunk a byte string holding `[k1, deadline1, …]` (log-time ms), every key one
 * of the snapshot's. Written only while some key has a deadline; otherwise formats 1 to 3 as
 * before, so a cluster that never used a TTL stays readable by older builds.
 */
export const snapshotFormatDeadlines = 4;
/**
 * Pairs per snapshot chunk: about 0.1 ms of encoding each on a quiet machine. 16,384 took 2-4
 * ms and under write load every such pause showed up in the p99 latency; 4,096 (~0.4 ms quiet)
 * still held the leader's loop for 3-8 ms per chunk under write load with three nodes and the
 * client sharing two cores (bench/stall_trace.ts: 24 stalls over 2 ms, 119 ms in all, in 6 s
 * at 64 connections). The total work is the same; only the turns are shorter.
 */
export const snapshotChunkPairs = 1024;
/**
 * Characters of keys and values past which a chunk ends early (after at least one pair): with
 * 64 KiB values, 1,024 pairs made 64 MiB chunks whose encoding held the loop for seconds.
 */
export const snapshotChunkChars = 256 * 1024;
/**
 * Overlay entries snapshotAsync folds back between pauses once encoded: about a microsecond
 * each (Map iteration and a PackedMap write), so a slice holds the loop for ~2 ms.
 */
export const captureFoldSliceEntries = 2048;
/**
 * And at most about this much work in the map folded into (PackedMap.work: elements copied,
 * allocated or visited by its growth, rehash and compaction), whichever comes first. At ten
 * million keys the map's incremental rehash moves 64 old index slots with every write, each
 * a random access at that size: slices of 2,048 writes then took 20-60 ms (traced, issue 18).
 * 8,192 such slots are a few milliseconds; with no rehash under way a slice does far less.
 */
export const captureFoldSliceWork = 8192;
/** Bytes snapshotAsync copies into its result between pauses: a few hundred µs of copying. */
export const snapshotJoinBytes = 2 ** 19;

/** Plain sets applied from their bytes by KvStateMachine.apply (a work counter for tests). */
export const plainSetsAppliedFromBytes = { count: 0 };
/** Once commands of a plain set applied from their bytes by KvStateMachine.apply (the same). */
export const onceSetsAppliedFromBytes = { count: 0 };
/** Conditional sets whose condition held, applied from their bytes by KvStateMachine.apply (the same). */
export const conditionalSetsAppliedFromBytes = { count: 0 };

const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false });

function pauseDefault(): Promise<void> {
  return new Promise((resolve) => realTimers.setTimeout(resolve, 0));
}

/**
 * The key-value map that Raft replicates (hraftd's fsm). `apply` must be called with committed
 * entries in log order (§5.3); it never throws for bad data, so a malformed entry cannot crash
 * one replica and not another. Restore replaces everything (hashicorp/raft's FSM contract).
 */
export class KvStateMachine {
  /**
   * The live map, or, while #capture is set, the frozen base that snapshotAsync is encoding.
   * Invariant: every key is a non-empty string, every value a string. A PackedMap rather than
   * a Map: the collector's full collections would otherwise mark every pair (packed_map.ts).
   */
  #map = new PackedMap();
  /**
   * While a capture runs (snapshotAsync, a backup): the live view, the newest capture, which
   * takes every write. Invariant: the last of #captures, or null when there is none.
   */
  #capture: Capture | null = null;
  /** Captures in force, oldest first; each one's base is the one before, the first's #map. */
  #captures: Capture[] = [];
  /** Captures whose reader is done; each is folded once every newer one has been. */
  readonly #released = new Set<Capture>();
  /** The capture of the running snapshotAsync (one at a time); dropped by a restore too. */
  #snapshotCapture: Capture | null = null;
  /** True while restoreAsync is building a new map; apply then is a driver bug. */
  #isRestoring = false;
  /** Idempotency-Key outcomes (not captured: a snapshot copies its entries when it starts). */
  #sessions: SessionTable;
  /** Some key has a version (applied with its log index, or restored from format 3): snapshots are format 3. */
  #hasVersions = false;
  /**
   * Deadlines of expiring keys (store/expiry.ts), in the log time of #sessions' log clock. Not
   * captured: a snapshot encodes them when it starts, in the turn its capture begins.
   * Invariant: every key with a deadline is in the live view.
   */
  #expiry = new ExpiryTable();
  /** Told when a key gets a deadline: the leader's expiry loop wakes for it (store/expiry_loop.ts). */
  #onDeadline: ((deadline: number) => void) | null = null;
  /**
   * The live view's keys in key order, for listing (issue 16): changed only where a key is
   * created or deleted (#put, #remove), never on an overwrite. Not captured: a listing reads
   * the live view, which a capture's overlay serves as well. Null until the first listing
   * (#keyOrder builds it) and again after a restore: a node nobody lists from pays nothing
   * for it. Kept from the start it cost every key creation 2-4x (an insert into the index),
   * every start-up and install a sort of every key (about 4 s for ten million keys before
   * the node serves) and ~50 bytes a key of memory.
   */
  #keys: OrderedKeys | null = null;
  /**
   * Every change to a key while someone watches (issue 16 item 5; ./change_feed.ts): fed by
   * #put and #remove, so every kind of entry that changes a key is seen. One boolean per
   * change while nobody watches. The same object for the machine's life (a restore resets it).
   */
  readonly #changes = new ChangeFeed();
  /** The log index of the entry being applied (0 outside apply): the index of each change it makes. */
  #applying = 0;

  constructor(limits: SessionLimits = sessionLimitsDefault) {
    this.#sessions = new SessionTable(limits);
  }

  /** The change feed of this state machine's keys (watchers subscribe to it). */
  get changes(): ChangeFeed {
    return this.#changes;
  }

  /** The once-only table, for tests and checkers (read-only use). */
  get sessions(): SessionTable {
    return this.#sessions;
  }

  /** Number of keys held. */
  get size(): number {
    return this.#capture === null ? this.#map.size : this.#capture.size;
  }

  /** The value of `key`, or undefined if absent. */
  get(key: string): string | undefined {
    return this.#capture === null ? this.#map.get(key) : this.#capture.get(key);
  }

  /** All pairs, in insertion order (for tests and checkers). */
  entries(): IterableIterator<[string, string]> {
    return this.#capture === null ? this.#map.entries() : this.#capture.entries();
  }

  /** The version of the key getVersioned found last (0 when it found none). */
  versionFound = 0;

  /**
   * get(), leaving the key's version (versionOf's, 0 if unknown) in versionFound: the live
   * map finds both in one probe, the hot path of a versioned read (store/store.ts #versioned).
   */
  getVersioned(key: string): string | undefined {
    const capture = this.#capture;
    if (capture === null) {
      const value = this.#map.getVersioned(key);
      this.versionFound = this.#map.versionFound;
      return value;
    }
    const value = capture.get(key);
    this.versionFound = value === undefined ? 0 : (capture.versionOf(key) ?? 0);
    return value;
  }

  /** The version of `key`: the log index of its last write (0: unknown), or undefined if absent. */
  versionOf(key: string): number | undefined {
    return this.#capture === null ? this.#map.versionOf(key) : this.#capture.versionOf(key);
  }

  /** The deadline of `key` in log time (ms), or undefined if it does not expire. O(1) when none does. */
  deadlineOf(key: string): number | undefined {
    return this.#expiry.deadlineOf(key);
  }

  /** The log clock: the largest leader stamp applied (ms; store/sessions.ts). */
  get logClock(): number {
    return this.#sessions.logClock;
  }

  /** The deadlines, for the leader's expiry loop (which reads and pops reminders, never deadlines). */
  get expiry(): ExpiryTable {
    return this.#expiry;
  }

  /** Calls `listener` with each deadline applied (one per set with a TTL); null: nobody. */
  onDeadline(listener: ((deadline: number) => void) | null): void {
    this.#onDeadline = listener;
  }

  /**
   * Decodes and applies one committed entry's data; malformed bytes give an `error` result.
   * `index` is the entry's log index, the version of every key it writes (0: none given).
   */
  apply(data: Uint8Array, index = 0): ApplyResult {
    // The commonest entry, a plain set of ASCII keys and values, goes from its bytes into the
    // map with no string made, when nothing but the map is to follow its keys: no capture (its
    // overlay takes strings), no ordered keys, no watch, no deadline to clear. The same checks
    // as decodeCommand's, all made before the first write; the same map and result as
    // applyCommand's set (tests/unit/store/apply_bytes.test.ts).
    if (this.#capture === null && this.#keys === null && !this.#changes.isRecording && this.#expiry.size === 0 && !this.#isRestoring) {
      const count = plainSetSpans(data);
      if (count >= 0) {
        if (index > 0) this.#hasVersions = true;
        this.#applying = index;
        const map = this.#map;
        const span = plainSetSpan;
        for (let j = 0; j < 4 * count; j += 4) map.setAscii(data, span[j]!, span[j + 1]!, span[j + 2]!, span[j + 3]!, index);
        plainSetsAppliedFromBytes.count++;
        return { type: "set", count, index };
      }
      // The commonest keyed write, a once command of a plain set (issue 16: keyed writes
      // within 10% of plain ones), the same way: decoding it made its id, its write's copy,
      // its pairs' strings and two command objects on every replica.
      if (data.length > 1 && data[1] === 3) {
        const result = this.#applyOnceSet(data, index);
        if (result !== null) return result;
      }
      // A conditional set (If-Match, If-None-Match: *) whose condition holds, the same way.
      if (data.length > 2 && (data[1] === 4 || data[2] === 4)) {
        const result = this.#applyConditionalSet(data, index);
        if (result !== null) return result;
      }
    }
    return this.applyDecoded(data, index);
  }

  /**
   * A conditional set applied from its bytes when its condition holds for every key: what
   * applyDecoded gives it (decodeCommand's checks, preconditionFailure on the map, then its
   * pairs set in order), or null, having changed nothing, for any other entry and for a
   * condition that fails (the general path words the 412). Only where apply's byte path runs:
   * no deadline anywhere, so the map's versions are the live ones (#liveVersions).
   */
  #applyConditionalSet(data: Uint8Array, index: number): ApplyResult | null {
    if (data.length > plainSetBytesMax) return null;
    const count = conditionalSetHead(data);
    if (count < 0 || pairSpans(data, conditionHead.pairsAt, count) < 0) return null;
    const map = this.#map;
    const span = plainSetSpan;
    for (let j = 0; j < 4 * count; j += 4) {
      if (!meetsConditionHead(map.versionOfAscii(data, span[j]!, span[j + 1]!))) return null;
    }
    if (index > 0) this.#hasVersions = true;
    this.#applying = index;
    for (let j = 0; j < 4 * count; j += 4) map.setAscii(data, span[j]!, span[j + 1]!, span[j + 2]!, span[j + 3]!, index);
    conditionalSetsAppliedFromBytes.count++;
    return { type: "set", count, index };
  }

  /**
   * A once command whose write is a plain set, applied from its bytes: what applyDecoded
   * gives it (decodeCommand's checks: the envelope, the stamp, the id, the set; then
   * #applyOnce with the map as the target), or null, having changed nothing, for any entry
   * that is not exactly such a command (apply_bytes.test.ts holds the two paths together).
   */
  #applyOnceSet(data: Uint8Array, index: number): ApplyResult | null {
    if (data.length > commandBytesMax || !readOnceHead(data)) return null;
    const stamp = onceHead.stamp;
    const id = onceHead.id;
    const writeStart = onceHead.writeStart;
    if (!Number.isSafeInteger(stamp) || stamp < 0 || id.length === 0 || id.length > onceIdCharsMax) return null;
    const count = plainSetSpans(data, writeStart);
    if (count < 0) return null;
    // A copy to hash (see once_codec.ts on views); a plain set's digest is its bytes' (writeDigest).
    const digest = writeBytesDigest(data.slice(writeStart));
    if (index > 0) this.#hasVersions = true;
    this.#applying = index;
    const seen = this.#onceSeen(stamp, id, digest, index);
    if (seen !== null) return seen;
    // plainSetSpan is still this set's: nothing above reads another entry's bytes.
    const map = this.#map;
    const span = plainSetSpan;
    for (let j = 0; j < 4 * count; j += 4) map.setAscii(data, span[j]!, span[j + 1]!, span[j + 2]!, span[j + 3]!, index);
    onceSetsAppliedFromBytes.count++;
    return this.#onceDone(id, digest, writtenOutcome, index);
  }

  /**
   * apply's general path: the entry decoded into a command, then applyCommand; a malformed
   * entry is an error result, not a throw. Any entry may take it (apply_bytes.test.ts holds the
   * byte path to it).
   */
  applyDecoded(data: Uint8Array, index = 0): ApplyResult {
    let command: Command;
    try {
      command = decodeCommand(data);
    } catch (e) {
      if (e instanceof CommandError) return { type: "error", error: e.message };
      throw e;
    }
    return this.applyCommand(command, index);
  }

  /**
   * Applies an already validated command. A set of many keys happens at once: validation is
   * complete before the first write, and nothing between the writes can fail.
   */
  applyCommand(command: Command, index = 0): ApplyResult {
    if (this.#isRestoring) throw new Error("KvStateMachine: apply during restoreAsync");
    if (index > 0) this.#hasVersions = true;
    this.#applying = index;
    // The hot write path: without a capture, straight to the Map, nothing allocated.
    const target = this.#capture ?? this.#map;
    switch (command.type) {
      case "once":
        return this.#applyOnce(command, target, index);
      case "expire":
        return this.#applyExpire(command, target);
      case "set": {
        // A TTL's stamp moves the log clock first: its condition sees keys expired by then as absent.
        if (command.ttl !== undefined) this.#sessions.advance(command.ttl.stamp);
        if (command.condition !== undefined) {
          const failed = preconditionFailure(command, command.condition, this.#liveVersions(target));
          if (failed !== null) return { type: "precondition", body: failed };
        }
        const pairs = command.pairs;
        for (let i = 0; i < pairs.length; i++) {
          const pair = pairs[i]!;
          this.#put(target, pair[0], pair[1], index);
        }
        // Nothing more unless some key expires: a plain write then clears its keys' deadlines.
        if (command.ttl !== undefined || this.#expiry.size !== 0) this.#setDeadlines(command);
        return { type: "set", count: pairs.length, index };
      }
      case "delete": {
        if (command.condition !== undefined) {
          const failed = preconditionFailure(command, command.condition, this.#liveVersions(target));
          if (failed !== null) return { type: "precondition", body: failed };
        }
        this.#expiry.clear(command.key);
        return { type: "delete", existed: this.#remove(target, command.key), index };
      }
      default:
        return unreachable(command);
    }
  }

  /**
   * A once command (thesis §6.3): the stored outcome if its id is remembered with the same
   * digest, 422 if with another, else the write applied and its outcome remembered. Decided
   * from the log alone (its stamp moves the log clock), so every replica decides the same.
   */
  #applyOnce(command: OnceCommand, target: PackedMap | Capture, index: number): ApplyResult {
    const seen = this.#onceSeen(command.stamp, command.id, command.digest, index);
    if (seen !== null) return seen;
    return this.#onceDone(command.id, command.digest, this.#applyWrite(command.write, target, index), index);
  }

  /**
   * A once command's first step, whichever path applies its write: the clock moves to its
   * stamp; an id already in the table answers its replay (the same digest) or 422 (another),
   * and the write is not applied. Null: the id is new, apply the write, then #onceDone.
   */
  #onceSeen(stamp: number, id: string, digest: string, index: number): ApplyResult | null {
    const sessions = this.#sessions;
    sessions.advance(stamp);
    const seen = sessions.lookup(id);
    if (seen === undefined) return null;
    if (seen.digest === digest) return { type: "once", status: seen.outcome.status, body: seen.outcome.body, replayed: true, index };
    return { type: "once", status: 422, body: mismatchBody(id), replayed: false, index };
  }

  /** A new once command's last step: its outcome remembered under its id, and answered. */
  #onceDone(id: string, digest: string, outcome: Outcome, index: number): ApplyResult {
    this.#sessions.remember(id, digest, outcome);
    return { type: "once", status: outcome.status, body: outcome.body, replayed: false, index };
  }

  /** What a set or delete produces for its client: 200 with no body (as without a key). */
  #applyWrite(write: WriteCommand, target: PackedMap | Capture, index: number): Outcome {
    if (write.type === "set" && write.ttl !== undefined) this.#sessions.advance(write.ttl.stamp);
    if (write.condition !== undefined) {
      const failed = preconditionFailure(write, write.condition, this.#liveVersions(target));
      if (failed !== null) return { status: 412, body: failed };
    }
    switch (write.type) {
      case "set":
        for (const pair of write.pairs) this.#put(target, pair[0], pair[1], index);
        if (write.ttl !== undefined || this.#expiry.size !== 0) this.#setDeadlines(write);
        return writtenOutcome;
      case "delete":
        this.#expiry.clear(write.key);
        this.#remove(target, write.key);
        return writtenOutcome;
      default:
        return unreachable(write);
    }
  }

  /**
   * THE write point: every key the state machine sets goes through here, and every key it
   * deletes through #remove, whatever kind of entry or load asked for it, so what follows
   * the map (the ordered keys; the change feed) sees every change. A creation is told from an
   * overwrite by the size (no second lookup on the hot path).
   */
  #put(target: PackedMap | Capture, key: string, value: string, index: number): void {
    const keys = this.#keys;
    if (keys === null) target.set(key, value, index);
    else {
      const before = target.size;
      target.set(key, value, index);
      if (target.size !== before) keys.insert(key);
    }
    if (this.#changes.isRecording) this.#changes.record(index, key, value);
  }

  /** THE delete point (see #put); false if the key was absent. */
  #remove(target: PackedMap | Capture, key: string): boolean {
    if (!target.delete(key)) return false;
    this.#keys?.delete(key);
    if (this.#changes.isRecording) this.#changes.record(this.#applying, key, null);
    return true;
  }

  /**
   * A page of the live view's keys in key order with their values and versions (issue 16
   * item 3), in one synchronous step: the page is the state at the current applied index.
   */
  list(query: ListQuery, hidden?: (key: string) => boolean): Omit<ListPage, "applied"> {
    return listPage(this.#keyOrder(), this, query, hidden);
  }

  /** True once a listing has built the ordered keys (until the next restore); for tests. */
  get hasKeyOrder(): boolean {
    return this.#keys !== null;
  }

  /**
   * The ordered keys, built from the live view on first use: every key sorted natively and
   * packed (OrderedKeys.fromSorted), in one turn; a second or so per million keys on this
   * machine, paid once per process by the first listing rather than by every node always.
   */
  #keyOrder(): OrderedKeys {
    if (this.#keys === null) this.#keys = orderedKeysOf(this.#capture ?? this.#map);
    return this.#keys;
  }

  /**
   * An expiry (issue 16, TTL): each named key is deleted only if its deadline is at most the
   * log clock, moved first by the entry's stamp, and it is still at the version named; a write
   * since (a refresh, a write without a TTL, a delete) wins. The deletes go through the same
   * delete point as any other. Decided from the log alone, so every replica deletes the same.
   */
  #applyExpire(command: ExpireCommand, target: PackedMap | Capture): ApplyResult {
    this.#sessions.advance(command.stamp);
    const now = this.#sessions.logClock;
    let count = 0;
    for (const [key, version] of command.keys) {
      const deadline = this.#expiry.deadlineOf(key);
      if (deadline === undefined || deadline > now || target.versionOf(key) !== version) continue;
      this.#expiry.clear(key);
      this.#remove(target, key);
      count++;
    }
    this.#expiry.prune(now);
    return { type: "expire", count };
  }

  /**
   * After a set's keys are written: with a TTL each gets the deadline log clock + TTL (the
   * clock already moved by the TTL's stamp); without one, a key that had a deadline loses it
   * (a plain write makes a key permanent, as etcd's put without a lease does).
   */
  #setDeadlines(write: Extract<WriteCommand, { type: "set" }>): void {
    const ttl = write.ttl;
    if (ttl === undefined) {
      for (const pair of write.pairs) this.#expiry.clear(pair[0]);
      return;
    }
    const deadline = this.#sessions.logClock + ttl.ms;
    for (const pair of write.pairs) this.#expiry.set(pair[0], deadline);
    this.#onDeadline?.(deadline);
  }

  /**
   * The versions a condition sees: a key whose deadline the log clock has reached counts as
   * absent, though its expiry entry may not have applied yet.
   */
  #liveVersions(target: PackedMap | Capture): VersionSource {
    if (this.#expiry.size === 0) return target;
    const expiry = this.#expiry;
    const now = this.#sessions.logClock;
    return {
      versionOf: (key) => {
        const deadline = expiry.deadlineOf(key);
        return deadline !== undefined && deadline <= now ? undefined : target.versionOf(key);
      },
    };
  }

  /**
   * A backup's pairs with their versions (null: version 0), set directly, not through the log:
   * -restore builds a new cluster's first state this way (restore.ts).
   */
  loadPairs(pairs: ReadonlyArray<readonly [string, string]>, versions: readonly number[] | null): void {
    if (this.#isRestoring) throw new Error("KvStateMachine: loadPairs during restoreAsync");
    const target = this.#capture ?? this.#map;
    for (let i = 0; i < pairs.length; i++) {
      const version = versions?.[i] ?? 0;
      if (version > 0) this.#hasVersions = true;
      this.#put(target, pairs[i]![0], pairs[i]![1], version);
    }
  }

  /** A backup's once-only table (entries oldest first), replacing this one's (restore.ts). */
  loadSessions(logClock: number, entries: readonly SessionEntry[]): void {
    this.#sessions.load(logClock, entries);
  }

  /** A backup's deadlines (keys loaded already), replacing this one's (restore.ts). */
  loadDeadlines(deadlines: Iterable<readonly [string, number]>): void {
    this.#expiry.load(deadlines);
  }

  /** The whole map as snapshot bytes, synchronously (also correct while a capture runs). */
  snapshot(): Uint8Array {
    const count = this.size;
    const sessions = this.#sessionsPart();
    const format = this.#format(sessions);
    const pairs = new PairChunks(this.#capture ?? this.#map, format >= snapshotFormatVersions);
    const parts: unknown[] = sessions === null ? [format, count] : [format, count, [sessions.logClock, ...sessions.chunks]];
    if (sessions?.deadlines !== undefined) parts.push(sessions.deadlines);
    for (let done = 0; done < count;) {
      const chunk = pairs.next(count - done);
      parts.push(chunk.bytes);
      done += chunk.pairs;
    }
    return encoder.encode(parts);
  }

  /**
   * The map as of this call, encoded chunk by chunk with a pause before each chunk so the event
   * loop keeps running (DESIGN: a large snapshot must yield). Starting is O(1): the map becomes
   * the frozen base of a copy-on-write Capture, and applies made meanwhile go to its overlay,
   * so they are not included. The overlay is folded back once the last chunk is encoded; the
   * chunks are then joined into the result, pausing every snapshotJoinBytes. Same bytes as
   * snapshot() of the same state.
   *
   * One capture at a time: a second call while one runs rejects with an Error (the driver never
   * does that; sharing the first capture would give it an older state than its call's, and
   * waiting for it a newer one). A restore meanwhile ends the capture early: this call still
   * returns the bytes of the state at its start, and its overlay is dropped with the old map.
   */
  async snapshotAsync(pause: Pause = pauseDefault): Promise<Uint8Array> {
    return joinPieces((await this.snapshotPieces(pause)).pieces, pause);
  }

  /**
   * snapshotAsync's bytes as the pieces they are made of, in order (heads and chunks), never
   * joined: what the driver saves (issue 18: at ten million keys the joined copy was a
   * 289–336 MB buffer, a peak of memory and a pause when freed). Same rules as snapshotAsync.
   */
  async snapshotPieces(pause: Pause = pauseDefault): Promise<SnapshotPieces> {
    if (this.#snapshotCapture !== null) throw new Error("KvStateMachine: snapshotAsync already running");
    const capture = this.#beginCapture();
    this.#snapshotCapture = capture;
    // The deadlines of the same moment, frozen copy-on-write as the map is (issue 16, TTL):
    // their chunks are encoded after the pairs', a chunk per turn, into `deadlineChunks`.
    const deadlineView = this.#expiry.size === 0 ? null : this.#expiry.beginSnapshot();
    const deadlineChunks: Uint8Array[] = [];
    // The once-only table of the same moment (small next to the map: encoded at once).
    const sessions = this.#sessionsPart(deadlineView === null ? null : deadlineChunks);
    const format = this.#format(sessions);
    const count = capture.base.size;
    const chunks: Uint8Array[] = [];
    try {
      const pairs = new PairChunks(capture.base, format >= snapshotFormatVersions);
      for (let done = 0; done < count;) {
        await pause();
        const chunk = pairs.next(count - done);
        chunks.push(chunk.bytes);
        done += chunk.pairs;
      }
      const deadlines = deadlineView?.entries();
      for (let chunk = deadlines === undefined ? null : encodeDeadlineChunk(deadlines); chunk !== null; chunk = encodeDeadlineChunk(deadlines!)) {
        deadlineChunks.push(chunk);
        await pause();
      }
    } finally {
      deadlineView?.end();
      // Unless a restore replaced the map meanwhile, merge the overlay back, a slice at a time
      // (it also runs if encoding failed, so the machine never stays in capture mode).
      if (this.#snapshotCapture === capture) this.#snapshotCapture = null;
      await this.#foldAway(capture, pause);
    }
    return snapshotPieces(layoutSnapshot(count, chunks, sessions, format));
  }

  /**
   * The once-only table as the third element (formats 2 to 4), and the deadlines' chunks as the
   * fourth (format 4: encoded here at once unless given, as snapshotAsync fills them later), or
   * null when format 1 says it all.
   */
  #sessionsPart(deadlines: readonly Uint8Array[] | null = this.#expiry.size === 0 ? null : encodeDeadlineChunks(this.#expiry.entries())): SessionsPart | null {
    const table = this.#sessions;
    if (table.logClock === 0 && table.size === 0 && !this.#hasVersions && deadlines === null) return null;
    const chunks = table.chunks(encodeSessionChunks, encodePackedBlock);
    return deadlines === null ? { logClock: table.logClock, chunks } : { logClock: table.logClock, chunks, deadlines };
  }

  /** The format a snapshot of the current state is written in. */
  #format(sessions: SessionsPart | null): number {
    if (sessions?.deadlines !== undefined) return snapshotFormatDeadlines;
    if (this.#hasVersions) return snapshotFormatVersions;
    return sessions === null ? snapshotFormat : snapshotFormatSessions;
  }

  /**
   * The state as of this call, frozen for a backup (see CapturedState): O(1), and applies go
   * on into a copy-on-write overlay. Any number may run beside snapshotAsync.
   */
  capture(): CapturedState {
    const capture = this.#beginCapture();
    const base = capture.base;
    let isReleased = false;
    return {
      size: base.size,
      entries: () => base.entries(),
      entriesVersioned: () => base.entriesVersioned(),
      sessions: { logClock: this.#sessions.logClock, entries: this.#sessions.entries() },
      deadlines: [...this.#expiry.entries()],
      release: () => {
        if (isReleased) return;
        isReleased = true;
        this.#releaseCapture(capture);
      },
    };
  }

  /**
   * Folds the overlay of a finished snapshot capture into its base a slice at a time (at most
   * captureFoldSliceEntries writes or captureFoldSliceWork of the map's work) with a pause
   * between slices, while applies go on into the overlay; then releases it.
   * The overlay holds every key written while the capture was encoded: at ten million keys
   * under write load that was over a million keys, and one synchronous fold held the loop for
   * about a second (at two million keys, ~200k keys and 187 ms). Slicing stops, and the rest
   * is folded as before, once a newer capture has begun over this one (it reads this view as
   * frozen), a restore has dropped it, or a pause fails.
   */
  async #foldAway(capture: Capture, pause: Pause): Promise<void> {
    try {
      while (this.#capture === capture && this.#captures.includes(capture) && !capture.foldSome(captureFoldSliceEntries, captureFoldSliceWork)) await pause();
    } finally {
      this.#releaseCapture(capture);
    }
  }

  /** A new newest capture over the live view: the map, or the capture that took writes so far. */
  #beginCapture(): Capture {
    const base: CaptureBase = this.#capture ?? this.#map;
    const capture = new Capture(base);
    this.#captures.push(capture);
    this.#capture = capture;
    return capture;
  }

  /**
   * Marks `capture` done, then folds every done capture at the top of the stack into its base:
   * an older capture is still being read, so a capture above it can only fold into its overlay,
   * and a capture below a running one cannot fold at all until that one is done.
   */
  #releaseCapture(capture: Capture): void {
    // Gone if a restore replaced the map meanwhile: its overlay was dropped with the old map.
    if (!this.#captures.includes(capture)) return;
    this.#released.add(capture);
    for (let top = this.#capture; top !== null && this.#released.has(top); top = this.#capture) {
      this.#released.delete(top);
      this.#captures.pop();
      const base = top.fold();
      this.#capture = this.#captures[this.#captures.length - 1] ?? null;
      if (this.#capture === null) this.#map = base as PackedMap;
    }
  }

  /**
   * Replaces the whole map with the snapshot's. Throws SnapshotError, leaving the current map
   * untouched, if the bytes are not a complete, well-formed snapshot.
   */
  restore(bytes: Uint8Array): void {
    const { format, pairCount, chunks, sessions, deadlines } = decodeOuter(bytes);
    const table = decodeSessions(sessions, this.#sessions.limits);
    const map = new PackedMap();
    // No rehash while it fills; a pair takes at least 3 bytes, so a false header reserves no more.
    map.reserve(Math.min(pairCount, bytes.length / 3));
    for (let i = 0; i < chunks.length; i++) decodeChunk(chunks[i], i, map, format >= snapshotFormatVersions);
    const expiry = decodeDeadlines(deadlines, map);
    this.#install(map, pairCount, table, format >= snapshotFormatVersions);
    this.#expiry = expiry;
  }

  /**
   * restore(), decoding one chunk at a time with a pause in between. The current map stays in
   * place until the last chunk is decoded. The caller must not apply entries meanwhile (the
   * driver restores a snapshot before applying the entries after it); apply throws if it does.
   */
  async restoreAsync(bytes: Uint8Array, pause: Pause = pauseDefault): Promise<void> {
    if (this.#isRestoring) throw new Error("KvStateMachine: restoreAsync already running");
    this.#isRestoring = true;
    try {
      const { format, pairCount, chunks, sessions, deadlines } = decodeOuter(bytes);
      const table = decodeSessions(sessions, this.#sessions.limits);
      const map = new PackedMap();
      map.reserve(Math.min(pairCount, bytes.length / 3));
      for (let i = 0; i < chunks.length; i++) {
        decodeChunk(chunks[i], i, map, format >= snapshotFormatVersions);
        await pause();
      }
      const expiry = decodeDeadlines(deadlines, map);
      this.#install(map, pairCount, table, format >= snapshotFormatVersions);
      this.#expiry = expiry;
    } finally {
      this.#isRestoring = false;
    }
  }

  #install(map: PackedMap, pairCount: number, sessions: SessionTable, hasVersions: boolean): void {
    // A duplicated key would leave fewer entries than the header promised.
    if (map.size !== pairCount) {
      throw new SnapshotError(`snapshot holds ${map.size} distinct keys, header says ${pairCount}`);
    }
    // A running capture keeps encoding the old base it holds; detached here, it never folds
    // its overlay into the new map.
    this.#capture = null;
    this.#captures = [];
    this.#released.clear();
    this.#snapshotCapture = null;
    this.#map = map;
    this.#sessions = sessions;
    this.#hasVersions = hasVersions;
    // The ordered keys of the old state are void; the next listing builds the new state's.
    this.#keys = null;
    // The state jumped: the changes that led here were never applied here, one by one.
    this.#changes.reset();
  }
}

/**
 * The ordered keys of a map, at once: sorted natively and packed, O(n log n) in native code
 * rather than n searches in JS (OrderedKeys.fromSorted; inserting one at a time took ~8 s for
 * a million keys).
 */
function orderedKeysOf(map: Pick<CaptureBase, "entries">): OrderedKeys {
  const keys: string[] = [];
  for (const [key] of map.entries()) keys.push(key);
  return OrderedKeys.fromSorted(keys.sort());
}

/**
 * `[snapshotFormat, count, ...chunks]`: the bytes cbor-x writes for that array, copied into one
 * buffer by hand so that `pause` can run in between. Letting cbor-x copy a 25 MB snapshot (1M
 * keys) at once stalled the event loop ~30 ms, as long as the whole-map copy this file avoids.
 */
export async function joinSnapshot(
  count: number,
  chunks: readonly Uint8Array[],
  pause: Pause,
  sessions: SessionsPart | null = null,
  format: number = sessions === null ? snapshotFormat : snapshotFormatSessions,
): Promise<Uint8Array> {
  return joinPieces(layoutSnapshot(count, chunks, sessions, format), pause);
}

/** The pieces of joinSnapshot's bytes in order: each chunk with its CBOR head before it. */
function layoutSnapshot(count: number, chunks: readonly Uint8Array[], sessions: SessionsPart | null, format: number): Uint8Array[] {
  const deadlines = sessions?.deadlines;
  const pieces = sessions === null
    ? [cborHead(cborArray, 2 + chunks.length), encoder.encode(format), encoder.encode(count)]
    : [cborHead(cborArray, (deadlines === undefined ? 3 : 4) + chunks.length), encoder.encode(format), encoder.encode(count)];
  if (sessions !== null) {
    pieces.push(cborHead(cborArray, 1 + sessions.chunks.length), new Uint8Array(encoder.encode(sessions.logClock)));
    for (const chunk of sessions.chunks) pieces.push(cborHead(cborBytes, chunk.length), chunk);
  }
  if (deadlines !== undefined) {
    pieces.push(cborHead(cborArray, deadlines.length));
    for (const chunk of deadlines) pieces.push(cborHead(cborBytes, chunk.length), chunk);
  }
  for (const chunk of chunks) pieces.push(cborHead(cborBytes, chunk.length), chunk);
  return pieces;
}

/** The pieces copied into one buffer, pausing every snapshotJoinBytes. */
async function joinPieces(pieces: readonly Uint8Array[], pause: Pause): Promise<Uint8Array> {
  let total = 0;
  for (const piece of pieces) total += piece.length;
  const out = new Uint8Array(total);
  let at = 0;
  let sincePause = 0;
  for (const piece of pieces) {
    if (sincePause >= snapshotJoinBytes) {
      await pause();
      sincePause = 0;
    }
    out.set(piece, at);
    at += piece.length;
    sincePause += piece.length;
  }
  return out;
}

const cborBytes = 2;
const cborArray = 4;

/** A CBOR head (RFC 8949 §3): major type and length in the shortest form, as cbor-x writes it. */
function cborHead(major: number, length: number): Uint8Array {
  const type = major << 5;
  if (length < 24) return Uint8Array.of(type | length);
  if (length < 0x100) return Uint8Array.of(type | 24, length);
  if (length < 0x10000) return Uint8Array.of(type | 25, length >>> 8, length & 0xff);
  if (length < 0x100000000) {
    return Uint8Array.of(type | 26, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  }
  throw new Error(`KvStateMachine: snapshot length ${length} does not fit a CBOR head`);
}

/**
 * A snapshot's pair chunks in order, one per next(): from a PackedMap's code units
 * (snapshot_chunk.ts writeChunk: no JS string per key and value), else (a capture's live view)
 * through cbor-x. The same bytes either way.
 */
class PairChunks {
  readonly #map: PackedMap | null;
  readonly #pairs: PairCursor | null;
  readonly #withVersions: boolean;
  /** The map's id to go on from (-1: its end). */
  #from = 0;

  constructor(source: Pick<CaptureBase, "entriesVersioned">, withVersions: boolean) {
    this.#map = source instanceof PackedMap ? source : null;
    this.#pairs = this.#map === null ? new PairCursor(source.entriesVersioned()) : null;
    this.#withVersions = withVersions;
  }

  /** The next chunk of at most `remaining` pairs (see encodeChunk). */
  next(remaining: number): { bytes: Uint8Array; pairs: number } {
    if (this.#map === null) return encodeChunk(this.#pairs!, remaining, this.#withVersions);
    // The count comes from the same frozen state, so this means a bug, not bad data.
    if (this.#from < 0) throw new Error("KvStateMachine: map shrank while being encoded");
    const chunk = writeChunk(this.#map, this.#from, Math.min(snapshotChunkPairs, remaining), snapshotChunkChars, this.#withVersions);
    this.#from = chunk.next;
    return chunk;
  }
}

/** An iterator of pairs with one pair of lookahead, so a chunk can leave a pair to the next. */
class PairCursor {
  readonly #pairs: Iterator<[string, string, number]>;
  #held: [string, string, number] | null = null;
  constructor(pairs: Iterator<[string, string, number]>) {
    this.#pairs = pairs;
  }
  next(): [string, string, number] {
    const held = this.#held;
    if (held !== null) {
      this.#held = null;
      return held;
    }
    const next = this.#pairs.next();
    // The count comes from the same frozen state, so this means a bug, not bad data.
    if (next.done === true) throw new Error("KvStateMachine: map shrank while being encoded");
    return next.value;
  }
  unread(pair: [string, string, number]): void {
    this.#held = pair;
  }
}

/**
 * The next pairs (at most `remaining`) as one chunk, a CBOR array of keys and values
 * interleaved: up to snapshotChunkPairs pairs, ending early once they hold
 * snapshotChunkChars characters (a chunk always takes at least one pair).
 */
function encodeChunk(pairs: PairCursor, remaining: number, withVersions: boolean): { bytes: Uint8Array; pairs: number } {
  const flat: Array<string | number> = [];
  const max = Math.min(snapshotChunkPairs, remaining);
  let chars = 0;
  let taken = 0;
  while (taken < max) {
    const pair = pairs.next();
    const size = pair[0].length + pair[1].length;
    if (taken > 0 && chars + size > snapshotChunkChars) {
      pairs.unread(pair);
      break;
    }
    if (withVersions) flat.push(pair[0], pair[1], pair[2]);
    else flat.push(pair[0], pair[1]);
    chars += size;
    taken++;
  }
  return { bytes: encoder.encode(flat), pairs: taken };
}

/** Format 2's once-only table: the log clock and the entries' chunks. */
export interface SessionsPart {
  readonly logClock: number;
  readonly chunks: readonly Uint8Array[];
  /** Format 4: the deadlines' chunks (encodeDeadlineChunks), the snapshot's fourth element. */
  readonly deadlines?: readonly Uint8Array[];
}

/** Deadlines as chunks (encodeDeadlineChunk), all at once. */
function encodeDeadlineChunks(entries: Iterator<[string, number]>): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let chunk = encodeDeadlineChunk(entries); chunk !== null; chunk = encodeDeadlineChunk(entries)) chunks.push(chunk);
  return chunks;
}

/**
 * The next deadlines as one chunk `[k1, d1, …]`: up to snapshotChunkPairs keys, ending after
 * the key that brings it past snapshotChunkChars characters; null when none are left.
 */
function encodeDeadlineChunk(entries: Iterator<[string, number]>): Uint8Array | null {
  const flat: Array<string | number> = [];
  let chars = 0;
  while (flat.length / 2 < snapshotChunkPairs && chars <= snapshotChunkChars) {
    const next = entries.next();
    if (next.done === true) break;
    flat.push(next.value[0], next.value[1]);
    chars += next.value[0].length;
  }
  return flat.length === 0 ? null : new Uint8Array(encoder.encode(flat));
}

/** The deadlines of a snapshot's fourth element (format 4; null before): each key must be in `map`, once. */
function decodeDeadlines(part: unknown, map: PackedMap): ExpiryTable {
  const table = new ExpiryTable();
  if (part === null) return table;
  if (!Array.isArray(part)) throw new SnapshotError("snapshot deadlines are not an array");
  let count = 0;
  for (let c = 0; c < part.length; c++) {
    const flat = decodeSubChunk(part[c], `deadline chunk ${c}`);
    if (!Array.isArray(flat) || flat.length % 2 !== 0) throw new SnapshotError(`snapshot deadline chunk ${c} is not an array of key-deadline pairs`);
    for (let i = 0; i < flat.length; i += 2) {
      const key: unknown = flat[i];
      const deadline: unknown = flat[i + 1];
      if (typeof key !== "string" || !map.has(key) || !isStamp(deadline)) {
        throw new SnapshotError(`snapshot deadline chunk ${c} has a bad entry at ${i / 2} (a key must be one of the snapshot's)`);
      }
      table.set(key, deadline);
      count++;
    }
  }
  if (table.size !== count) throw new SnapshotError(`snapshot deadlines name ${count - table.size} key(s) twice`);
  return table;
}

/** A block of the once-only table as encodeSessionChunks makes it, from its packed arrays (or null). */
function encodePackedBlock(entries: PackedEntries, places: readonly number[]): Uint8Array[] | null {
  return encodePackedSessionChunks(entries, places, snapshotChunkPairs, snapshotChunkChars);
}

/** Fields per session entry in a chunk: id, digest, stamp, status, body. */
const sessionFields = 5;

/**
 * Entries (a block of the table: SessionTable.chunks, which keeps the bytes until the block
 * changes) as chunks of at most snapshotChunkPairs entries (fewer past snapshotChunkChars).
 */
export function encodeSessionChunks(entries: readonly SessionEntry[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let flat: unknown[] = [];
  let chars = 0;
  for (const e of entries) {
    const size = e.id.length + e.digest.length + e.outcome.body.length;
    if (flat.length > 0 && (flat.length / sessionFields >= snapshotChunkPairs || chars + size > snapshotChunkChars)) {
      chunks.push(new Uint8Array(encoder.encode(flat)));
      flat = [];
      chars = 0;
    }
    flat.push(e.id, e.digest, e.stamp, e.outcome.status, e.outcome.body);
    chars += size;
  }
  if (flat.length > 0) chunks.push(new Uint8Array(encoder.encode(flat)));
  return chunks;
}

/** The table of a snapshot's third element (format 2), or an empty one (format 1: null). */
function decodeSessions(part: unknown, limits: SessionLimits): SessionTable {
  const table = new SessionTable(limits);
  if (part === null) return table;
  if (!Array.isArray(part) || part.length < 1) throw new SnapshotError("snapshot session table is not an array");
  const logClock: unknown = part[0];
  if (!isStamp(logClock)) throw new SnapshotError(`snapshot log clock ${String(logClock)} is not a time`);
  const entries: SessionEntry[] = [];
  const ids = new Set<string>();
  for (let c = 1; c < part.length; c++) {
    const flat = decodeSubChunk(part[c], `session chunk ${c - 1}`);
    if (!Array.isArray(flat) || flat.length % sessionFields !== 0) {
      throw new SnapshotError(`snapshot session chunk ${c - 1} is not an array of entries`);
    }
    for (let i = 0; i < flat.length; i += sessionFields) {
      const [id, digest, stamp, status, body] = flat.slice(i, i + sessionFields) as unknown[];
      const isEntry = typeof id === "string" && id.length > 0 && id.length <= onceIdCharsMax && !ids.has(id) &&
        typeof digest === "string" && isStamp(stamp) && stamp <= logClock &&
        typeof status === "number" && Number.isInteger(status) && status >= 100 && status <= 599 && typeof body === "string";
      if (!isEntry) throw new SnapshotError(`snapshot session chunk ${c - 1} has a bad entry at ${i / sessionFields}`);
      ids.add(id);
      entries.push({ id, digest, stamp, outcome: { status, body } });
    }
  }
  table.load(logClock, entries);
  return table;
}

function isStamp(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

const writtenOutcome: Outcome = { status: 200, body: "" };

/**
 * Null if every key `write` names meets `condition` in the state being applied to; else the
 * 412 body: the JSON error of the HTTP API with each named key's current version (null: absent).
 * All keys or none: a multi-key set whose condition fails for one key writes none.
 */
/** Where a condition reads versions: the map, or a view that hides expired keys (#liveVersions). */
interface VersionSource {
  versionOf(key: string): number | undefined;
}

function preconditionFailure(write: WriteCommand, condition: Condition, target: VersionSource): string | null {
  const keys = write.type === "set" ? write.pairs.map((p) => p[0]) : [write.key];
  let failed: string | null = null;
  for (const key of keys) {
    const version = target.versionOf(key);
    const ok = condition.type === "absent"
      ? version === undefined
      : condition.type === "exists"
      ? version !== undefined
      : version !== undefined && condition.versions.includes(version);
    if (!ok && failed === null) failed = key;
  }
  if (failed === null) return null;
  const versions = Object.fromEntries(keys.map((key) => [key, target.versionOf(key) ?? null]));
  const why = condition.type === "absent"
    ? "exists (If-None-Match: *)"
    : condition.type === "exists"
    ? "does not exist (If-Match: *)"
    : target.versionOf(failed) === undefined
    ? "does not exist (If-Match)"
    : `is at another version (If-Match: ${condition.versions.map((v) => `"${v}"`).join(", ")})`;
  return JSON.stringify({ error: `precondition failed: key ${JSON.stringify(failed)} ${why}; nothing was written`, versions });
}

/** The 422 body: the JSON error of the HTTP API, naming the key but not its user. */
function mismatchBody(id: string): string {
  const key = id.slice(id.indexOf(":") + 1);
  return JSON.stringify({
    error: `Idempotency-Key ${JSON.stringify(key)} was first used for a different request (method, key or body); a new request needs a new key`,
  });
}

function decodeOuter(bytes: Uint8Array): { format: number; pairCount: number; chunks: readonly unknown[]; sessions: unknown; deadlines: unknown } {
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (e) {
    throw new SnapshotError(`snapshot is not valid CBOR: ${(e as Error).message}`);
  }
  if (!Array.isArray(value) || value.length < 2) {
    throw new SnapshotError("snapshot is not a CBOR array with a header");
  }
  const format: unknown = value[0];
  if (format !== snapshotFormat && format !== snapshotFormatSessions && format !== snapshotFormatVersions && format !== snapshotFormatDeadlines) {
    throw new SnapshotError(`snapshot format ${String(format)} is not one of ${snapshotFormat}, ${snapshotFormatSessions}, ${snapshotFormatVersions}, ${snapshotFormatDeadlines}`);
  }
  const pairCount: unknown = value[1];
  if (typeof pairCount !== "number" || !Number.isSafeInteger(pairCount) || pairCount < 0) {
    throw new SnapshotError(`snapshot pair count ${String(pairCount)} is not a count`);
  }
  if (format === snapshotFormat) return { format, pairCount, chunks: value.slice(2), sessions: null, deadlines: null };
  if (value.length < 3) throw new SnapshotError(`snapshot of format ${format} has no session table`);
  if (format !== snapshotFormatDeadlines) return { format, pairCount, chunks: value.slice(3), sessions: value[2] ?? undefined, deadlines: null };
  if (value.length < 4) throw new SnapshotError(`snapshot of format ${format} has no deadlines`);
  return { format, pairCount, chunks: value.slice(4), sessions: value[2] ?? undefined, deadlines: value[3] ?? undefined };
}

function decodeChunk(chunk: unknown, index: number, into: PackedMap, withVersions: boolean): void {
  const stride = withVersions ? 3 : 2;
  if (!(chunk instanceof Uint8Array)) throw new SnapshotError(`snapshot chunk ${index} is not bytes`);
  // The encoder's plain form straight into the map (no string per key and value); from the
  // first pair it cannot read so, the rest through cbor-x as before (snapshot_chunk.ts).
  const done = readChunkInto(chunk, into, withVersions);
  if (done < 0) return;
  let flat: unknown;
  try {
    flat = decoder.decode(chunk);
  } catch (e) {
    throw new SnapshotError(`snapshot chunk ${index} is not valid CBOR: ${(e as Error).message}`);
  }
  if (!Array.isArray(flat) || flat.length % stride !== 0) {
    throw new SnapshotError(`snapshot chunk ${index} is not an array of key-value pairs`);
  }
  for (let i = done * stride; i < flat.length; i += stride) {
    const key: unknown = flat[i];
    const value: unknown = flat[i + 1];
    const version: unknown = withVersions ? flat[i + 2] : 0;
    if (typeof key !== "string" || key.length === 0 || typeof value !== "string" || !isStamp(version)) {
      throw new SnapshotError(`snapshot chunk ${index} has a bad pair at ${i / stride}`);
    }
    into.set(key, value, version);
  }
}

/** A byte-string chunk of a snapshot's sessions or deadlines, decoded; SnapshotError naming `what` if it is not. */
function decodeSubChunk(chunk: unknown, what: string): unknown {
  try {
    if (!(chunk instanceof Uint8Array)) throw new Error("not bytes");
    return decoder.decode(chunk);
  } catch (e) {
    throw new SnapshotError(`snapshot ${what} is not valid: ${(e as Error).message}`);
  }
}
