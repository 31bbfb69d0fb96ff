// Names for JavaScript in `perf` samples: a JSC jitdump (a member run with
// BUN_JSC_useJITDump=1 and BUN_JSC_jitDumpDirectory) read back, so bench/stall_perf.ts can say
// which function a stall ran. JSC frees compiled code and reuses its addresses, so one address
// names several functions over a run (a map written once named a stall's code wrongly): a
// lookup takes, for each address, the newest code loaded there at or before a given moment.
// Record layout: the jitdump format perf documents (tools/perf/Documentation/jitdump-specification.txt).

import { readFileSync } from "node:fs";

/** Record id of a code load; the only records read here. */
const jitCodeLoad = 0;

interface CodeLoad {
  /** When it was loaded, CLOCK_MONOTONIC ns. */
  readonly at: bigint;
  readonly address: bigint;
  readonly size: bigint;
  readonly name: string;
}

/** The code loads of one process's jitdump. */
export class JitNames {
  readonly pid: number;
  readonly #loads: CodeLoad[] = [];

  constructor(path: string) {
    const b = readFileSync(path);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.pid = dv.getUint32(20, true);
    for (let at = dv.getUint32(8, true); at + 16 <= b.length;) {
      const id = dv.getUint32(at, true);
      const size = dv.getUint32(at + 4, true);
      if (size === 0 || at + size > b.length) break; // a record still being written
      if (id === jitCodeLoad) {
        // After the 16-byte header: pid, tid (u32 each), vma, code address, code size, code index (u64 each), name.
        const nameEnd = b.indexOf(0, at + 56);
        this.#loads.push({
          at: dv.getBigUint64(at + 8, true),
          address: dv.getBigUint64(at + 32, true),
          size: dv.getBigUint64(at + 40, true),
          name: b.toString("utf8", at + 56, nameEnd < 0 || nameEnd > at + size ? at + size : nameEnd),
        });
      }
      at += size;
    }
  }

  get loads(): number {
    return this.#loads.length;
  }

  /** A lookup of code addresses as they were at `epochMs` (wall clock): the function's name, or null. */
  at(epochMs: number): (address: bigint) => string | null {
    // Records are stamped on CLOCK_MONOTONIC, which here runs with the boot clock (/proc/uptime).
    const uptimeMs = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;
    const atNs = BigInt(Math.round((epochMs - (Date.now() - uptimeMs)) * 1e6));
    const newest = new Map<bigint, CodeLoad>();
    for (const l of this.#loads) if (l.at <= atNs) newest.set(l.address, l);
    const ranges = [...newest.values()].sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
    return (address) => {
      let lo = 0;
      let hi = ranges.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const r = ranges[mid]!;
        if (address < r.address) hi = mid - 1;
        else if (address >= r.address + r.size) lo = mid + 1;
        else return r.name;
      }
      return null;
    };
  }
}
