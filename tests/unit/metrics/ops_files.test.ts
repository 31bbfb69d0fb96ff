// Goal: what ships in ops/ works with what GET /metrics exports. The alert rules pass
// `promtool check rules`, each alert fires in its unhealthy series and stays quiet in the
// healthy one (`promtool test rules ops/alerts_test.yml`), and a broken threshold makes that
// test fail; the Grafana dashboard parses and every expression of it and of the rules names
// only metrics a node exports.
// Method: the exported names come from a real NodeMetrics rendered and read back; the files
// are read as shipped.

import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { NodeMetrics } from "../../../metrics/node_metrics.ts";
import { promtool, runPromtool } from "./promtool.ts";
import { parseText } from "./text_parser.ts";

const ops = resolve(import.meta.dir, "../../../ops");

/** Every sample name a node can export (families with no sample yet included). */
function exportedNames(): Set<string> {
  const metrics = new NodeMetrics({ clock: { now: () => 0 }, timers: { setTimeout: () => 0, clearTimeout: () => undefined }, version: "v" });
  const names = new Set<string>();
  for (const f of parseText(metrics.registry.render()).values()) {
    if (f.type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(f.name + s);
    else names.add(f.name);
  }
  return names;
}

/** Metric names in a PromQL expression (our prefixes), and those of them not exported. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(?:etcd|hraftd|process|nodejs)_[a-zA-Z0-9_:]*/g)].map((m) => m[0]);
}
function unknownIn(expr: string, exported: Set<string>): string[] {
  return metricsIn(expr).filter((name) => !exported.has(name));
}

describe("ops/dashboard.json", () => {
  const dashboard = JSON.parse(readFileSync(join(ops, "dashboard.json"), "utf8")) as {
    title: string;
    panels: { title: string; type: string; targets: { expr: string; refId: string }[]; gridPos: { w: number; h: number } }[];
  };
  const exported = exportedNames();

  test("parses as a Grafana dashboard with the key panels", () => {
    expect(dashboard.title).toBe("hraftd-ts cluster");
    const titles = dashboard.panels.map((p) => p.title);
    for (const key of ["Leader", "Proposals committed / applied per second", "WAL fsync p99", "Peer round trip p99", "HTTP requests per second by code", "HTTP latency p99 by route", "Resident memory", "Event loop lag p99"]) {
      expect(titles).toContain(key);
    }
    for (const p of dashboard.panels) {
      expect(p.targets.length).toBeGreaterThan(0);
      expect(p.gridPos.w).toBeGreaterThan(0);
    }
  });

  test("every expression names metrics a node exports, and at least one", () => {
    for (const p of dashboard.panels) {
      for (const t of p.targets) {
        expect({ panel: p.title, names: metricsIn(t.expr).length > 0, unknown: unknownIn(t.expr, exported) }).toEqual({ panel: p.title, names: true, unknown: [] });
      }
    }
    // The check can fail: a name etcd has and we do not.
    expect(unknownIn("rate(etcd_mvcc_put_total[5m])", exported)).toEqual(["etcd_mvcc_put_total"]);
  });
});

describe("ops/alerts.yml", () => {
  const rules = readFileSync(join(ops, "alerts.yml"), "utf8");

  test("every rule expression names metrics a node exports", () => {
    const exprs = [...rules.matchAll(/^\s+expr: (.*)$/gm)].map((m) => m[1]!);
    expect(exprs.length).toBe(7);
    const exported = exportedNames();
    for (const expr of exprs) expect({ expr, unknown: unknownIn(expr, exported) }).toEqual({ expr, unknown: [] });
  });

  test.skipIf(promtool === null)("promtool check rules: valid", () => {
    const r = runPromtool(["check", "rules", join(ops, "alerts.yml")]);
    expect(r.output).toContain("SUCCESS: 7 rules found");
    expect(r.status).toBe(0);
  });

  test.skipIf(promtool === null)("promtool test rules: each alert fires when unhealthy and stays quiet when healthy", () => {
    const r = runPromtool(["test", "rules", join(ops, "alerts_test.yml")]);
    expect(r.output).toContain("SUCCESS");
    expect(r.status).toBe(0);
  });

  test.skipIf(promtool === null)("the rule tests can fail: a slow-fsync threshold of 5 s no longer fires", () => {
    const dir = mkdtempSync(join(tmpdir(), "alerts-"));
    try {
      writeFileSync(join(dir, "alerts.yml"), rules.replace("[5m]))) > 0.5\n", "[5m]))) > 5\n"));
      copyFileSync(join(ops, "alerts_test.yml"), join(dir, "alerts_test.yml"));
      const r = runPromtool(["test", "rules", join(dir, "alerts_test.yml")]);
      expect(r.status).not.toBe(0);
      expect(r.output).toContain("alertname: HraftdHighFsyncDurations");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
