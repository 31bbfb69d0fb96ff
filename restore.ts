// -restore FILE: a new single-node cluster started from a backup (store/backup.ts). The file is
// checked whole before anything is created (start_checks.ts calls restoreProblem); then, with
// the data directory locked, its state becomes the node's first snapshot, at the backup's index
// and term, with this node as the only voter. Other nodes then join with -join and receive the
// state by InstallSnapshot, as any follower that is too far behind the log.

import type { Membership } from "./raft/core/mod.ts";
import type { Disk, Logger } from "./raft/host.ts";
import { SnapshotStore } from "./raft/snapshots.ts";
import { storagePaths } from "./raft/storage.ts";
import { BackupError, type BackupHeader, type BackupSource, readBackup } from "./store/backup.ts";
import type { SessionEntry } from "./store/sessions.ts";
import { KvStateMachine } from "./store/state_machine.ts";
import { StartError } from "./start_checks.ts";

/** What a restore needs from the flags. */
export interface RestoreSettings {
  readonly restoreFile: string;
  readonly dataDir: string;
  readonly nodeId: string;
  /** The advertised Raft address: the one member of the new cluster. */
  readonly raftAddr: string;
}

/**
 * Why -restore cannot start, or null: the backup is unreadable or damaged (every byte is read
 * and checked), or the data directory already holds a node's state. One line, nothing created.
 */
export function restoreProblem(settings: Pick<RestoreSettings, "restoreFile" | "dataDir">, disk: Disk): string | null {
  try {
    withBackup(disk, settings.restoreFile, (source) => readBackup(source));
  } catch (e) {
    if (e instanceof BackupError || isFsError(e)) return `-restore ${settings.restoreFile}: ${(e as Error).message}; nothing was created`;
    throw e;
  }
  return holdsState(disk, settings.dataDir)
    ? `-restore: data directory ${settings.dataDir} already holds a node's state; restore into a new, empty directory (or start without -restore)`
    : null;
}

/**
 * Writes the backup's state as the first snapshot of the data directory (which must hold no
 * state: checked again here, under the lock). Throws StartError for any problem, before the
 * snapshot is written; the snapshot store makes the write itself crash-safe.
 */
export function restoreBackup(settings: RestoreSettings, disk: Disk, log: Pick<Logger, "info">): BackupHeader {
  const problem = restoreProblem(settings, disk);
  if (problem !== null) throw new StartError(problem);
  const { sm, header, stray } = withBackup(disk, settings.restoreFile, loadBackup);
  if (stray !== null) throw new StartError(`-restore ${settings.restoreFile}: a deadline for key ${JSON.stringify(stray)}, which the backup does not hold; nothing was created`);
  // The file was checked whole just above, so this can only mean it changed in between.
  if (sm.size !== header.pairCount) {
    throw new StartError(`-restore ${settings.restoreFile}: ${header.pairCount} pairs announced, ${sm.size} distinct keys read; nothing was created`);
  }
  const membership: Membership = { members: [{ id: settings.nodeId, addr: settings.raftAddr, suffrage: "voter" }] };
  const snapshots = SnapshotStore.open(disk, storagePaths(settings.dataDir).snapshots);
  snapshots.save({ lastIncludedIndex: header.index, lastIncludedTerm: header.term, membership }, sm.snapshot());
  log.info(
    `restored ${header.pairCount} keys from ${settings.restoreFile} (taken on node ${header.nodeId} at index ${header.index} term ${header.term}): ` +
      `a new cluster of this node alone; others join it with -join`,
  );
  return header;
}

/**
 * A backup read into a fresh state machine: its pairs with their versions, then (version 2) the
 * once-only table with the log clock, then (version 3) the deadlines of expiring keys. `stray` is
 * the first deadline for a key the backup does not hold (then no deadline is loaded), else null.
 */
export function loadBackup(source: BackupSource): { sm: KvStateMachine; header: BackupHeader; stray: string | null } {
  const sm = new KvStateMachine();
  const sessions: SessionEntry[] = [];
  let logClock = 0;
  const deadlines: Array<readonly [string, number]> = [];
  const header = readBackup(
    source,
    (pairs, versions) => sm.loadPairs(pairs, versions),
    (clock, entries) => {
      logClock = clock;
      sessions.push(...entries);
    },
    (clock, entries) => {
      logClock = clock;
      deadlines.push(...entries);
    },
  );
  if (logClock > 0 || sessions.length > 0) sm.loadSessions(logClock, sessions);
  const stray = deadlines.find(([key]) => sm.get(key) === undefined);
  if (stray === undefined && deadlines.length > 0) sm.loadDeadlines(deadlines);
  return { sm, header, stray: stray === undefined ? null : stray[0] };
}

/** True if the data directory has a term, a log or a snapshot (what openStorage would find). */
function holdsState(disk: Disk, dataDir: string): boolean {
  const paths = storagePaths(dataDir);
  return disk.exists(paths.state) || disk.list(paths.wal).length > 0 || disk.list(paths.snapshots).length > 0;
}

/** Runs `use` on the backup file opened for reading, and closes it. */
function withBackup<T>(disk: Disk, path: string, use: (source: BackupSource) => T): T {
  if (!disk.exists(path)) throw new BackupError(`no such file`);
  if (disk.isDir(path)) throw new BackupError(`is a directory, not a backup file`);
  const file = disk.open(path, "read");
  try {
    return use({ size: file.size(), read: (position, length) => file.read(position, Math.max(0, Math.min(length, file.size() - position))) });
  } finally {
    file.close();
  }
}

function isFsError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string";
}
