// The one exhaustiveness helper outside the Raft core (raft/core/assert.ts keeps the core's own,
// since the core imports nothing from outside raft/core).

/**
 * Marks a switch as exhaustive: the compiler rejects a call with a value left unhandled, and
 * a value that arrives anyway (a bug, or a cast) fails loudly instead of falling through.
 */
export function unreachable(x: never): never {
  throw new Error(`unreachable: ${describe(x)}`);
}

function describe(x: unknown): string {
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}
