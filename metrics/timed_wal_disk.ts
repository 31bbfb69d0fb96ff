// The WAL's fsync duration (etcd_disk_wal_fsync_duration_seconds), taken at the Disk seam:
// the disk a node's log lives on is wrapped so that every sync of a file under the WAL's
// directory is timed, whoever calls it (append's group commit, a roll-over, a truncation),
// while the WAL itself stays unaware of metrics. A sync off the event loop (syncAsync) is
// timed from the call to its callback: what a leader waits before it counts its own entries.

import { sep } from "node:path";
import type { Clock, Disk, DiskFile, OpenMode } from "../raft/host.ts";

/** `disk`, with every file sync under `walDir` reported to `observe` in seconds. */
export function timedWalDisk(disk: Disk, walDir: string, clock: Clock, observe: (seconds: number) => void): Disk {
  const prefix = walDir.endsWith(sep) ? walDir : walDir + sep;
  const timed: Disk = {
    open: (path: string, mode: OpenMode): DiskFile => {
      const file = disk.open(path, mode);
      return path.startsWith(prefix) ? timedFile(file, clock, observe) : file;
    },
    readFile: (path) => disk.readFile(path),
    exists: (path) => disk.exists(path),
    isDir: (path) => disk.isDir(path),
    list: (dir) => disk.list(dir),
    mkdirp: (dir) => disk.mkdirp(dir),
    rename: (from, to) => disk.rename(from, to),
    remove: (path) => disk.remove(path),
    syncDir: (dir) => disk.syncDir(dir),
  };
  // Optional capabilities stay absent where the disk lacks them (callers test for them).
  if (disk.syncDirAsync !== undefined) timed.syncDirAsync = (dir, done) => disk.syncDirAsync!(dir, done);
  if (disk.removeAsync !== undefined) timed.removeAsync = (path, done) => disk.removeAsync!(path, done);
  if (disk.mapFile !== undefined) timed.mapFile = (path) => disk.mapFile!(path);
  if (disk.unmapFile !== undefined) timed.unmapFile = (view) => disk.unmapFile!(view);
  return timed;
}

function timedFile(file: DiskFile, clock: Clock, observe: (seconds: number) => void): DiskFile {
  const timed: DiskFile = {
    size: () => file.size(),
    read: (position, length) => file.read(position, length),
    write: (bytes, position) => file.write(bytes, position),
    truncate: (size) => file.truncate(size),
    sync: () => {
      const start = clock.now();
      file.sync();
      observe((clock.now() - start) / 1000);
    },
    close: () => file.close(),
  };
  // A durable write (O_DSYNC) is the WAL's sync for that append: timed as one, write included.
  if (file.writeDurably !== undefined) {
    timed.writeDurably = (bytes, position) => {
      const start = clock.now();
      file.writeDurably!(bytes, position);
      observe((clock.now() - start) / 1000);
    };
  }
  if (file.syncAsync !== undefined) {
    timed.syncAsync = (done) => {
      const start = clock.now();
      file.syncAsync!((error) => {
        if (error === null) observe((clock.now() - start) / 1000);
        done(error);
      });
    };
  }
  return timed;
}
