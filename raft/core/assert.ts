// Fail-stop helpers for the Raft core: assert(), unreachable() and the InvariantError they
// throw. A broken invariant means the node's state can no longer be trusted, so we stop.

/** Thrown when the core finds its own state inconsistent (a bug, never bad input). */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvariantError";
  }
}

/** Throws InvariantError with `message` unless `condition` holds. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** Marks the end of an exhaustive switch: the type checker proves it is never reached. */
export function unreachable(value: never): never {
  throw new InvariantError(`unreachable: ${JSON.stringify(value)}`);
}
