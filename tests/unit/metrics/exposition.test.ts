// Goal: the writer's output is the Prometheus text format 0.0.4 that Prometheus reads: HELP
// and TYPE per family, label values escaped, histograms cumulative with +Inf equal to _count,
// and nothing promtool's linter complains about.
// Method: a registry with one family of each kind, read back by a strict parser
// (text_parser.ts), and fed to `promtool check metrics` when installed.

import { expect, test } from "bun:test";
import { exponentialBuckets } from "../../../metrics/histogram.ts";
import { Registry } from "../../../metrics/registry.ts";
import { formatNumber } from "../../../metrics/text_format.ts";
import { promtool, runPromtool } from "./promtool.ts";
import { checkHistograms, parseText, valueOf } from "./text_parser.ts";

function sampleRegistry(): Registry {
  const r = new Registry();
  const c = r.counter({ name: "demo_requests_total", help: "Requests with a \\ and a\nline feed in the help.", labelNames: ["path", "code"] });
  c.labels('/a"b\\c\nd', "200").inc();
  c.labels('/a"b\\c\nd', "200").inc(2);
  c.labels("/plain", "503").inc();
  r.gauge({ name: "demo_temperature_celsius", help: "A gauge read at scrape time.", collect: () => [{ labels: [], value: -1.5 }] });
  const h = r.histogram({ name: "demo_latency_seconds", help: "A histogram.", labelNames: ["route"], buckets: [0.01, 0.1, 1] });
  for (const v of [0.005, 0.01, 0.05, 0.5, 2, 7]) h.labels("/x").observe(v);
  h.labels("/y").observe(0.2);
  return r;
}

test("families read back: help and types, label values escaped, counter values", () => {
  const text = sampleRegistry().render();
  expect(text).toContain('demo_requests_total{path="/a\\"b\\\\c\\nd",code="200"} 3\n');
  expect(text).toContain("# HELP demo_requests_total Requests with a \\\\ and a\\nline feed in the help.\n");
  const families = parseText(text);
  expect([...families.keys()]).toEqual(["demo_requests_total", "demo_temperature_celsius", "demo_latency_seconds"]);
  expect([...families.values()].map((f) => f.type)).toEqual(["counter", "gauge", "histogram"]);
  expect(families.get("demo_requests_total")!.help).toBe("Requests with a \\ and a\nline feed in the help.");
  expect(valueOf(families, "demo_requests_total", { path: '/a"b\\c\nd', code: "200" })).toBe(3);
  expect(valueOf(families, "demo_requests_total", { path: "/plain", code: "503" })).toBe(1);
  expect(valueOf(families, "demo_temperature_celsius")).toBe(-1.5);
});

test("histograms: cumulative buckets by le, +Inf equals _count, _sum", () => {
  const families = parseText(sampleRegistry().render());
  checkHistograms(families);
  const bucket = (le: string) => valueOf(families, "demo_latency_seconds_bucket", { route: "/x", le });
  // 0.005 and 0.01 are <= 0.01 (an observation equal to a bound is in its bucket).
  expect([bucket("0.01"), bucket("0.1"), bucket("1"), bucket("+Inf")]).toEqual([2, 3, 4, 6]);
  expect(valueOf(families, "demo_latency_seconds_count", { route: "/x" })).toBe(6);
  expect(valueOf(families, "demo_latency_seconds_sum", { route: "/x" })).toBeCloseTo(9.565, 9);
  expect(valueOf(families, "demo_latency_seconds_count", { route: "/y" })).toBe(1);
});

test("the parser's checks can fail: a non-cumulative histogram and a bad escape are refused", () => {
  const broken = "# HELP h_seconds x\n# TYPE h_seconds histogram\nh_seconds_bucket{le=\"1\"} 2\nh_seconds_bucket{le=\"+Inf\"} 1\nh_seconds_sum 1\nh_seconds_count 1\n";
  expect(() => checkHistograms(parseText(broken))).toThrow("not cumulative");
  expect(() => parseText('x_total{a="\\q"} 1\n')).toThrow("bad escape");
});

test("declarations are checked: names, reserved labels, bounds, counters end in _total, no name twice", () => {
  const r = new Registry();
  expect(() => r.counter({ name: "bad-name_total", help: "x" })).toThrow("metric name");
  expect(() => r.counter({ name: "requests", help: "x" })).toThrow("_total");
  expect(() => r.histogram({ name: "h", help: "x", labelNames: ["le"], buckets: [1] })).toThrow("label name");
  expect(() => r.gauge({ name: "g", help: "x", labelNames: ["__x"] })).toThrow("label name");
  expect(() => r.histogram({ name: "h", help: "x", buckets: [1, 1] })).toThrow("increasing");
  expect(() => r.counter({ name: "c_total", help: "x" }).inc(-1)).toThrow("non-negative");
  r.histogram({ name: "dup", help: "x", buckets: [1] });
  expect(() => r.gauge({ name: "dup_count", help: "x" })).toThrow("registered twice");
  expect(() => r.counter({ name: "l_total", help: "x", labelNames: ["a"] }).labels("1", "2")).toThrow("2 label values");
});

test("numbers: +Inf, -Inf, NaN as Go writes them; exponential bounds without float noise", () => {
  expect([Infinity, -Infinity, NaN, 0.25, 3].map(formatNumber)).toEqual(["+Inf", "-Inf", "NaN", "0.25", "3"]);
  expect(exponentialBuckets(0.001, 2, 4)).toEqual([0.001, 0.002, 0.004, 0.008]);
});

test.skipIf(promtool === null)("promtool check metrics: no problems in the writer's output", () => {
  const r = runPromtool(["check", "metrics"], sampleRegistry().render());
  expect(r.output).toBe("");
  expect(r.status).toBe(0);
  // promtool can fail: a counter without _total (written by hand) is reported.
  const bad = runPromtool(["check", "metrics"], "# HELP x_count_thing x\n# TYPE x_count_thing counter\nx_count_thing 1\n");
  expect(bad.status).not.toBe(0);
  expect(bad.output).toContain("_total");
});
