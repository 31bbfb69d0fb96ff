// The checker of Idempotency-Keys (issue 16 item 1): every write carrying a key is applied at
// most once. What the production state machine returned for each applied entry is heard
// through the node's observer; a once command applied fresh (not a replay, not a 422) marks
// its id with its log index. The same id applied fresh at two different indexes is a write
// applied twice. (The same index again is one entry re-applied: a restart replays its log.)
// Within a run no id expires (24 hours of log time) or is evicted (100,000 entries).

import type { Entry } from "../../../raft/core/mod.ts";
import { decodeCommand } from "../../../store/commands.ts";
import { CommandError } from "../../../store/errors.ts";

export class OnceChecker {
  /** Index of the one fresh application of each id seen. */
  readonly #freshAt = new Map<string, number>();
  /** Replays seen (for the run's report: the retries did meet their first application). */
  replays = 0;
  readonly #fail: (message: string) => void;

  constructor(fail: (message: string) => void) {
    this.#fail = fail;
  }

  get ids(): number {
    return this.#freshAt.size;
  }

  applied(nodeId: string, e: Entry, result: unknown): void {
    if (e.kind !== "normal") return;
    const r = result as { type?: unknown; status?: unknown; replayed?: unknown } | null | undefined;
    if (r === null || r === undefined || r.type !== "once") return;
    if (r.replayed === true) {
      this.replays++;
      return;
    }
    if (r.status !== 200) return;
    let id: string;
    try {
      const command = decodeCommand(e.data);
      if (command.type !== "once") throw new CommandError("not a once command");
      id = command.id;
    } catch (error) {
      this.#fail(`once: ${nodeId} answered a once result for entry ${e.index}, which is no once command: ${String(error)}`);
      return;
    }
    const at = this.#freshAt.get(id);
    if (at === undefined) this.#freshAt.set(id, e.index);
    else if (at !== e.index) this.#fail(`once: ${nodeId} applied Idempotency-Key ${JSON.stringify(id)} at index ${e.index}, already applied at ${at}`);
  }
}
