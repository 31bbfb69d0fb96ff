// Entry point of hraftd: reads the command line the way hraftd (Go) does, then starts a node.
// Everything about running the node lives in server.ts; this file only decides whether to.

// First of all: keep cbor-x off its native extractor (see raft/cbor_env.ts).
import "./raft/cbor_env.ts";
import { writeSync } from "node:fs";
import { parseFlags } from "./flags.ts";
import { createLogger } from "./log.ts";
import { StorageDamageError } from "./raft/wal.ts";
import { type RunningNode, StartError, startNode } from "./server.ts";
import packageJson from "./package.json" with { type: "json" };

// Set by scripts/build.ts through `bun build --define`; absent when run from source.
declare const HRAFTD_VERSION: string | undefined;

/** The text -version prints: the build's version, or the package version marked as source. */
export function versionText(): string {
  const built = typeof HRAFTD_VERSION === "string" ? HRAFTD_VERSION : null;
  const runtime = typeof process.versions.bun === "string"
    ? `bun ${process.versions.bun}`
    : `deno ${process.versions["deno"] ?? "?"}`;
  const origin = built === null ? "source; " : "";
  return `hraftd ${built ?? packageJson.version} (${origin}${runtime}; ${process.platform}/${process.arch})`;
}

/** Writes all of `text` before returning, so an exit right after loses nothing. */
function writeAll(fd: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
}

/**
 * An error the operating system reported while starting (EACCES, ENOSPC, EROFS, ...): about
 * the machine, not a bug, so one line without a stack, as for StartError.
 */
function isSystemError(e: unknown): e is Error {
  const code: unknown = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code);
}

async function main(): Promise<number> {
  const outcome = parseFlags(process.argv.slice(2), versionText());
  if (outcome.kind === "exit") {
    writeAll(1, outcome.stdout);
    writeAll(2, outcome.stderr);
    return outcome.code;
  }
  // -log-level and -log-format: every line the node writes from here on goes through it.
  const log = createLogger({ level: outcome.config.logLevel, format: outcome.config.logFormat });
  let running: RunningNode;
  try {
    running = await startNode(outcome.config, log, { version: versionText() });
  } catch (e) {
    // By name as well: a StartError class of another module (open_node.ts) is one too.
    const isStartError = e instanceof StartError || (e instanceof Error && e.name === "StartError");
    if (isStartError || e instanceof StorageDamageError || isSystemError(e)) {
      writeAll(2, `hraftd: ${e.message.replace(/\s+/g, " ")}\n`);
      return 1;
    }
    throw e;
  }
  // Run until SIGINT or SIGTERM, then shut down cleanly (hraftd logs and exits the same way).
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  log.info(`hraftd: ${signal} received, shutting down`, { event: "shutdown", signal });
  // A leader first hands leadership on, so clients see the new leader rather than errors.
  await running.handOff();
  await running.stop();
  return 0;
}

process.exit(await main());
