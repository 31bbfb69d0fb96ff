// One simulated operating-system process: its clock, timers and deferred work all run on the
// simulator's discrete-event queue, and all of it stops the instant the process is killed.
// A crash in the simulator is a kill followed by a brand-new process built through the same
// factory as the real server, so nothing in memory survives and process identity changes.

import type { Disk, DiskFile, OpenMode } from "../../../raft/host.ts";
import type { Scheduler } from "../scheduler.ts";

/** Thrown into code of a killed process that still tries to reach the world (its disk). */
export class ProcessKilledError extends Error {
  override readonly name = "ProcessKilledError";
}

/** The time and timer seams of one process, on the simulator's queue. */
export class SimProcess {
  #isAlive = true;
  readonly #scheduler: Scheduler;
  readonly name: string;
  /** Told whenever code of this process is about to run (a timer, deferred work, a delivery). */
  readonly #onActivity: (() => void) | null;

  /**
   * `onActivity` hears of every event that runs this process's code: the world checks after an
   * event only the nodes whose code ran (the others cannot have changed).
   */
  constructor(scheduler: Scheduler, name: string, onActivity: (() => void) | null = null) {
    this.#scheduler = scheduler;
    this.name = name;
    this.#onActivity = onActivity;
  }

  /** A frame for this process arrived: its code runs now (the transport calls this). */
  noteActivity(): void {
    this.#onActivity?.();
  }

  get isAlive(): boolean {
    return this.#isAlive;
  }

  /** Monotonic milliseconds: simulated time, identical in every run of a seed. */
  now(): number {
    return this.#scheduler.now;
  }

  /** A timer that never fires once the process is dead. */
  setTimeout(fn: () => void, ms: number): unknown {
    return this.#scheduler.schedule(Math.max(0, ms), () => {
      if (!this.#isAlive) return;
      this.#onActivity?.();
      fn();
    });
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === "number") this.#scheduler.cancel(handle);
  }

  /** Work for right after the current event (setImmediate's place). */
  defer(fn: () => void): void {
    this.#scheduler.schedule(0, () => {
      if (!this.#isAlive) return;
      this.#onActivity?.();
      fn();
    });
  }

  /** The process dies: its timers and deferred work are dropped, its disk handle fenced. */
  kill(): void {
    this.#isAlive = false;
  }

  /**
   * `disk` as this process sees it: every call fails once the process is dead. `onError`
   * sees every error the disk throws before the caller does (an armed crash kills the
   * process right there, before the error unwinds through the node).
   */
  fence(disk: Disk, onError: (error: unknown) => void = () => {}, syncLatencyMs: (() => number) | null = null): Disk {
    const asyncSync = syncLatencyMs === null ? null : (run: () => void, done: (error: Error | null) => void): void => {
      this.setTimeout(() => {
        try {
          run();
        } catch (e) {
          if (this.#isAlive) done(e as Error); // A crash that struck here ends the process: no one hears.
          return;
        }
        done(null);
      }, syncLatencyMs());
    };
    return fencedDisk(disk, () => this.#isAlive, onError, asyncSync);
  }
}

/**
 * A dead process's leftover promise continuations may still run (they are already queued);
 * they must not write to the disk the next incarnation will use.
 */
/**
 * With `asyncSync`, files and directories also offer syncAsync/syncDirAsync (files writeAsync too), as the real disk
 * does: the fsync happens (and becomes durable) when the simulated latency has passed, on the
 * process's timers, so a crash meanwhile loses it and other events run in between, as they do
 * while the real fsync runs on the thread pool.
 */
function fencedDisk(
  disk: Disk,
  isAlive: () => boolean,
  onError: (error: unknown) => void,
  asyncSync: ((run: () => void, done: (error: Error | null) => void) => void) | null,
): Disk {
  const call = <T>(op: () => T): T => {
    if (!isAlive()) throw new ProcessKilledError("process was killed");
    try {
      return op();
    } catch (e) {
      onError(e);
      throw e;
    }
  };
  const fenceFile = (f: DiskFile): DiskFile => ({
    size: () => call(() => f.size()),
    read: (p, l) => call(() => f.read(p, l)),
    write: (b, p) => call(() => f.write(b, p)),
    truncate: (s) => call(() => f.truncate(s)),
    sync: () => call(() => f.sync()),
    // O_DSYNC: durable when it returns, on the loop, as a blocking sync is (no latency to wait).
    ...(f.writeDurably === undefined ? {} : { writeDurably: (b: Uint8Array, p: number) => call(() => f.writeDurably!(b, p)) }),
    ...(asyncSync === null ? {} : { syncAsync: (done: (error: Error | null) => void) => asyncSync(() => call(() => f.sync()), done) }),
    // A write off the loop lands at once (a schedule the real thread pool allows; unsynced, a
    // crash may still lose it) and is reported done, or failed, after the seeded latency.
    ...(asyncSync === null ? {} : {
      writeAsync: (b: Uint8Array, p: number, done: (error: Error | null) => void) => {
        let error: unknown = null;
        try {
          call(() => f.write(b, p));
        } catch (e) {
          error = e;
        }
        asyncSync(() => {
          if (error !== null) throw error;
        }, done);
      },
    }),
    close: () => {
      if (isAlive()) f.close();
    },
  });
  return {
    ...(asyncSync === null ? {} : { syncDirAsync: (d: string, done: (error: Error | null) => void) => asyncSync(() => call(() => disk.syncDir(d)), done) }),
    open: (path: string, mode: OpenMode) => call(() => fenceFile(disk.open(path, mode))),
    readFile: (p) => call(() => disk.readFile(p)),
    exists: (p) => call(() => disk.exists(p)),
    isDir: (p) => call(() => disk.isDir(p)),
    list: (d) => call(() => disk.list(d)),
    mkdirp: (d) => call(() => disk.mkdirp(d)),
    rename: (a, b) => call(() => disk.rename(a, b)),
    remove: (p) => call(() => disk.remove(p)),
    syncDir: (d) => call(() => disk.syncDir(d)),
  };
}

/** Lets every promise continuation queued by the last event run before the next event. */
export function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
