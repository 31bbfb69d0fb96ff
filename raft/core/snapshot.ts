// Snapshots (§7, thesis Figure 5.3): local compaction after the application snapshots, and
// a follower receiving InstallSnapshot in chunks and installing it. The leader's side (which
// chunk to send a follower behind the log's start) is part of replication.ts.

import { assert } from "./assert.ts";
import type { InstallSnapshot, InstallSnapshotReply } from "./messages.ts";
import type { IncomingSnapshot, RaftState } from "./state.ts";
import type { LogIndex, Snapshot, SnapshotMeta, SnapshotReceiver } from "./types.ts";

/**
 * Largest snapshot a follower accepts (guards memory against a runaway sender). Also the
 * address space the core's own receiver's resizable buffer reserves: virtual only, pages are
 * backed as the chunks arrive.
 */
const SNAPSHOT_BYTES_MAX = 4 * 1024 * 1024 * 1024;

/**
 * The application saved a snapshot up to `index`: remember it and compact the log (§7). The
 * snapshot held already (same index and term), now stored: hold `data` instead, the same
 * bytes (the driver hands over a view of the file, which spares the memory of an installed
 * snapshot's received copy).
 */
export function takeSnapshot(r: RaftState, index: LogIndex, data: Uint8Array, trailingEntries: number): void {
  assert(Number.isSafeInteger(trailingEntries) && trailingEntries >= 0, "snapshotTaken: bad trailingEntries");
  assert(index <= r.log.lastApplied, `snapshotTaken: index ${index} beyond lastApplied ${r.log.lastApplied}`);
  const held = r.snapshot;
  if (held !== null && index === held.meta.lastIncludedIndex && r.log.term(index) === held.meta.lastIncludedTerm) {
    r.snapshot = { meta: held.meta, data };
    return;
  }
  if (index <= (held?.meta.lastIncludedIndex ?? 0)) return;
  const term = r.log.term(index);
  assert(term !== undefined, `snapshotTaken: term of ${index} unknown`);
  const meta: SnapshotMeta = { lastIncludedIndex: index, lastIncludedTerm: term, membership: r.config.at(index) };
  r.snapshot = { meta, data };
  r.config.compactTo(index);
  r.log.compactBefore(Math.max(r.log.firstIndex, index - trailingEntries + 1));
}

function reply(r: RaftState, m: InstallSnapshot, nextOffset: number, done: boolean): void {
  const out: InstallSnapshotReply = {
    type: "InstallSnapshotReply", from: r.id, to: m.from, term: r.term,
    lastIncludedIndex: m.meta.lastIncludedIndex, nextOffset, done,
  };
  // "done" promises the snapshot is durable, so it waits for persistence.
  r.send(out, done);
}

/** Follower: accumulate chunks in order; install when the last one arrives. */
export function handleInstallSnapshot(r: RaftState, m: InstallSnapshot): void {
  if (r.role === "leader") return;
  if (r.role !== "follower" || r.leader !== m.from) r.becomeFollower(r.term, m.from);
  r.electionElapsed = 0;
  const meta = m.meta;
  const idx = meta.lastIncludedIndex;
  if (idx <= r.log.commitIndex || r.log.term(idx) === meta.lastIncludedTerm) {
    // We already hold everything the snapshot covers: committed entries match (§5.4.3).
    if (idx > r.log.commitIndex) r.log.commitIndex = idx;
    r.incoming?.receiver.discard();
    r.incoming = null;
    return reply(r, m, m.offset + m.data.length, true);
  }
  let inc = r.incoming;
  if (inc === null || inc.meta.lastIncludedIndex !== idx || inc.meta.lastIncludedTerm !== meta.lastIncludedTerm) {
    if (m.offset !== 0) return reply(r, m, -1, false);
    inc?.receiver.discard();
    inc = { meta, receiver: r.cfg.snapshotReceiver?.(meta) ?? memoryReceiver() };
    r.incoming = inc;
  }
  const rcv = inc.receiver;
  if (m.offset !== rcv.size) return reply(r, m, rcv.size, false);
  if (rcv.size + m.data.length > SNAPSHOT_BYTES_MAX) {
    rcv.discard();
    r.incoming = null;
    return reply(r, m, -1, false);
  }
  // Kept at most until written (see SnapshotReceiver.append): a view of its frame, never changed.
  rcv.append(m.data);
  if (!m.done) return reply(r, m, rcv.size, false);
  install(r, inc);
  reply(r, m, rcv.size, true);
}

/** Replaces the whole log and configuration by the received snapshot (§7). */
function install(r: RaftState, inc: IncomingSnapshot): void {
  const snap: Snapshot = { meta: inc.meta, data: inc.receiver.bytes() };
  r.log.resetToSnapshot(inc.meta.lastIncludedIndex, inc.meta.lastIncludedTerm);
  r.config.reset(inc.meta.membership, inc.meta.lastIncludedIndex);
  r.snapshot = snap;
  r.snapshotToInstall = snap;
  r.incoming = null;
  r.onMembershipChanged();
}

/**
 * The core's own receiver: one resizable buffer the chunks are copied into in place, so the
 * last chunk finds the whole already joined (joining kept chunks in one turn was a copy of the
 * whole snapshot, hundreds of ms at ten million keys, and held it twice meanwhile).
 */
function memoryReceiver(): SnapshotReceiver {
  const buffer = new ArrayBuffer(0, { maxByteLength: SNAPSHOT_BYTES_MAX });
  let size = 0;
  return {
    get size() {
      return size;
    },
    append(chunk) {
      buffer.resize(size + chunk.length);
      new Uint8Array(buffer, size, chunk.length).set(chunk);
      size += chunk.length;
    },
    bytes: () => new Uint8Array(buffer, 0, size),
    discard: () => undefined,
  };
}
