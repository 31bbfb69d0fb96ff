// Go's syntaxes for flag values, as hraftd's users type them: time.ParseDuration and
// Duration.String (in milliseconds here), strconv.ParseInt(text, 0, 64) and strconv.ParseBool.

const nsPerUnit: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3, // U+00B5 micro sign
  "μs": 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * time.ParseDuration: an optional sign, then one or more decimal numbers each followed by a
 * unit (ns, us, µs, ms, s, m, h), e.g. "1.5s" or "1m30s"; "0" alone needs no unit.
 * Returns milliseconds, or null when the text is not a duration.
 */
export function parseDurationMs(text: string): number | null {
  let rest = text;
  let sign = 1;
  if (rest[0] === "-" || rest[0] === "+") {
    sign = rest[0] === "-" ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return null;
  let totalNs = 0;
  const part = /^([0-9]*)(\.[0-9]*)?([^0-9.]+)/;
  while (rest !== "") {
    const m = part.exec(rest);
    if (m === null) return null;
    const whole = m[1] ?? "";
    const frac = m[2] ?? "";
    const unit = m[3] ?? "";
    // The unit runs up to the next digit or dot, as Go reads it; unknown units are errors.
    const scale = nsPerUnit[unit];
    if ((whole === "" && frac.length <= 1) || scale === undefined) return null;
    totalNs += Number(`${whole === "" ? "0" : whole}${frac === "." ? "" : frac}`) * scale;
    rest = rest.slice(m[0].length);
  }
  // Go's Duration is int64 nanoseconds: anything past that overflows.
  if (totalNs > 9.223372036854775e18) return null;
  return (sign * Math.round(totalNs)) / 1e6;
}

/** time.Duration's String for a number of milliseconds: "100ms", "1.5s", "1m30s", "1h0m0s". */
export function formatDurationMs(ms: number): string {
  const ns = Math.round(Math.abs(ms) * 1e6);
  const sign = ms < 0 ? "-" : "";
  if (ns === 0) return "0s";
  const trim = (n: number) => String(Number(n.toFixed(9)));
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${trim(ns / 1e3)}µs`;
  if (ns < 1e9) return `${sign}${trim(ns / 1e6)}ms`;
  const hours = Math.floor(ns / 3600e9);
  const minutes = Math.floor((ns % 3600e9) / 60e9);
  const seconds = trim((ns % 60e9) / 1e9);
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}

const int64Max = (1n << 63n) - 1n;

/**
 * strconv.ParseInt(text, 0, 64): an optional sign, then decimal, 0x hex, 0o or leading-0
 * octal, or 0b binary, with underscores allowed between digits. "parse" or "range" on error.
 */
export function parseGoInt(text: string): number | "parse" | "range" {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(text);
  if (m === null) return "parse";
  const negative = m[1] === "-";
  const body = m[2] ?? "";
  const hasPrefix = /^0[xXoObB]/.test(body);
  // Underscores only between digits (or right after a base prefix), never doubled or last.
  const digits = hasPrefix ? body.slice(2) : body;
  if (digits.includes("__") || digits.endsWith("_") || (!hasPrefix && digits.startsWith("_"))) {
    return "parse";
  }
  const clean = body.replaceAll("_", "");
  const octal = !hasPrefix && clean.length > 1 && clean[0] === "0";
  const magnitude = BigInt(octal ? `0o${clean.slice(1)}` : clean);
  const value = negative ? -magnitude : magnitude;
  if (value > int64Max || value < -int64Max - 1n) return "range";
  return Number(value);
}

/** strconv.ParseBool's accepted spellings. */
export function parseGoBool(text: string): boolean | null {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return null;
}
