// The cluster page's files (issue 17), embedded in the binary: `bun build --compile` inlines
// text imports, and `bun main.ts` or `deno run main.ts` read the same files from source. The
// page is plain HTML, CSS and one script with no dependency, so nothing is bundled at build time.
/// <reference path="./text_imports.d.ts" />

import script from "./app.js" with { type: "text" };
import page from "./index.html" with { type: "text" };
import style from "./style.css" with { type: "text" };

/** One file of the page: its text and Content-Type. */
export interface UiAsset {
  readonly body: string;
  readonly type: string;
}

/** The page's files by request path; http/ui_routes.ts serves them and 404s any other /ui/ path. */
export const uiAssets: ReadonlyMap<string, UiAsset> = new Map([
  // bun-types declares *.html imports as Bun's HTML bundles; with the text attribute the
  // import is the file's text, which String() returns unchanged.
  ["/ui", { body: String(page), type: "text/html; charset=utf-8" }],
  ["/ui/app.js", { body: script, type: "text/javascript; charset=utf-8" }],
  ["/ui/style.css", { body: style, type: "text/css; charset=utf-8" }],
]);
