// Goal: -log-level and -log-format (issue 15, item 4). JSON lines are one object each with
// ts, level, msg and the event's fields; the text format is exactly the old one
// (`<ISO time> [LEVEL] message`); a level hides everything below it; a field that could hold
// a secret is never written.
// Method: log.ts's createLogger with its write and clock seams.

import { expect, test } from "bun:test";
import { createLogger, type LoggerOptions } from "../../log.ts";

const ts = "2026-11-30T05:08:26.123Z";

function collect(options: Omit<LoggerOptions, "write" | "now">): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const log = createLogger({ ...options, write: (l) => void lines.push(l), now: () => ts });
  return { lines, log };
}

test("JSON: one object per line with ts, level, msg and the fields", () => {
  const { lines, log } = collect({ level: "debug", format: "json" });
  log.info("elected leader in term 4", { event: "election", outcome: "won", term: 4, leader: "node1" });
  log.warn("transport: link to localhost:12002 down (connection refused); redialling with backoff", { event: "peer_down", peer: "localhost:12002" });
  log.debug("candidate in term 4; leader unknown", { event: "role", role: "candidate", term: 4, leader: null });
  log.error("raft node stopped: EIO");
  expect(lines.every((l) => l.endsWith("\n") && l.indexOf("\n") === l.length - 1)).toBe(true);
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(parsed[0]).toEqual({ ts, level: "info", msg: "elected leader in term 4", event: "election", outcome: "won", term: 4, leader: "node1" });
  expect(Object.keys(parsed[0]!).slice(0, 3)).toEqual(["ts", "level", "msg"]);
  expect(parsed[1]).toMatchObject({ level: "warn", event: "peer_down", peer: "localhost:12002" });
  expect(parsed[2]).toMatchObject({ level: "debug", leader: null });
  expect(parsed[3]).toEqual({ ts, level: "error", msg: "raft node stopped: EIO" });
});

test("JSON: a message with quotes, newlines and non-ASCII stays one parseable line", () => {
  const { lines, log } = collect({ level: "info", format: "json" });
  log.warn('join through "a\nb" not yet accepted — retrying');
  expect(lines).toHaveLength(1);
  expect(lines[0]!.split("\n")).toHaveLength(2);
  expect((JSON.parse(lines[0]!) as { msg: string }).msg).toBe('join through "a\nb" not yet accepted — retrying');
});

test("JSON: fields never replace ts, level or msg, and secrets are redacted", () => {
  const { lines, log } = collect({ level: "info", format: "json" });
  log.info("x", { msg: "other", level: "error", ts: "then", password: "hunter2", authorization: "Basic abc", peer: "p" });
  const o = JSON.parse(lines[0]!) as Record<string, unknown>;
  expect(o).toMatchObject({ ts, level: "info", msg: "x", field_msg: "other", field_level: "error", field_ts: "then", peer: "p" });
  expect(lines[0]).not.toContain("hunter2");
  expect(lines[0]).not.toContain("Basic abc");
  expect(o["password"]).toBe("[redacted]");
});

test("text: the format is unchanged, fields are not appended", () => {
  const { lines, log } = collect({ level: "info", format: "text" });
  log.info("serving HTTP on localhost:11000", { event: "x", term: 3 });
  log.warn("careful");
  log.error("stopped");
  expect(lines).toEqual([
    `${ts} [INFO] serving HTTP on localhost:11000\n`,
    `${ts} [WARN] careful\n`,
    `${ts} [ERROR] stopped\n`,
  ]);
});

test("-log-level: each level hides those below it; debug shows everything", () => {
  const seen = (level: LoggerOptions["level"]): string[] => {
    const { lines, log } = collect({ level, format: "json" });
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    return lines.map((l) => (JSON.parse(l) as { level: string }).level);
  };
  expect(seen("debug")).toEqual(["debug", "info", "warn", "error"]);
  expect(seen("info")).toEqual(["info", "warn", "error"]);
  expect(seen("warn")).toEqual(["warn", "error"]);
  expect(seen("error")).toEqual(["error"]);
});

test("the default clock writes ISO 8601 UTC", () => {
  const lines: string[] = [];
  createLogger({ level: "info", format: "json", write: (l) => void lines.push(l) }).info("now");
  expect((JSON.parse(lines[0]!) as { ts: string }).ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});
