// An in-memory Disk: the WAL and stable store run on it unchanged for -inmem, and tests
// use it as the simplest implementation of the seam. Nothing survives the process.

import { dirname, normalize } from "node:path";
import type { Disk, DiskFile, OpenMode } from "./host.ts";

/** A growable byte buffer: capacity doubles, so appends are amortized O(1). */
export class ByteBuffer {
  private buf = new Uint8Array(64);
  /** Invariant: size <= buf.length. */
  size = 0;

  constructor(initial?: Uint8Array) {
    if (initial !== undefined) this.write(initial, 0);
  }

  /** A copy of the current contents. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.size);
  }

  read(position: number, length: number): Uint8Array {
    const end = Math.min(this.size, position + length);
    return position >= end ? new Uint8Array(0) : this.buf.slice(position, end);
  }

  write(bytes: Uint8Array, position: number): void {
    const end = position + bytes.length;
    if (end > this.buf.length) {
      const grown = new Uint8Array(Math.max(end, this.buf.length * 2));
      grown.set(this.buf.subarray(0, this.size));
      this.buf = grown;
    }
    // A write past the end leaves a hole of zeros, as on a real file system.
    if (position > this.size) this.buf.fill(0, this.size, position);
    this.buf.set(bytes, position);
    this.size = Math.max(this.size, end);
  }

  truncate(size: number): void {
    if (size > this.size) this.write(new Uint8Array(size - this.size), this.size);
    this.size = size;
  }
}

/** Error with a POSIX-like code, so callers can tell "missing" from "broken". */
export class MemDiskError extends Error {
  override readonly name = "MemDiskError";
  constructor(
    readonly code: "ENOENT" | "EISDIR" | "EEXIST" | "EBADF",
    path: string,
  ) {
    super(`${code}: ${path}`);
  }
}

/** A file handle; it keeps working on the node it opened even if the name is replaced. */
class MemFile implements DiskFile {
  private closed = false;
  constructor(private readonly node: ByteBuffer, private readonly path: string) {}

  private live(): ByteBuffer {
    if (this.closed) throw new MemDiskError("EBADF", this.path);
    return this.node;
  }
  size(): number {
    return this.live().size;
  }
  read(position: number, length: number): Uint8Array {
    return this.live().read(position, length);
  }
  write(bytes: Uint8Array, position: number): void {
    this.live().write(bytes, position);
  }
  truncate(size: number): void {
    this.live().truncate(size);
  }
  sync(): void {
    this.live();
  }
  close(): void {
    this.closed = true;
  }
}

/** An in-memory Disk; `sync` and `syncDir` are no-ops because nothing outlives the process. */
export class MemDisk implements Disk {
  private readonly files = new Map<string, ByteBuffer>();
  private readonly dirs = new Set<string>();

  open(path: string, mode: OpenMode): DiskFile {
    const p = normalize(path);
    if (this.dirs.has(p)) throw new MemDiskError("EISDIR", p);
    let node = this.files.get(p);
    if (node === undefined || mode === "create") {
      if (mode === "read") throw new MemDiskError("ENOENT", p);
      this.requireDir(dirname(p));
      node = new ByteBuffer();
      this.files.set(p, node);
    }
    return new MemFile(node, p);
  }

  readFile(path: string): Uint8Array {
    const node = this.files.get(normalize(path));
    if (node === undefined) throw new MemDiskError("ENOENT", path);
    return node.bytes();
  }

  exists(path: string): boolean {
    const p = normalize(path);
    return this.files.has(p) || this.dirs.has(p);
  }

  isDir(path: string): boolean {
    return this.dirs.has(normalize(path));
  }

  list(dir: string): string[] {
    const d = normalize(dir);
    const names: string[] = [];
    for (const p of [...this.files.keys(), ...this.dirs]) {
      if (p !== d && dirname(p) === d) names.push(p.slice(d.length + 1));
    }
    return names.sort();
  }

  mkdirp(dir: string): void {
    for (let p = normalize(dir); !this.dirs.has(p); p = dirname(p)) {
      if (this.files.has(p)) throw new MemDiskError("EEXIST", p);
      this.dirs.add(p);
      if (dirname(p) === p) break;
    }
  }

  rename(from: string, to: string): void {
    const f = normalize(from);
    const t = normalize(to);
    this.requireDir(dirname(t));
    const node = this.files.get(f);
    if (node !== undefined) {
      this.files.delete(f);
      this.files.set(t, node);
      return;
    }
    if (!this.dirs.has(f)) throw new MemDiskError("ENOENT", f);
    if (this.exists(t)) throw new MemDiskError("EEXIST", t);
    for (const p of [...this.dirs]) if (isUnder(p, f)) (this.dirs.delete(p), this.dirs.add(t + p.slice(f.length)));
    for (const [p, n] of [...this.files]) if (isUnder(p, f)) (this.files.delete(p), this.files.set(t + p.slice(f.length), n));
  }

  remove(path: string): void {
    const p = normalize(path);
    this.files.delete(p);
    for (const d of [...this.dirs]) if (isUnder(d, p)) this.dirs.delete(d);
    for (const f of [...this.files.keys()]) if (isUnder(f, p)) this.files.delete(f);
  }

  syncDir(dir: string): void {
    this.requireDir(normalize(dir));
  }

  private requireDir(d: string): void {
    if (!this.dirs.has(d)) throw new MemDiskError("ENOENT", d);
  }
}

/** True if `p` is `root` or lies inside it. */
export function isUnder(p: string, root: string): boolean {
  return p === root || (p.startsWith(root) && (p[root.length] === "/" || p[root.length] === "\\"));
}
