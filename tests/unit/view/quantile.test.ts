// Goal: latency percentiles from bucket counts as Prometheus's histogram_quantile estimates
// them (linear inside the bucket), null with no observation.

import { expect, test } from "bun:test";
import { bucketQuantile } from "../../../view/quantile.ts";

test("a quantile interpolates inside its bucket, the first from zero; above every bound is the last bound", () => {
  const bounds = [1, 2, 4];
  expect(bucketQuantile(bounds, [0, 0, 0, 0], 0.5)).toBeNull();
  expect(bucketQuantile(bounds, [10, 0, 0, 0], 0.5)).toBe(0.5);
  expect(bucketQuantile(bounds, [0, 10, 0, 0], 0.5)).toBe(1.5);
  expect(bucketQuantile(bounds, [5, 5, 0, 0], 0.99)).toBeCloseTo(1.98);
  expect(bucketQuantile(bounds, [0, 0, 0, 4], 0.5)).toBe(4);
});
