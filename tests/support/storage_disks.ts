// The three Disk implementations the storage conformance suites run against: the real file
// system (a fresh directory under os.tmpdir()), MemDisk and SimDisk.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFsDisk } from "../../raft/disk.ts";
import type { Disk } from "../../raft/host.ts";
import { MemDisk } from "../../raft/mem_disk.ts";
import { SimDisk } from "../sim/sim_disk.ts";

/** A disk plus a root directory to work in and a cleanup. */
export interface DiskFixture {
  readonly disk: Disk;
  readonly root: string;
  cleanup(): void;
}

/** Named factories, one per implementation. */
export const diskKinds: readonly { readonly name: string; make(): DiskFixture }[] = [
  {
    name: "fs",
    make() {
      const root = mkdtempSync(join(tmpdir(), "hraftd-storage-"));
      return { disk: createFsDisk(), root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
    },
  },
  { name: "mem", make: () => ({ disk: new MemDisk(), root: "/data", cleanup() {} }) },
  { name: "sim", make: () => ({ disk: new SimDisk(), root: "/data", cleanup() {} }) },
];

/** XORs one byte of a file through the Disk seam (works on every implementation). */
export function flipByte(disk: Disk, path: string, offset: number): void {
  const f = disk.open(path, "write");
  try {
    const b = f.read(offset, 1);
    f.write(new Uint8Array([b[0]! ^ 0xff]), offset);
    f.sync();
  } finally {
    f.close();
  }
}

/** Cuts a file to `size` bytes through the Disk seam. */
export function cutFile(disk: Disk, path: string, size: number): void {
  const f = disk.open(path, "write");
  try {
    f.truncate(size);
    f.sync();
  } finally {
    f.close();
  }
}

/** A deterministic entry whose data depends on index and term, so damage is detectable. */
export function testEntry(index: number, term: number, bytes = 16) {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
  return { index, term, kind: "normal" as const, data };
}
