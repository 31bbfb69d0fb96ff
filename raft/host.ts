// The narrow seams between the driver (raft/node.ts) and the outside world. The real
// implementations live in raft/*.ts, the simulated ones in tests/sim; the core sees none.

// ---- Disk ----

/**
 * How a file is opened: `read` (must exist), `write` (created if missing, contents kept),
 * `create` (created, or emptied if it exists).
 */
export type OpenMode = "read" | "write" | "create";

/**
 * One open file. Every call is synchronous: a write plus fdatasync costs about 0.4 ms here
 * against about 1.5 ms through promises in Bun (DESIGN "Persistence"), and group commit
 * keeps the number of syncs per Ready at one.
 */
export interface DiskFile {
  /** Current length in bytes (what reads see, durable or not). */
  size(): number;
  /** Reads up to `length` bytes at `position`; shorter only at the end of the file. */
  read(position: number, length: number): Uint8Array;
  /** Writes all of `bytes` at `position` (extending the file if needed). */
  write(bytes: Uint8Array, position: number): void;
  /**
   * Optional: write() off the calling thread, then `done` on the event loop (absent where a
   * write must stay deterministic or is free: the simulator, memory). `bytes` must not change
   * and the file must stay open until `done` runs; a sync covers only writes already done.
   * A received snapshot's chunk written on the loop once blocked it 215 ms in ext4.
   */
  writeAsync?(bytes: Uint8Array, position: number, done: (error: Error | null) => void): void;
  /**
   * Optional: write() that returns once these bytes, and the file size they need, are
   * durable (Linux: a pwrite on an O_DSYNC descriptor, one syscall where write() + sync()
   * takes two). Only this write: bytes written before and not yet synced stay unsynced, so a
   * caller uses it only when everything before is durable. A power loss during the call may
   * keep any part of it. Absent: write() then sync().
   */
  writeDurably?(bytes: Uint8Array, position: number): void;
  /** Cuts the file to `size` bytes. */
  truncate(size: number): void;
  /** Makes every byte written so far durable (fdatasync). */
  sync(): void;
  /**
   * sync() off the calling thread, then `done` on the event loop; absent where a sync is
   * free (memory) or must stay deterministic (the simulator's disk). The file must stay open
   * until `done` runs.
   */
  syncAsync?(done: (error: Error | null) => void): void;
  close(): void;
}

/**
 * A file system, reduced to what the WAL, stable store and snapshot store need. Paths are
 * built with node:path. Names created, renamed or removed in a directory are durable only
 * after `syncDir` on that directory (DESIGN "Persistence").
 */
export interface Disk {
  open(path: string, mode: OpenMode): DiskFile;
  /** The whole file; throws if it does not exist. */
  readFile(path: string): Uint8Array;
  exists(path: string): boolean;
  isDir(path: string): boolean;
  /** Names (not paths) in a directory, sorted; empty if the directory does not exist. */
  list(dir: string): string[];
  /** Creates a directory and any missing parents, durably (their parents are synced). */
  mkdirp(dir: string): void;
  /** Atomically replaces `to` with `from` (files, or directories when `to` is absent). */
  rename(from: string, to: string): void;
  /** Removes a file or a whole directory tree; nothing happens if it is absent. */
  remove(path: string): void;
  /** Makes the directory's entries durable; a no-op where the OS refuses (Windows). */
  syncDir(dir: string): void;
  /**
   * Optional: syncDir() off the calling thread, then `done` on the event loop (absent where
   * it must stay deterministic, as DiskFile.syncAsync). A directory fsync commits the file
   * system's journal: several milliseconds on a busy disk, too long to block the loop.
   */
  syncDirAsync?(dir: string, done: (error: Error | null) => void): void;
  /**
   * Optional: remove() off the calling thread, then `done` on the event loop (absent where it
   * must stay deterministic). Unlinking a large file frees its extents in the call: a 300 MB
   * snapshot took 80-580 ms here, all of it on the loop when removed in place.
   */
  removeAsync?(path: string, done: (error: Error | null) => void): void;
  /**
   * Optional: a read-only view of a non-empty file that is never written again, backed by
   * the file (mmap) rather than by memory, so holding it costs no resident memory until read.
   * The file may be removed while mapped (POSIX keeps the pages) but never truncated.
   */
  mapFile?(path: string): Uint8Array;
  /**
   * Optional, with mapFile: lets go of a view mapFile returned, now rather than when the
   * collector finds it dead (the pages it read count in resident memory until then; at ten
   * million keys a start's checked and restored views held ~300 MB each). The view and every
   * other view of its buffer read as empty afterwards, so only a view nobody else holds may be
   * given; anything else (a view of another origin) is left alone.
   */
  unmapFile?(view: Uint8Array): void;
}

// ---- Scheduling, time and logging (added by the driver) ----

/** Runs work later in the same process: the real one uses setImmediate, the simulator its queue. */
export interface Scheduler {
  /** Run `fn` after the current turn, once the inputs already queued have been taken in. */
  defer(fn: () => void): void;
}

/** Monotonic time in milliseconds: performance.now in the real node, simulated time in tests. */
export interface Clock {
  now(): number;
}

/** One-shot timers: the host's setTimeout in the real node, the simulator's queue in tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Delivers ticks of logical time; the real one follows a monotonic clock. */
export interface Ticker {
  start(onTick: () => void): void;
  stop(): void;
}

/**
 * Structured fields of a log line (term, leader, index, peer, ...): the JSON format writes
 * them beside `msg`, the text format keeps only the line, so the line must say it all too.
 */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/**
 * One line per significant event, on stderr in the real node (log.ts). `fields` is optional
 * so a logger that only collects lines (tests, the simulator) stays a logger.
 */
export interface Logger {
  /** Detail for -log-level debug (every role change, ...); a logger without it drops them. */
  debug?(line: string, fields?: LogFields): void;
  info(line: string, fields?: LogFields): void;
  warn(line: string, fields?: LogFields): void;
  /** Only for what stops the node or needs an operator now: a healthy cluster logs none. */
  error(line: string, fields?: LogFields): void;
}

// ---- Transport ----

/**
 * Messages to peers by their advertised address: TCP in the real node (raft/transport.ts),
 * the simulator's wire in tests. Delivery is best effort (Raft tolerates loss); what arrives
 * is handed to the callback given when the transport was built.
 */
export interface Transport<T> {
  /** Starts receiving; rejects with an Error naming the address if that fails (e.g. in use). */
  listen(): Promise<void>;
  /** Queues `msg` for the peer at `peerAddr`; false if it was dropped unsent. Never throws on network trouble. */
  send(peerAddr: string, msg: T): boolean;
  /** Pushes queued messages out now (before a blocking fdatasync). */
  flush(): void;
  /** Stops receiving and drops whatever is queued; idempotent. */
  close(): Promise<void>;
}
