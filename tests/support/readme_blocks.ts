// The runnable blocks of one README section: each ```sh block right after a
// `<!-- readme-run: NAME -->` marker, by name, in order. e2e tests run them as written, so the
// README cannot drift from what the binary does.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./binary.ts";

/**
 * The blocks of the section whose heading is `heading` (e.g. "## A secure cluster across
 * machines" or "### Safe retries (Idempotency-Key)"), up to the next heading of its level.
 */
export function readmeRunBlocks(heading: string, readme = readFileSync(join(repoRoot, "README.md"), "utf8")): Map<string, string> {
  const start = readme.indexOf(heading);
  if (start < 0) throw new Error(`README has no section ${JSON.stringify(heading)}`);
  const level = heading.slice(0, heading.indexOf(" ") + 1);
  const next = readme.indexOf(`\n${level}`, start + level.length);
  const section = readme.slice(start, next < 0 ? undefined : next);
  const blocks = new Map<string, string>();
  for (const m of section.matchAll(/<!-- readme-run: ([\w-]+) -->\n```sh\n([\s\S]*?)```/g)) blocks.set(m[1]!, m[2]!);
  return blocks;
}
