// Why a large file is shrunk a couple of MB at a time before it is unlinked (issue 18: no
// event-loop pause over 20 ms while snapshotting at ten million keys).
//
// Freeing a file's blocks can stall every writer on the same device, not only the one that frees
// them: on a file system mounted with `discard` (as here), the kernel sends the device a discard
// for the freed extents, and the device works through it ahead of the writes queued behind it.
// Measured here (a 256-byte O_DSYNC append every 2 ms in one process, a synced 500 MB file
// removed by another): the unlink took 330-600 ms, and the appends meanwhile waited up to
// 117-212 ms each. In a cluster on one machine that is what happened to every member at once:
// when one saved a snapshot and removed its older one (or the log segments it covers), the
// others' WAL appends, which run on their event loops, stalled (bench/stall_snapshot.ts rounds,
// up to 96 ms per append). Removing off the loop spares only the remover's own loop.
//
// Shrunk from its end by removalStepBytes per ftruncate, with removalStepPauseMs between steps,
// each step a thread-pool call, two such 500 MB files removed at once took about a second and
// the same appends waited at most 9.5 ms (over 8 s: p99.9 7.6 ms; 4 MiB steps 19.6 ms, 8 MiB 16;
// with nothing removed the appends' own worst was 7-14 ms). Writing snapshots, 1 MiB per
// synced slice, had kept them under 15 ms already: freeing blocks was what stalled them.
//
// Only the bytes are given back early; the name goes last, so what a crash leaves is the same
// kind of leftover as before, a file under a name that is never read (an aside snapshot, a log
// segment a durable snapshot covers), now maybe shorter, and the next start removes it.

import * as fs from "node:fs";
import { join } from "node:path";
import { realTimers } from "./real_time.ts";

/** Bytes freed per step: about 2-6 ms of a device's discard work here. */
export const removalStepBytes = 2 * 1024 * 1024;
/** Between steps, so that writes queued meanwhile go first. */
export const removalStepPauseMs = 1;

/** The node:fs calls a gradual removal makes (tests pass node:fs wrapped, to watch them). */
export type RemovalFs = Pick<typeof fs, "lstat" | "readdir" | "open" | "fstat" | "ftruncate" | "close" | "rm">;

type Done = (error: Error | null) => void;

/**
 * Removes `path` (a file or a directory tree, as `rm -rf`), off the event loop: every regular
 * file in it larger than a step is first shrunk a step at a time, except files whose inode is
 * in `kept` (held open elsewhere, still mapped: shrinking one would take pages from under its
 * mapping; its holder shrinks it once let go, see shrinkThenClose). An absent path is no error.
 */
export function removeGradually(path: string, kept: ReadonlySet<string>, done: Done, fsx: RemovalFs = fs): void {
  filesToShrink(path, kept, fsx, (files) => {
    const next = (i: number): void => {
      if (i === files.length) return fsx.rm(path, { recursive: true, force: true }, (error) => done(error));
      shrinkPath(files[i]!, fsx, () => next(i + 1));
    };
    next(0);
  });
}

/**
 * Shrinks the file open as `fd` (for writing) to nothing, a step at a time, then closes it.
 * For a descriptor that is the last reference to an unlinked file: its close would free all of
 * it at once. Where a step fails (a descriptor opened read-only), the close frees the rest.
 */
export function shrinkThenClose(fd: number, done: Done, fsx: RemovalFs = fs): void {
  shrinkFd(fd, fsx, () => fsx.close(fd, (error) => done(error)));
}

/**
 * The regular files under `path` (itself, or in its directories, depth first) worth shrinking.
 * Unreadable entries are left to rm, which removes or reports them as before.
 */
function filesToShrink(path: string, kept: ReadonlySet<string>, fsx: RemovalFs, done: (files: string[]) => void): void {
  const files: string[] = [];
  const visit = (p: string, then: () => void): void => {
    fsx.lstat(p, { bigint: true }, (error, st) => {
      if (error !== null) return then();
      if (st.isFile()) {
        if (st.size > BigInt(removalStepBytes) && !kept.has(String(st.ino))) files.push(p);
        return then();
      }
      if (!st.isDirectory()) return then();
      fsx.readdir(p, (err, names) => {
        if (err !== null) return then();
        const each = (i: number): void => (i === names.length ? then() : visit(join(p, names[i]!), () => each(i + 1)));
        each(0);
      });
    });
  };
  visit(path, () => done(files));
}

/** Shrinks the file at `path`; any failure just ends the shrinking (rm then does the rest). */
function shrinkPath(path: string, fsx: RemovalFs, done: () => void): void {
  fsx.open(path, "r+", (error, fd) => {
    if (error !== null) return done();
    shrinkFd(fd, fsx, () => fsx.close(fd, () => done()));
  });
}

function shrinkFd(fd: number, fsx: RemovalFs, done: () => void): void {
  fsx.fstat(fd, (error, st) => {
    if (error !== null) return done();
    const step = (size: number): void => {
      if (size === 0) return done();
      const to = Math.max(0, size - removalStepBytes);
      fsx.ftruncate(fd, to, (err) => {
        if (err !== null) return done();
        realTimers.setTimeout(() => step(to), removalStepPauseMs);
      });
    };
    step(st.size);
  });
}
