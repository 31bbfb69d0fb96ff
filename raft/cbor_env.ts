// Side-effect module, imported before cbor-x: turns off cbor-x's native string extractor
// (cbor-extract), which aborts the whole Bun process on some malformed input.

// Measured here (Bun 1.4.5): decoding 31 random bytes whose text string holds invalid UTF-8
// panics Bun inside the native addon; the pure-JS path throws an ordinary Error instead.
// cbor-x reads this variable once, when its entry module is first evaluated. Shipped code
// reaches cbor-x only through raft/cbor.ts, whose subpaths never load the extractor (why: see
// there); this module is for whatever imports the package root anyway (main.ts loads it
// first, tests through their preload).
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
if (env !== undefined) env.CBOR_NATIVE_ACCELERATION_DISABLED = "true";

/** True once the native extractor has been disabled for this process. */
export const cborNativeDisabled = env?.CBOR_NATIVE_ACCELERATION_DISABLED === "true";
