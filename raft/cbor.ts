// The one door to cbor-x: every shipped module that encodes or decodes CBOR (raft/codec.ts,
// store/commands.ts, store/state_machine.ts) takes Encoder and Decoder from here, never from
// cbor-x itself, so the reason below is written once.
//
// Why the subpaths: cbor-x's package root (node-index.js under Bun and Deno) loads the
// optional native string extractor (cbor-extract), which aborts the whole Bun process on some
// inputs (measured with Bun 1.4.5: invalid UTF-8 in a text string; arrays of a few hundred
// strings), where the pure-JS path throws an ordinary Error. "cbor-x/encode" and
// "cbor-x/decode" resolve to the pure-JS build: the same API and the same bytes.
// ./cbor_env.ts also turns the extractor off, for a process that imports the root anyway.

import "./cbor_env.ts";
export { Decoder } from "cbor-x/decode";
export { Encoder } from "cbor-x/encode";
