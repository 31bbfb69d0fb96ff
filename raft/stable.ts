// The stable store: currentTerm, votedFor (Figure 2's persistent state) and the node's id
// in one small file, replaced atomically by write-temp, fsync, rename, fsync-directory.

import { dirname } from "node:path";
import { CodecError, decodeCbor, decodeHardState, encodeCbor, encodeHardState } from "./codec.ts";
import { type HardState, type NodeId, nodeId } from "./core/mod.ts";
import type { Disk } from "./host.ts";
import { frameRecord, readSingleRecord, recordHeaderBytes, StorageDamageError } from "./wal_record.ts";

/** What the stable store holds. */
export interface StableState {
  readonly hardState: HardState;
  /** The id this data directory belongs to, or null before the node first saved it. */
  readonly nodeId: NodeId | null;
}

/** The state of a node that has never saved anything. */
export const emptyStableState: StableState = { hardState: { currentTerm: 0, votedFor: null }, nodeId: null };

const formatVersion = 1;

/**
 * Term and vote storage. save() returns only once the new state is durable, so the driver
 * can send the vote or message that depends on it ("persist before you speak", §5.2).
 */
export class StableStore {
  private constructor(
    private readonly disk: Disk,
    private readonly path: string,
    private current: StableState,
  ) {}

  /** Opens the store at `path` (e.g. `<data-dir>/raft/state`); defaults when absent. */
  static open(disk: Disk, path: string): StableStore {
    disk.mkdirp(dirname(path));
    // A leftover temp file is a save that never reached its rename: the old state stands.
    if (disk.exists(tempPath(path))) disk.remove(tempPath(path));
    if (!disk.exists(path)) return new StableStore(disk, path, emptyStableState);
    const state = parseState(disk.readFile(path), path);
    // What a start acts on must be durable: a process that died between a save's rename and
    // its directory sync leaves a term and vote only the page cache holds, and voting on them
    // after a power loss took them back could mean two votes in one term.
    disk.syncDir(dirname(path));
    return new StableStore(disk, path, state);
  }

  /** The last state saved (or recovered). */
  get state(): StableState {
    return this.current;
  }

  /** Replaces the state atomically and durably. */
  save(state: StableState): void {
    const tmp = tempPath(this.path);
    const payload = encodeCbor([formatVersion, encodeHardState(state.hardState), state.nodeId]);
    const f = this.disk.open(tmp, "create");
    try {
      f.write(frameRecord(payload), 0);
      f.sync();
    } finally {
      f.close();
    }
    this.disk.rename(tmp, this.path);
    this.disk.syncDir(dirname(this.path));
    this.current = state;
  }
}

function tempPath(path: string): string {
  return `${path}.tmp`;
}

function parseState(buf: Uint8Array, path: string): StableState {
  const payload = readSingleRecord(buf, path);
  try {
    const v = decodeCbor(payload);
    if (!Array.isArray(v) || v.length !== 3 || v[0] !== formatVersion || !(v[1] instanceof Uint8Array)) {
      throw new CodecError("expected [version 1, hard state, node id]");
    }
    const id = v[2];
    if (id !== null && (typeof id !== "string" || id.length === 0)) throw new CodecError("bad node id");
    return { hardState: decodeHardState(v[1]), nodeId: id === null ? null : nodeId(id) };
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
    throw new StorageDamageError(path, recordHeaderBytes, `unreadable state: ${err.message}`);
  }
}
