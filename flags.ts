// Command-line flags with the semantics of Go's `flag` package, so hraftd's commands work as
// typed: the flag table, the parser, the usage text (PrintDefaults' layout) and the Config.

import { listenAddressProblem, memberAddressProblem } from "./address.ts";
import { nodeIdProblem } from "./http/validate.ts";
import { joinAddressProblem, joinTimeoutMsDefault } from "./join.ts";
import { unreachable } from "./unreachable.ts";

/** Everything a node needs from its command line. Durations in ms, sizes in entries or bytes. */
export interface Config {
  /** HTTP bind address (-haddr). */
  readonly httpAddr: string;
  /** Raft bind address, also advertised to peers (-raddr). */
  readonly raftAddr: string;
  /** HTTP address of a member to join, or "" to bootstrap / restart alone (-join). */
  readonly joinAddr: string;
  /** How long -join keeps trying before the start fails (-join-timeout). */
  readonly joinTimeoutMs: number;
  /** Node ID (-id); the Raft address when the flag is empty. */
  readonly nodeId: string;
  /** Keep the Raft log and stable state in memory (-inmem). */
  readonly inmem: boolean;
  /** The one positional argument: where Raft data and snapshots live. */
  readonly dataDir: string;
  readonly heartbeatMs: number;
  /** Minimum election timeout; each timeout is drawn from [t, 2t). */
  readonly electionTimeoutMs: number;
  readonly tickMs: number;
  /** Entries applied since the last snapshot that trigger a new one. */
  readonly snapshotThresholdEntries: number;
  /** Entries kept below a snapshot so slow followers can catch up without one. */
  readonly snapshotTrailingEntries: number;
  /** Largest HTTP request body accepted. */
  readonly bodyBytesMax: number;
}

/** What main should do: run a node, or write some text and exit with a code. */
export type FlagOutcome =
  | { readonly kind: "run"; readonly config: Config }
  | {
    readonly kind: "exit";
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
  };

type FlagKind = "string" | "bool" | "duration" | "int";

interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly usage: string;
  /** Default as Go would hold it: a string, a bool, milliseconds or an integer. */
  readonly initial: string | boolean | number;
  /** Inclusive bounds for durations (ms) and integers: a limit on everything. */
  readonly min?: number;
  readonly max?: number;
}

const hourMs = 3_600_000;

/** The flag table. hraftd's five flags first, then ours; usage lists them sorted, as Go does. */
export const flagSpecs: readonly FlagSpec[] = [
  { name: "haddr", kind: "string", usage: "HTTP bind address", initial: "localhost:11000" },
  {
    name: "raddr",
    kind: "string",
    usage: "Raft bind address, also advertised to peers",
    initial: "localhost:12000",
  },
  { name: "join", kind: "string", usage: "HTTP address of a cluster member to join, if any", initial: "" },
  {
    name: "join-timeout",
    kind: "duration",
    usage: "How long -join keeps trying to reach the cluster before the node exits",
    initial: joinTimeoutMsDefault,
    min: 1,
    max: hourMs,
  },
  { name: "id", kind: "string", usage: "Node ID; the Raft bind address if not set", initial: "" },
  { name: "inmem", kind: "bool", usage: "Keep the Raft log and term/vote in memory", initial: false },
  { name: "version", kind: "bool", usage: "Print the version and exit", initial: false },
  {
    name: "heartbeat",
    kind: "duration",
    usage: "Interval between a leader's heartbeats",
    initial: 100,
    min: 1,
    max: hourMs,
  },
  {
    name: "election-timeout",
    kind: "duration",
    usage: "Minimum election timeout; each one is drawn from [t, 2t)",
    initial: 500,
    min: 1,
    max: hourMs,
  },
  {
    name: "tick",
    kind: "duration",
    usage: "Raft clock tick; timeouts are counted in whole ticks",
    initial: 10,
    min: 1,
    max: 60_000,
  },
  {
    name: "snapshot-threshold",
    kind: "int",
    usage: "Log entries since the last snapshot that trigger a new one (past 1 MiB of state, also log bytes of a quarter of it)",
    initial: 8192,
    min: 1,
    max: 1 << 30,
  },
  {
    name: "snapshot-trailing",
    kind: "int",
    usage: "Log entries kept after a snapshot for slow followers",
    initial: 10240,
    min: 0,
    max: 1 << 30,
  },
  {
    name: "body-limit",
    kind: "int",
    usage: "Largest HTTP request body accepted, in bytes",
    initial: 1_048_576,
    min: 1,
    max: 1 << 30,
  },
];

/** The first line of the usage text, before the flags. */
export const usageHeader = "Usage: hraftd [options] <raft-data-path>";

/** The usage text: the header, then each flag the way Go's flag.PrintDefaults lays it out. */
export function usageText(): string {
  const sorted = [...flagSpecs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return `${usageHeader}\n${sorted.map(describeFlag).join("")}`;
}

/**
 * One flag in PrintDefaults' layout: two spaces, `-name`, a space and the type name unless it
 * is a bool, then the usage on the next line after four spaces and a tab, and the default in
 * parentheses unless it is the type's zero value (strings quoted).
 */
function describeFlag(spec: FlagSpec): string {
  const typeName = typeNameOf(spec.kind);
  let line = `  -${spec.name}${typeName === "" ? "" : ` ${typeName}`}`;
  // Go keeps a one-letter bool flag's usage on the same line.
  line += line.length <= 4 ? "\t" : "\n    \t";
  line += spec.usage.replaceAll("\n", "\n    \t");
  if (!isZero(spec.initial)) line += ` (default ${formatDefault(spec)})`;
  return `${line}\n`;
}

function typeNameOf(kind: FlagKind): string {
  switch (kind) {
    case "bool":
      return "";
    case "string":
      return "string";
    case "duration":
      return "duration";
    case "int":
      return "int";
    default:
      return unreachable(kind);
  }
}

function isZero(value: string | boolean | number): boolean {
  return value === "" || value === false || value === 0;
}

function formatDefault(spec: FlagSpec): string {
  switch (spec.kind) {
    case "string":
      return JSON.stringify(spec.initial);
    case "bool":
    case "int":
      return String(spec.initial);
    case "duration":
      return formatDurationMs(spec.initial as number);
    default:
      return unreachable(spec.kind);
  }
}

/** Why a value was refused; Go prints its error text after "invalid value ... for flag -x: ". */
type SetResult = { readonly ok: true; readonly value: string | boolean | number } | {
  readonly ok: false;
  readonly error: string;
};

function setValue(spec: FlagSpec, text: string): SetResult {
  switch (spec.kind) {
    case "string":
      return { ok: true, value: text };
    case "bool": {
      const parsed = parseGoBool(text);
      return parsed === null ? { ok: false, error: "parse error" } : { ok: true, value: parsed };
    }
    case "duration": {
      const ms = parseDurationMs(text);
      if (ms === null) return { ok: false, error: "parse error" };
      return checkBounds(spec, ms, formatDurationMs);
    }
    case "int": {
      const parsed = parseGoInt(text);
      if (parsed === "parse") return { ok: false, error: "parse error" };
      if (parsed === "range") return { ok: false, error: "value out of range" };
      return checkBounds(spec, parsed, String);
    }
    default:
      return unreachable(spec.kind);
  }
}

function checkBounds(spec: FlagSpec, n: number, show: (n: number) => string): SetResult {
  const min = spec.min ?? -Infinity;
  const max = spec.max ?? Infinity;
  if (n < min || n > max) {
    return { ok: false, error: `must be between ${show(min)} and ${show(max)}` };
  }
  return { ok: true, value: n };
}

/** strconv.ParseBool's accepted spellings. */
function parseGoBool(text: string): boolean | null {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return null;
}

/** Flags given so far, by name, and the arguments left after parsing stopped. */
interface Parsed {
  readonly values: Map<string, string | boolean | number>;
  readonly rest: readonly string[];
}

/** A failed parse: the message Go prints before the usage. An empty message means -h. */
interface ParseFailure {
  readonly message: string;
}

/**
 * Go's FlagSet.Parse: flags until the first non-flag argument, a lone "-", or "--" (which is
 * consumed). A bool flag never takes the next argument; other flags take `=value` or the next
 * argument. The arguments count is bounded by the caller (the OS limits argv).
 */
function parseArgs(args: readonly string[]): Parsed | ParseFailure {
  const values = new Map<string, string | boolean | number>();
  let i = 0;
  while (i < args.length) {
    const arg = args[i] as string;
    if (arg.length < 2 || arg[0] !== "-") break;
    const dashes = arg[1] === "-" ? 2 : 1;
    if (dashes === 2 && arg.length === 2) {
      i++;
      break;
    }
    let name = arg.slice(dashes);
    if (name.length === 0 || name[0] === "-" || name[0] === "=") {
      return { message: `bad flag syntax: ${arg}` };
    }
    i++;
    let inline: string | null = null;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const spec = flagSpecs.find((s) => s.name === name);
    if (spec === undefined) {
      if (name === "h" || name === "help") return { message: "" };
      return { message: `flag provided but not defined: -${name}` };
    }
    let text: string;
    if (spec.kind === "bool") {
      text = inline ?? "true";
    } else if (inline !== null) {
      text = inline;
    } else if (i < args.length) {
      text = args[i] as string;
      i++;
    } else {
      return { message: `flag needs an argument: -${name}` };
    }
    const result = setValue(spec, text);
    if (!result.ok) {
      if (spec.kind !== "bool") {
        return { message: `invalid value ${goQuote(text)} for flag -${name}: ${result.error}` };
      }
      return inline !== null
        ? { message: `invalid boolean value ${goQuote(text)} for -${name}: ${result.error}` }
        : { message: `invalid boolean flag ${name}: ${result.error}` };
    }
    values.set(name, result.value);
  }
  return { values, rest: args.slice(i) };
}

/** Close enough to Go's %q for command-line text: JSON string escaping. */
function goQuote(text: string): string {
  return JSON.stringify(text);
}

/**
 * Parses hraftd's command line (without the program name) into what main should do.
 * `version` is the text printed by -version.
 */
export function parseFlags(args: readonly string[], version: string): FlagOutcome {
  const parsed = parseArgs(args);
  if (!("values" in parsed)) {
    // As Go: the error (if any) then the usage, on stderr; -h exits 0, errors exit 2.
    const code = parsed.message === "" ? 0 : 2;
    const prefix = parsed.message === "" ? "" : `${parsed.message}\n`;
    return { kind: "exit", code, stdout: "", stderr: `${prefix}${usageText()}` };
  }
  const get = (name: string) => parsed.values.get(name) ?? specOf(name).initial;
  if (get("version") === true) return { kind: "exit", code: 0, stdout: `${version}\n`, stderr: "" };
  const dataDir = parsed.rest[0];
  if (dataDir === undefined || dataDir === "") {
    return { kind: "exit", code: 1, stdout: "", stderr: "No Raft storage directory specified\n" };
  }
  const raftAddr = get("raddr") as string;
  const config: Config = {
    httpAddr: get("haddr") as string,
    raftAddr,
    joinAddr: get("join") as string,
    joinTimeoutMs: get("join-timeout") as number,
    nodeId: (get("id") as string) === "" ? raftAddr : (get("id") as string),
    inmem: get("inmem") as boolean,
    dataDir,
    heartbeatMs: get("heartbeat") as number,
    electionTimeoutMs: get("election-timeout") as number,
    tickMs: get("tick") as number,
    snapshotThresholdEntries: get("snapshot-threshold") as number,
    snapshotTrailingEntries: get("snapshot-trailing") as number,
    bodyBytesMax: get("body-limit") as number,
  };
  const problem = checkTiming(config);
  if (problem !== null) return { kind: "exit", code: 2, stdout: "", stderr: `${problem}\n` };
  // The flags parsed, but a value cannot work: one line and exit 1, as for a missing data
  // directory, before main creates or stamps anything.
  const unusable = checkAddresses(config);
  if (unusable !== null) return { kind: "exit", code: 1, stdout: "", stderr: `hraftd: ${unusable}\n` };
  return { kind: "run", config };
}

/**
 * Why an address or the id in `config` cannot work, naming the flag, or null. server.ts asks
 * again for callers that skip the command line.
 */
export function checkAddresses(config: Config): string | null {
  const haddr = listenAddressProblem(config.httpAddr);
  if (haddr !== null) return `invalid -haddr ${JSON.stringify(config.httpAddr)}: ${haddr}`;
  // The Raft address is both bound and advertised to peers: it must be a member's address.
  const raddr = memberAddressProblem(config.raftAddr);
  if (raddr !== null) return `invalid -raddr ${JSON.stringify(config.raftAddr)}: ${raddr}`;
  if (config.joinAddr !== "") {
    const join = joinAddressProblem(config.joinAddr);
    if (join !== null) return `invalid -join ${JSON.stringify(config.joinAddr)}: ${join}`;
  }
  const id = nodeIdProblem(config.nodeId);
  if (id !== null) return `invalid -id: ${id}`;
  return null;
}

function specOf(name: string): FlagSpec {
  const spec = flagSpecs.find((s) => s.name === name);
  if (spec === undefined) throw new Error(`no flag ${name}`);
  return spec;
}

/**
 * Cross-flag rules. Heartbeats must come well inside the election timeout, or followers
 * time out on a healthy leader (Raft paper §5.6: broadcastTime ≪ electionTimeout), and both
 * must be at least one tick, since the core counts time only in ticks.
 */
function checkTiming(config: Config): string | null {
  const fmt = formatDurationMs;
  if (config.heartbeatMs < config.tickMs) {
    return `-heartbeat (${fmt(config.heartbeatMs)}) must be at least -tick (${fmt(config.tickMs)})`;
  }
  if (config.electionTimeoutMs <= config.heartbeatMs) {
    return `-election-timeout (${fmt(config.electionTimeoutMs)}) must be greater than -heartbeat (${
      fmt(config.heartbeatMs)
    })`;
  }
  return null;
}

/** Timing in whole ticks, as the Raft core counts it (rounded, at least one tick each). */
export function timingTicks(config: Config): { electionTicks: number; heartbeatTicks: number } {
  const heartbeatTicks = Math.max(1, Math.round(config.heartbeatMs / config.tickMs));
  const electionTicks = Math.max(heartbeatTicks + 1, Math.round(config.electionTimeoutMs / config.tickMs));
  return { electionTicks, heartbeatTicks };
}

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
