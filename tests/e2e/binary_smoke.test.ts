// Goal: the release executables really run and speak hraftd's command line.
// Method: run dist/hraftd-linux-x64 natively and dist/hraftd-linux-arm64 under qemu-user,
// check the darwin/windows files' formats with `file` (they cannot run here), and run
// main.ts from source under the npm `deno` package; compare output and exit codes.

import { beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { usageText } from "../../flags.ts";
import { binaryPath, ensureBinary, repoRoot } from "../support/binary.ts";

const runTimeoutMs = 60_000;

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCommand(command: string, args: readonly string[]): Ran {
  const r = spawnSync(command, args, { cwd: repoRoot, encoding: "utf8", timeout: runTimeoutMs });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function commandExists(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).status === 0;
}

const packageVersion = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string })
  .version;

/** What every runnable build must do; `run` executes the program with arguments. */
function checkCommandLine(run: (args: string[]) => Ran, platformArch: string): void {
  const help = run(["-h"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toBe("");
  expect(help.stderr).toBe(usageText());
  expect(help.stderr).toContain("Usage: hraftd [options] <raft-data-path>\n");
  expect(help.stderr).toContain('  -haddr string\n    \t');
  expect(help.stderr).toContain('(default "localhost:11000")\n');
  expect(help.stderr).toContain('(default "localhost:12000")\n');
  for (const name of ["-raddr string", "-join string", "-id string", "-inmem\n"]) {
    expect(help.stderr).toContain(`  ${name}`);
  }

  const version = run(["-version"]);
  expect(version.code).toBe(0);
  expect(version.stderr).toBe("");
  expect(version.stdout).toStartWith(`hraftd ${packageVersion}`);
  expect(version.stdout).toEndWith(`; ${platformArch})\n`);

  const unknown = run(["-nosuch", "/tmp/x"]);
  expect(unknown.code).toBe(2);
  expect(unknown.stdout).toBe("");
  expect(unknown.stderr).toBe(`flag provided but not defined: -nosuch\n${usageText()}`);

  const noDir = run(["-inmem"]);
  expect(noDir.code).toBe(1);
  expect(noDir.stderr).toBe("No Raft storage directory specified\n");
}

describe("linux-x64 binary (native)", () => {
  let path = "";
  beforeAll(() => {
    path = ensureBinary("linux-x64");
  });

  test("-h, -version, unknown flag and missing data directory behave as hraftd", () => {
    checkCommandLine((args) => runCommand(path, args), "linux/x64");
  });

  test("the version is the one embedded at build time, not the source fallback", () => {
    const out = runCommand(path, ["-version"]).stdout;
    expect(out).not.toContain("source");
    expect(out).toMatch(/^hraftd \S+ \(bun \d+\.\d+\.\d+; linux\/x64\)\n$/);
  });
});

const qemu = "qemu-aarch64-static";
const arm64Sysroot = "/usr/aarch64-linux-gnu";
const haveQemu = process.arch === "x64" && commandExists(qemu) && existsSync(arm64Sysroot);
if (!haveQemu) {
  console.log(`skipping linux-arm64: needs ${qemu} and ${arm64Sysroot} (qemu-user-static, libc6-arm64-cross)`);
}

describe("linux-arm64 binary (under qemu-user)", () => {
  test.skipIf(!haveQemu)("-h, -version, unknown flag and missing data directory behave as hraftd", () => {
    const path = ensureBinary("linux-arm64");
    checkCommandLine((args) => runCommand(qemu, ["-L", arm64Sysroot, path, ...args]), "linux/arm64");
  }, 120_000);
});

/** Formats `file` reports for the targets that cannot run here. */
const foreignFormats = [
  { target: "darwin-x64", label: "Mach-O x86_64", format: /Mach-O 64-bit (executable )?x86_64 executable/ },
  { target: "darwin-arm64", label: "Mach-O arm64", format: /Mach-O 64-bit (executable )?arm64 executable/ },
  { target: "windows-x64", label: "PE32+ x86-64", format: /PE32\+ executable \(console\) x86-64, for MS Windows/ },
] as const;

describe("darwin and windows binaries (file format only: they cannot run here)", () => {
  const haveFile = commandExists("file");
  for (const { target, label, format } of foreignFormats) {
    const path = binaryPath(target);
    const reason = !haveFile ? "`file` is not installed" : !existsSync(path) ? `${path} was not built` : "";
    if (reason !== "") console.log(`skipping ${target} format check: ${reason}`);
    test.skipIf(reason !== "")(`${target} is a ${label} executable`, () => {
      const out = runCommand("file", ["-b", path]);
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(format);
    });
  }
});

describe("source under Deno (npm package `deno`)", () => {
  const deno = join(repoRoot, "node_modules", ".bin", "deno");

  test("deno run -A main.ts behaves as the binary does", () => {
    expect(existsSync(deno)).toBe(true);
    checkCommandLine((args) => runCommand(deno, ["run", "-A", "main.ts", ...args]), `${process.platform}/${process.arch}`);
  }, 120_000);

  test("deno check main.ts passes with deno.json's settings", () => {
    const out = runCommand(deno, ["check", "main.ts"]);
    expect(out.stderr).not.toContain("ERROR");
    expect(out.code).toBe(0);
  }, 120_000);
});
