// Goal: the cluster page (issue 17) is whole and its script type-checks. Method: every file
// index.html loads from /ui/ is in ui/assets.ts's map with a fitting Content-Type, the map
// holds the files' text as they are on disk (what the binary embeds: e2e/ui_browser.test.ts
// compares the binary's answers with these), and tsc checks ui/app.js against the DOM and
// the view's types (ui/tsconfig.json), as the root tsconfig cannot (it has no DOM).

import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { uiAssets } from "../../../ui/assets.ts";
import { repoRoot } from "../../support/binary.ts";

// The view the server sends is the view the page reads by construction: view/ builds its JSON
// with the types of ui/view_types.ts, which `tsc -p ui` checks app.js against.

test("every file the page loads is in the asset map, as it is on disk", () => {
  const page = uiAssets.get("/ui");
  expect(page?.type).toBe("text/html; charset=utf-8");
  const loaded = [...(page?.body ?? "").matchAll(/(?:href|src)="(\/ui\/[^"]+)"/g)].map((m) => m[1]!);
  expect(loaded.sort()).toEqual(["/ui/app.js", "/ui/style.css"]);
  expect([...uiAssets.keys()].sort()).toEqual(["/ui", ...loaded].sort());
  expect(uiAssets.get("/ui/app.js")?.type).toStartWith("text/javascript");
  expect(uiAssets.get("/ui/style.css")?.type).toStartWith("text/css");
  const files: Record<string, string> = { "/ui": "index.html", "/ui/app.js": "app.js", "/ui/style.css": "style.css" };
  for (const [path, name] of Object.entries(files)) {
    expect(uiAssets.get(path)?.body).toBe(readFileSync(join(repoRoot, "ui", name), "utf8"));
  }
});

test("the page's script type-checks against the DOM and the view's types", () => {
  const tsc = join(repoRoot, "node_modules", ".bin", "tsc");
  const run = spawnSync(tsc, ["-p", join(repoRoot, "ui")], { encoding: "utf8", timeout: 60_000 });
  expect(`${run.stdout}${run.stderr}`).toBe("");
  expect(run.status).toBe(0);
}, 60_000);
