// Go's `flag` package, emulated for any flag table: FlagSet.Parse's rules and messages, and
// PrintDefaults' layout of the usage text, so a command line parses and fails as Go's would.
// hraftd's own table and Config are in flags.ts.

import { formatDurationMs, parseDurationMs, parseGoBool, parseGoInt } from "./go_values.ts";
import { unreachable } from "./unreachable.ts";

/** The flag types hraftd uses: flag.String, flag.Bool, flag.Duration, flag.Int. */
export type FlagKind = "string" | "bool" | "duration" | "int";

/** One flag of a table: what Go's flag.X(name, default, usage) declares, plus bounds. */
export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly usage: string;
  /** Default as Go would hold it: a string, a bool, milliseconds or an integer. */
  readonly initial: string | boolean | number;
  /** Inclusive bounds for durations (ms) and integers: a limit on everything. */
  readonly min?: number;
  readonly max?: number;
}

/** Each flag in PrintDefaults' layout, sorted by name as Go sorts them. */
export function printDefaults(specs: readonly FlagSpec[]): string {
  const sorted = [...specs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sorted.map(describeFlag).join("");
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

/** Flags given so far, by name, and the arguments left after parsing stopped. */
export interface Parsed {
  readonly values: Map<string, string | boolean | number>;
  readonly rest: readonly string[];
}

/** A failed parse: the message Go prints before the usage. An empty message means -h. */
export interface ParseFailure {
  readonly message: string;
}

/**
 * Go's FlagSet.Parse: flags until the first non-flag argument, a lone "-", or "--" (which is
 * consumed). A bool flag never takes the next argument; other flags take `=value` or the next
 * argument. The arguments count is bounded by the caller (the OS limits argv).
 */
export function parseArgs(specs: readonly FlagSpec[], args: readonly string[]): Parsed | ParseFailure {
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
    const spec = specs.find((s) => s.name === name);
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
