// The replicated key-value state machine: deterministic apply of committed commands, and
// snapshot/restore of the whole map in CBOR (sync, or chunked so a big map does not stall).

import "../raft/cbor_env.ts";
import { Decoder } from "cbor-x/decode";
import { Encoder } from "cbor-x/encode";
import { type Command, decodeCommand } from "./commands.ts";
import { CommandError, SnapshotError } from "./errors.ts";

/**
 * What applying one entry did. Every replica computes the same result for the same bytes,
 * including the `error` result for bytes that are not a valid command (a deterministic no-op).
 */
export type ApplyResult =
  | { readonly type: "set"; readonly count: number }
  | { readonly type: "delete"; readonly existed: boolean }
  | { readonly type: "error"; readonly error: string };

/** Yields to the event loop between snapshot chunks; tests pass one that resolves at once. */
export type Pause = () => Promise<void>;

/**
 * Snapshot layout: one CBOR array `[snapshotFormat, pairCount, chunk, chunk, …]`, each chunk a
 * byte string holding a CBOR array `[k1, v1, k2, v2, …]` of at most snapshotChunkPairs pairs.
 * Chunks let a large map be encoded and decoded piecewise, yielding in between.
 */
export const snapshotFormat = 1;
/** Pairs per snapshot chunk: about 1-3 ms of encoding or decoding each. */
export const snapshotChunkPairs = 16_384;

const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false });

function pauseDefault(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * The key-value map that Raft replicates (hraftd's fsm). `apply` must be called with committed
 * entries in log order (§5.3); it never throws for bad data, so a malformed entry cannot crash
 * one replica and not another. Restore replaces everything (hashicorp/raft's FSM contract).
 */
export class KvStateMachine {
  /** Invariant: every key is a non-empty string, every value a string. */
  #map = new Map<string, string>();
  /** True while restoreAsync is building a new map; apply then is a driver bug. */
  #isRestoring = false;

  /** Number of keys held. */
  get size(): number {
    return this.#map.size;
  }

  /** The value of `key`, or undefined if absent. */
  get(key: string): string | undefined {
    return this.#map.get(key);
  }

  /** All pairs, in insertion order (for tests and checkers). */
  entries(): IterableIterator<[string, string]> {
    return this.#map.entries();
  }

  /** Decodes and applies one committed entry's data; malformed bytes give an `error` result. */
  apply(data: Uint8Array): ApplyResult {
    let command: Command;
    try {
      command = decodeCommand(data);
    } catch (e) {
      if (e instanceof CommandError) return { type: "error", error: e.message };
      throw e;
    }
    return this.applyCommand(command);
  }

  /**
   * Applies an already validated command. A set of many keys happens at once: validation is
   * complete before the first write, and nothing between the writes can fail.
   */
  applyCommand(command: Command): ApplyResult {
    if (this.#isRestoring) throw new Error("KvStateMachine: apply during restoreAsync");
    switch (command.type) {
      case "set": {
        const pairs = command.pairs;
        for (let i = 0; i < pairs.length; i++) {
          const pair = pairs[i]!;
          this.#map.set(pair[0], pair[1]);
        }
        return { type: "set", count: pairs.length };
      }
      case "delete":
        return { type: "delete", existed: this.#map.delete(command.key) };
      default:
        return unreachable(command);
    }
  }

  /** The whole map as snapshot bytes, synchronously. */
  snapshot(): Uint8Array {
    const flat = this.#flatten();
    const parts: unknown[] = [snapshotFormat, flat.length / 2];
    for (let i = 0; i < flat.length; i += 2 * snapshotChunkPairs) {
      parts.push(encodeChunk(flat, i));
    }
    return encoder.encode(parts);
  }

  /**
   * The map as of this call, encoded chunk by chunk with a pause between chunks so the event
   * loop keeps running (DESIGN: a large snapshot must yield). The capture itself (one pass
   * copying the pairs out) is synchronous, so applies made meanwhile are not included.
   */
  async snapshotAsync(pause: Pause = pauseDefault): Promise<Uint8Array> {
    const flat = this.#flatten();
    const parts: unknown[] = [snapshotFormat, flat.length / 2];
    for (let i = 0; i < flat.length; i += 2 * snapshotChunkPairs) {
      parts.push(encodeChunk(flat, i));
      await pause();
    }
    return encoder.encode(parts);
  }

  /**
   * Replaces the whole map with the snapshot's. Throws SnapshotError, leaving the current map
   * untouched, if the bytes are not a complete, well-formed snapshot.
   */
  restore(bytes: Uint8Array): void {
    const { pairCount, chunks } = decodeOuter(bytes);
    const map = new Map<string, string>();
    for (let i = 0; i < chunks.length; i++) decodeChunk(chunks[i], i, map);
    this.#install(map, pairCount);
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
      const { pairCount, chunks } = decodeOuter(bytes);
      const map = new Map<string, string>();
      for (let i = 0; i < chunks.length; i++) {
        decodeChunk(chunks[i], i, map);
        await pause();
      }
      this.#install(map, pairCount);
    } finally {
      this.#isRestoring = false;
    }
  }

  #install(map: Map<string, string>, pairCount: number): void {
    // A duplicated key would leave fewer entries than the header promised.
    if (map.size !== pairCount) {
      throw new SnapshotError(`snapshot holds ${map.size} distinct keys, header says ${pairCount}`);
    }
    this.#map = map;
  }

  /** Keys and values interleaved: one cheap pass that freezes the state for encoding. */
  #flatten(): string[] {
    const flat: string[] = new Array(2 * this.#map.size);
    let i = 0;
    for (const [key, value] of this.#map) {
      flat[i++] = key;
      flat[i++] = value;
    }
    return flat;
  }
}

function encodeChunk(flat: readonly string[], start: number): Uint8Array {
  return encoder.encode(flat.slice(start, start + 2 * snapshotChunkPairs));
}

function decodeOuter(bytes: Uint8Array): { pairCount: number; chunks: readonly unknown[] } {
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (e) {
    throw new SnapshotError(`snapshot is not valid CBOR: ${(e as Error).message}`);
  }
  if (!Array.isArray(value) || value.length < 2) {
    throw new SnapshotError("snapshot is not a CBOR array with a header");
  }
  if (value[0] !== snapshotFormat) {
    throw new SnapshotError(`snapshot format ${String(value[0])} is not ${snapshotFormat}`);
  }
  const pairCount: unknown = value[1];
  if (typeof pairCount !== "number" || !Number.isSafeInteger(pairCount) || pairCount < 0) {
    throw new SnapshotError(`snapshot pair count ${String(pairCount)} is not a count`);
  }
  return { pairCount, chunks: value.slice(2) };
}

function decodeChunk(chunk: unknown, index: number, into: Map<string, string>): void {
  if (!(chunk instanceof Uint8Array)) throw new SnapshotError(`snapshot chunk ${index} is not bytes`);
  let flat: unknown;
  try {
    flat = decoder.decode(chunk);
  } catch (e) {
    throw new SnapshotError(`snapshot chunk ${index} is not valid CBOR: ${(e as Error).message}`);
  }
  if (!Array.isArray(flat) || flat.length % 2 !== 0) {
    throw new SnapshotError(`snapshot chunk ${index} is not an array of key-value pairs`);
  }
  for (let i = 0; i < flat.length; i += 2) {
    const key: unknown = flat[i];
    const value: unknown = flat[i + 1];
    if (typeof key !== "string" || key.length === 0 || typeof value !== "string") {
      throw new SnapshotError(`snapshot chunk ${index} has a bad pair at ${i / 2}`);
    }
    into.set(key, value);
  }
}

/** Marks a switch as exhaustive: the compiler rejects a call with a value left unhandled. */
function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
