// The Raft core's public surface: the contract types plus the constructors and checks.
// raft/node.ts, the simulator and tests import only this file.

export type * from "./types.ts";
export type * from "./messages.ts";
export type * from "./ready.ts";
export type * from "./api.ts";
export { createRaft } from "./core.ts";
export { logIndex, nodeId, term } from "./ids.ts";
export { createRng } from "./rng.ts";
export { checkInvariants } from "./invariants.ts";
export { assert, InvariantError, unreachable } from "./assert.ts";
