// The real logger (-log-level, -log-format): one line per event on stderr. Text keeps the
// format hraftd-ts always had, `<ISO time> [LEVEL] message`; JSON writes one object per line
// with `ts`, `level`, `msg` and the event's fields (term, leader, index, peer, ...), which is
// what log shippers parse. Lines below the level are dropped before anything is formatted.

import type { LogFormat, LogLevel } from "./flags.ts";
import type { LogFields, Logger } from "./raft/host.ts";
import { wallClockIso } from "./raft/real_time.ts";

/** How a logger is built; `write` and `now` are seams for tests. */
export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Writes one whole line (newline included); default process.stderr. */
  readonly write?: (line: string) => void;
  /** Wall-clock time as ISO 8601 for `ts`; default the real one. */
  readonly now?: () => string;
}

/** Rank of each level: a line is written when its rank is at least the configured one. */
const rank: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Keys the JSON line owns: a field of the same name is written with a `field_` prefix. */
const reservedKeys: ReadonlySet<string> = new Set(["ts", "level", "msg"]);

/**
 * Field names that could hold a secret. No call site logs one today; this keeps a future
 * field from writing a password or an Authorization header into a log shipper.
 */
const secretKey = /pass(word)?|secret|token|authorization|credential|cookie/i;

/** The text format's line (unchanged since the first release: fields are not appended). */
function textLine(ts: string, level: LogLevel, msg: string): string {
  return `${ts} [${level.toUpperCase()}] ${msg}\n`;
}

/** The JSON format's line: ts, level and msg first, then the fields in their order. */
function jsonLine(ts: string, level: LogLevel, msg: string, fields: LogFields | undefined): string {
  const out: Record<string, unknown> = { ts, level, msg };
  if (fields !== undefined) {
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      out[reservedKeys.has(key) ? `field_${key}` : key] = secretKey.test(key) ? "[redacted]" : value;
    }
  }
  return `${JSON.stringify(out)}\n`;
}

/** A logger writing at `level` and above, in `format`. */
export function createLogger(options: LoggerOptions): Required<Logger> {
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const now = options.now ?? wallClockIso;
  const min = rank[options.level];
  const format = options.format;
  const emit = (level: LogLevel) => {
    if (rank[level] < min) return (): void => {};
    return (msg: string, fields?: LogFields): void => {
      write(format === "json" ? jsonLine(now(), level, msg, fields) : textLine(now(), level, msg));
    };
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}
