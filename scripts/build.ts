// Release build: one self-contained executable per target with `bun build --compile`, into
// dist/hraftd-<os>-<arch>[.exe], plus dist/SHA256SUMS. Run as `npm run build`, or
// `npm run build -- --target=linux-x64` (repeatable, or comma-separated) for some targets.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The five release targets, named as in the output file (Bun's own names add "bun-"). */
export const targets = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "windows-x64"] as const;
export type Target = (typeof targets)[number];

/** The repository root: this file lives in scripts/. */
export const repoRoot = join(import.meta.dirname, "..");
export const distDir = join(repoRoot, "dist");

/** Where the executable for `target` goes. */
export function outputPath(target: Target): string {
  return join(distDir, `hraftd-${target}${target.startsWith("windows") ? ".exe" : ""}`);
}

/** The version embedded in the binaries: package version, plus the git commit when known. */
export function buildVersion(): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
  const git = spawnSync("git", ["rev-parse", "--short=10", "HEAD"], { cwd: repoRoot, encoding: "utf8" });
  const commit = git.status === 0 ? git.stdout.trim() : "";
  return commit === "" ? pkg.version : `${pkg.version}+${commit}`;
}

/**
 * A compiled Bun executable would otherwise read bunfig.toml and .env from the directory it is
 * started in: a bunfig.toml there with `preload = ["./x.ts"]` runs x.ts inside the node, and a
 * .env there changes its environment (HTTP_PROXY reroutes its -join requests). The node reads
 * its configuration from flags only, so every kind of autoloading is switched off, the two that
 * default to off included, so that a change of Bun's defaults cannot switch them back on.
 */
export const noAutoloadFlags = [
  "--no-compile-autoload-bunfig",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-tsconfig",
  "--no-compile-autoload-package-json",
] as const;

/**
 * Compiles one target. --bytecode precompiles the bundle to JavaScriptCore bytecode so the
 * binary starts faster; it needs --format=esm because main.ts uses top-level await.
 * cbor-extract (cbor-x's optional native decoder) is left external: bundled, its loader
 * would remember this machine's absolute node_modules path and load that .node file only
 * where it happens to exist. External, it is simply absent and cbor-x uses its JS decoder
 * everywhere, the same on every machine.
 */
export function compileTarget(target: Target, version: string): { ok: boolean; output: string } {
  const args = [
    "build",
    "--compile",
    ...noAutoloadFlags,
    "--minify",
    "--bytecode",
    "--format=esm",
    "--sourcemap=none",
    `--target=bun-${target}`,
    "--external",
    "cbor-extract",
    "--define",
    `HRAFTD_VERSION=${JSON.stringify(version)}`,
    "--outfile",
    outputPath(target),
    join(repoRoot, "main.ts"),
  ];
  const run = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: "utf8", timeout: 600_000 });
  return { ok: run.status === 0, output: `${run.stdout ?? ""}${run.stderr ?? ""}` };
}

/** SHA-256 of a file, read in 1 MiB chunks so a 100 MB binary never sits in memory twice. */
function sha256File(path: string): string {
  const hash = createHash("sha256");
  const chunk = new Uint8Array(1 << 20);
  const fd = openSync(path, "r");
  try {
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** Rewrites dist/SHA256SUMS over every binary now in dist/, in `sha256sum -c` format. */
export function writeChecksums(): string {
  const names = readdirSync(distDir).filter((n) => n.startsWith("hraftd-")).sort();
  const lines = names.map((n) => `${sha256File(join(distDir, n))}  ${n}\n`);
  const path = join(distDir, "SHA256SUMS");
  writeFileSync(path, lines.join(""));
  return path;
}

/** Targets named by --target=a,b (repeatable); all five when none is given. */
export function parseTargets(argv: readonly string[]): Target[] | string {
  const chosen: Target[] = [];
  for (const arg of argv) {
    const m = /^--target=(.+)$/.exec(arg);
    if (m === null) return `unknown argument: ${arg} (use --target=${targets.join(",")})`;
    for (const name of (m[1] ?? "").split(",")) {
      const t = name.replace(/^bun-/, "");
      if (!(targets as readonly string[]).includes(t)) return `unknown target: ${name}`;
      if (!chosen.includes(t as Target)) chosen.push(t as Target);
    }
  }
  return chosen.length === 0 ? [...targets] : chosen;
}

function formatMiB(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

function main(): number {
  const chosen = parseTargets(process.argv.slice(2));
  if (typeof chosen === "string") {
    console.error(chosen);
    return 2;
  }
  mkdirSync(distDir, { recursive: true });
  const version = buildVersion();
  console.log(`building hraftd ${version} for ${chosen.join(", ")}`);
  for (const target of chosen) {
    const started = performance.now();
    const result = compileTarget(target, version);
    if (!result.ok) {
      console.error(`build failed for ${target}:\n${result.output}`);
      return 1;
    }
    const path = outputPath(target);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`  ${path.slice(repoRoot.length + 1)}  ${formatMiB(statSync(path).size)}  (${seconds}s)`);
  }
  const sums = writeChecksums();
  console.log(`  ${sums.slice(repoRoot.length + 1)}`);
  return existsSync(sums) ? 0 : 1;
}

if (import.meta.main) process.exit(main());
