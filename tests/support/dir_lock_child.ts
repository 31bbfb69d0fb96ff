// A process that takes the data-directory lock (raft/dir_lock.ts) on argv[2] and holds it until
// killed: prints "locked <pid> <method>" once it holds it, or the refusal and exits 1. Runs
// under Bun and under Deno (`deno run -A`), so tests can pit the runtimes against each other.
import { DirLockError, lockDataDir } from "../../raft/dir_lock.ts";

const dir = process.argv[2];
if (dir === undefined) {
  console.error("usage: dir_lock_child.ts <data-dir>");
  process.exit(2);
}
try {
  const lock = lockDataDir(dir);
  console.log(`locked ${process.pid} ${lock.method}`);
} catch (e) {
  if (!(e instanceof DirLockError)) throw e;
  console.error(e.message);
  process.exit(1);
}
// Hold the lock for the life of the process.
setInterval(() => undefined, 1 << 30);
