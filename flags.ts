// hraftd's command line: the flag table, the Config it yields, and the checks across flags.
// Parsed with the semantics of Go's `flag` package (go_flag.ts), so hraftd's commands work
// as typed.

import { listenAddressProblem, memberAddressProblem } from "./address.ts";
import { type FlagSpec, parseArgs, printDefaults } from "./go_flag.ts";
import { formatDurationMs } from "./go_values.ts";
import { nodeIdProblem } from "./http/validate.ts";
import { joinAddressProblem, joinTimeoutMsDefault } from "./join.ts";
import { type SecurityConfig, securityConfig, securityFlagSpecs, securityProblem } from "./security/security_flags.ts";

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
  /** Shortest wait after a snapshot before the next, in ms (0: none; raft/snapshot_policy.ts). */
  readonly snapshotIntervalMs: number;
  /** Largest HTTP request body accepted. */
  readonly bodyBytesMax: number;
  /** TLS, users and permissions (security/security_flags.ts); all off by default. */
  readonly security: SecurityConfig;
  /** Least severe log level written (-log-level). */
  readonly logLevel: LogLevel;
  /** Log lines as text or one JSON object per line (-log-format). */
  readonly logFormat: LogFormat;
  /** A backup file to start a new single-node cluster from (-restore), or "". */
  readonly restoreFile: string;
}

/** Log levels, least severe first. */
export const logLevels = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof logLevels)[number];
/** Log formats. */
export const logFormats = ["text", "json"] as const;
export type LogFormat = (typeof logFormats)[number];

/** What main should do: run a node, or write some text and exit with a code. */
export type FlagOutcome =
  | { readonly kind: "run"; readonly config: Config }
  | {
    readonly kind: "exit";
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
  };

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
    name: "snapshot-interval",
    kind: "duration",
    usage: "Shortest wait after a snapshot before the next (each drawn from [t, 2t); 0 for none), unless the log outgrows 16-32 MiB",
    initial: 120_000,
    min: 0,
    max: 24 * hourMs,
  },
  {
    name: "body-limit",
    kind: "int",
    usage: "Largest HTTP request body accepted, in bytes",
    initial: 1_048_576,
    min: 1,
    max: 1 << 30,
  },
  { name: "log-level", kind: "string", usage: "Least severe log level written: debug, info, warn or error", initial: "info" },
  { name: "log-format", kind: "string", usage: "Log lines as text or json (one object per line: ts, level, msg and fields)", initial: "text" },
  {
    name: "restore",
    kind: "string",
    usage: "Start a new single-node cluster from this backup file (GET /backup); the data directory must be empty",
    initial: "",
  },
  ...securityFlagSpecs,
];

/** The first line of the usage text, before the flags. */
export const usageHeader = "Usage: hraftd [options] <raft-data-path>";

/** The usage text: the header, then each flag the way Go's flag.PrintDefaults lays it out. */
export function usageText(): string {
  return `${usageHeader}\n${printDefaults(flagSpecs)}`;
}

/**
 * Parses hraftd's command line (without the program name) into what main should do.
 * `version` is the text printed by -version.
 */
export function parseFlags(
  args: readonly string[],
  version: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): FlagOutcome {
  const parsed = parseArgs(flagSpecs, args);
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
    snapshotIntervalMs: get("snapshot-interval") as number,
    bodyBytesMax: get("body-limit") as number,
    security: securityConfig(get),
    logLevel: get("log-level") as LogLevel,
    logFormat: get("log-format") as LogFormat,
    restoreFile: get("restore") as string,
  };
  const problem = checkTiming(config) ?? checkLogging(config) ?? checkSecurity(config, env);
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

/** Security flags that cannot work together (security/security_flags.ts), or -join-as without -join. */
function checkLogging(config: Config): string | null {
  if (!(logLevels as readonly string[]).includes(config.logLevel)) {
    return `invalid value ${JSON.stringify(config.logLevel)} for flag -log-level: use ${logLevels.join(", ")}`;
  }
  if (!(logFormats as readonly string[]).includes(config.logFormat)) {
    return `invalid value ${JSON.stringify(config.logFormat)} for flag -log-format: use ${logFormats.join(" or ")}`;
  }
  if (config.restoreFile !== "" && config.joinAddr !== "") return "-restore starts a new cluster: it cannot be combined with -join";
  return null;
}

function checkSecurity(config: Config, env: Readonly<Record<string, string | undefined>>): string | null {
  if (config.security.joinAs !== "" && config.joinAddr === "") return "-join-as has no effect without -join";
  return securityProblem(config.security, env);
}

/** Timing in whole ticks, as the Raft core counts it (rounded, at least one tick each). */
export function timingTicks(config: Config): { electionTicks: number; heartbeatTicks: number } {
  const heartbeatTicks = Math.max(1, Math.round(config.heartbeatMs / config.tickMs));
  const electionTicks = Math.max(heartbeatTicks + 1, Math.round(config.electionTimeoutMs / config.tickMs));
  return { electionTicks, heartbeatTicks };
}

/** -snapshot-interval in whole ticks, rounded up: the snapshot policy counts the node's ticks. */
export function snapshotIntervalTicks(config: Config): number {
  return Math.ceil(config.snapshotIntervalMs / config.tickMs);
}
