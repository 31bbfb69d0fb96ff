// A small seeded pseudo-random generator (sfc32) shared by the real node and the simulator.
// Integer-only, so the same seed gives the same sequence on every runtime.

import type { Rng } from "./api.ts";

/**
 * Creates a seeded Rng (sfc32 by Chris Doty-Humphrey, public domain algorithm).
 * Deterministic: equal seeds give equal sequences, which is what makes simulator runs replay.
 */
export function createRng(seed: number): Rng {
  let a = 0x9e3779b9 | 0;
  let b = 0x243f6a88 | 0;
  let c = 0xb7e15162 | 0;
  let d = seed | 0;
  // Mix a possibly large seed's upper bits in as well (seeds are safe integers).
  c = (c ^ Math.floor(seed / 0x100000000)) | 0;
  function next(): number {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  }
  // Warm up so that similar seeds diverge (recommended for sfc32).
  for (let i = 0; i < 15; i++) next();
  return {
    int(n: number): number {
      if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
        throw new RangeError(`Rng.int: bound must be an integer in [1, 2^32], got ${n}`);
      }
      // Rejection sampling removes the modulo bias for bounds that do not divide 2^32.
      const limit = 0x100000000 - (0x100000000 % n);
      for (;;) {
        const x = next();
        if (x < limit) return x % n;
      }
    },
  };
}
