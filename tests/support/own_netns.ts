// Runs one test of a file again in a child `bun test`, inside a network namespace of its
// own (unshare --net, its loopback brought up): for tests that depend on the kernel's
// choices of ephemeral ports, which any other socket on the machine can change (the CI run
// that failed had thousands of TIME-WAIT sockets left by earlier test files).

import { spawn, spawnSync } from "node:child_process";

/** Set in the child: the test is already isolated and runs its body in-process. */
export const ownNetnsEnv = "HRAFTD_TEST_OWN_NETNS";

/** True inside the child this module started. */
export function inOwnNetns(): boolean {
  return process.env[ownNetnsEnv] === "1";
}

let unavailable: string | null | undefined;

/** Why a namespace of its own cannot be made here, or null when it can (probed once). */
export function ownNetnsUnavailableReason(): string | null {
  if (unavailable !== undefined) return unavailable;
  if (process.platform !== "linux") unavailable = `network namespaces need Linux (this is ${process.platform})`;
  else {
    const probe = spawnSync("unshare", ["--net", "--", "ip", "link", "set", "lo", "up"], { encoding: "utf8", timeout: 10_000 });
    unavailable = probe.status === 0 ? null : `unshare --net with ip link failed: ${(probe.stderr ?? "").trim() || probe.error?.message}`;
  }
  return unavailable;
}

const regexSpecial = /[.*+?^${}()|[\]\\]/g;

/** Bun's -t takes a regular expression: the whole test name, matched literally. */
function exactNamePattern(name: string): string {
  return `^${name.replace(regexSpecial, "\\$&")}$`;
}

/**
 * Runs `bun test file -t <exactly this test>` in a fresh network namespace; throws with the
 * child's output unless exactly one test passed and none failed.
 */
export async function runTestInOwnNetns(file: string, fullName: string, timeoutMs = 60_000): Promise<void> {
  const script = 'ip link set lo up && exec "$0" test "$1" -t "$2"';
  const child = spawn("unshare", ["--net", "--", "sh", "-c", script, process.execPath, file, exactNamePattern(fullName)], {
    env: { ...process.env, [ownNetnsEnv]: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr.on("data", (b: Buffer) => (output += b.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  clearTimeout(timer);
  const passed = /^\s*1 pass\s*$/m.test(output);
  const failedNone = /^\s*0 fail\s*$/m.test(output);
  if (code !== 0 || !passed || !failedNone) {
    throw new Error(`in a network namespace of its own, "${fullName}" did not pass alone (exit ${code}):\n${output}`);
  }
}
