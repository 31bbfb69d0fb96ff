// A small seeded generator (mulberry32) for the storage tests, the simulated disk's crash
// choices and the crash child: reproducible from one printed seed.

/** Seeded randomness with the same `int(n)` shape as the core's Rng. */
export interface StorageRng {
  /** A uniformly distributed integer in [0, n). */
  int(n: number): number;
}

/** Returns a deterministic generator for `seed`. */
export function storageRng(seed: number): StorageRng {
  let s = seed >>> 0;
  function next(): number {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return { int: (n: number) => Math.floor(next() * n) };
}
