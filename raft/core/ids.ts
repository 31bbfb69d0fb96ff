// Checked constructors of the branded values of types.ts, for the places where bytes or flags
// become Raft values (raft/codec_shapes.ts, raft/stable.ts, open_node.ts). Each checks the
// invariant its type states; inside the core values are trusted and never re-checked. A
// caller that takes outside input checks it first with its own wording (a CodecError naming
// the field, a flag's message), so a failure here is a bug: it throws InvariantError.

import { assert } from "./assert.ts";
import type { LogIndex, NodeId, Term } from "./types.ts";

function isNat(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** A term (§5.1): a non-negative safe integer. */
export function term(n: number): Term {
  if (!isNat(n)) assert(false, `term ${n} is not a non-negative safe integer`);
  return n as Term;
}

/** A log index (§5.3): a non-negative safe integer (0 is the position before the first entry). */
export function logIndex(n: number): LogIndex {
  if (!isNat(n)) assert(false, `log index ${n} is not a non-negative safe integer`);
  return n as LogIndex;
}

/** A node id: a non-empty string. */
export function nodeId(s: string): NodeId {
  assert(s.length > 0, "node id is empty");
  return s as NodeId;
}
