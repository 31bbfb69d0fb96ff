// A quantile estimated from histogram bucket counts, as Prometheus's histogram_quantile does:
// find the bucket the rank falls in and interpolate linearly inside it (the first bucket from
// zero). A rank above the last finite bound answers that bound: the histogram knows no more.

/**
 * `counts[i]` observations in (bounds[i-1], bounds[i]], `counts[bounds.length]` above them all.
 * Null when nothing was observed.
 */
export function bucketQuantile(bounds: readonly number[], counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (!(total > 0) || bounds.length === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const inBucket = counts[i]!;
    if (below + inBucket >= rank && inBucket > 0) {
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + (bounds[i]! - lower) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return bounds[bounds.length - 1]!;
}
