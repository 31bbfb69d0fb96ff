// What `import … from "./app.js" with { type: "text" }` gives assets.ts: the script's source.
// (The script itself is checked as JavaScript by ui/tsconfig.json.)
declare const source: string;
export default source;
