// The few C library calls that node:fs does not offer (flock, fcntl(F_FULLFSYNC), errno),
// reached through bun:ffi, which the compiled binary carries. Loaded only under Bun: the
// module is required through import.meta.require, which Deno does not have, so the same
// source still runs under `deno run -A main.ts` (where raft/dir_lock.ts uses Deno.FsFile's
// own lock instead, and Deno's fdatasync already uses F_FULLFSYNC on macOS).

/** The part of bun:ffi used here, declared locally so that no other runtime needs its types. */
export interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: readonly string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  read: { i32(ptr: unknown, offset?: number): number };
  ptr(view: ArrayBufferView): unknown;
}

/** C library calls on file descriptors. Each returns the C return value (-1 on error). */
export interface Libc {
  /** flock(2). */
  flock(fd: number, operation: number): number;
  /** fcntl(2) with a command that takes no argument (F_FULLFSYNC). */
  fcntlNoArg(fd: number, command: number): number;
  /** errno of the calling thread, read right after a failed call. */
  errno(): number;
}

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
/** <sys/fcntl.h> on macOS: flush the drive's cache to its media. */
export const F_FULLFSYNC = 51;
/** The errno of a non-blocking flock on a file locked elsewhere (EAGAIN == EWOULDBLOCK). */
export function wouldBlockErrno(platform: string): number {
  return platform === "linux" ? 11 : 35;
}

/** bun:ffi when running under Bun; null under any other runtime. */
export function bunFfi(): BunFfi | null {
  if (typeof process.versions.bun !== "string") return null;
  const req = (import.meta as unknown as { require?: (id: string) => unknown }).require;
  if (typeof req !== "function") return null;
  return req("bun:ffi") as BunFfi;
}

/** Where the C library is, and how its errno is reached, per OS. */
function libcLocation(platform: string): { paths: readonly string[]; errnoSymbol: string } | null {
  if (platform === "linux") return { paths: ["libc.so.6"], errnoSymbol: "__errno_location" };
  if (platform === "darwin") return { paths: ["/usr/lib/libSystem.B.dylib", "libc.dylib"], errnoSymbol: "__error" };
  return null;
}

let cached: Libc | null | undefined;

/** The C library under Bun on Linux and macOS; null elsewhere (Deno, Windows, no libc found). */
export function loadLibc(): Libc | null {
  if (cached !== undefined) return cached;
  cached = null;
  const ffi = bunFfi();
  const where = libcLocation(process.platform);
  if (ffi === null || where === null) return cached;
  for (const path of where.paths) {
    try {
      const lib = ffi.dlopen(path, {
        flock: { args: ["i32", "i32"], returns: "i32" },
        // fcntl is variadic; F_FULLFSYNC takes no third argument, and the two fixed ones
        // travel in registers on every ABI (arm64 macOS puts only variadic ones on the stack).
        fcntl: { args: ["i32", "i32"], returns: "i32" },
        [where.errnoSymbol]: { args: [], returns: "ptr" },
      });
      const s = lib.symbols;
      const errnoPtr = s[where.errnoSymbol]!;
      cached = {
        flock: (fd, op) => s["flock"]!(fd, op) as number,
        fcntlNoArg: (fd, cmd) => s["fcntl"]!(fd, cmd) as number,
        errno: () => ffi.read.i32(errnoPtr(), 0),
      };
      return cached;
    } catch {
      // Try the next name.
    }
  }
  return cached;
}
