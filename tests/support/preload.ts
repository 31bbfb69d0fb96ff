// Loaded by bun test before any test file (bunfig.toml): turns off cbor-x's native string
// extractor for the whole test process, since any file importing cbor-x first would
// otherwise load it, and it aborts Bun 1.4.5 on some inputs (see raft/cbor_env.ts).
import "../../raft/cbor_env.ts";
