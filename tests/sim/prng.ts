// The simulator's seeded pseudo-random generator (sfc32 seeded by splitmix32), with one
// independent stream per purpose so adding draws in one place does not shift the others.

/** A seeded PRNG for the simulator. Floats are allowed here (delay distributions), never in the core. */
export interface SimRng {
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [lo, hi] inclusive. */
  range(lo: number, hi: number): number;
  /** Uniform float in [0, 1). */
  float(): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[];
  /** An independent stream derived from this one's seed and `name`. */
  fork(name: string): SimRng;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return function next(): number {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Creates the generator for `seed` (any safe integer). */
export function createSimRng(seed: number): SimRng {
  const mix = splitmix32((seed ^ Math.floor(seed / 0x100000000)) >>> 0);
  let a = mix(), b = mix(), c = mix(), d = mix();
  function next(): number {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  }
  for (let i = 0; i < 12; i++) next();
  const rng: SimRng = {
    int(n) { return n <= 1 ? 0 : Math.floor((next() / 0x100000000) * n); },
    range(lo, hi) { return lo + rng.int(hi - lo + 1); },
    float() { return next() / 0x100000000; },
    chance(p) { return p > 0 && rng.float() < p; },
    pick(items) {
      if (items.length === 0) throw new Error("pick from an empty list");
      return items[rng.int(items.length)]!;
    },
    shuffle(items) {
      const out = items.slice();
      for (let i = out.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
    fork(name) { return createSimRng((seed * 31 + hashName(name)) % Number.MAX_SAFE_INTEGER); },
  };
  return rng;
}
