// A driver (RaftNode) for tests that watch one node's turns: the parts a test cares about are
// given, everything else is quiet (no events, no log lines, no snapshot unless asked, an empty
// start). Each test still builds its own core, storage and scheduler: those are what it counts.

import { RaftNode } from "../../../raft/node.ts";
import type { RaftNodeOptions } from "../../../raft/node_options.ts";

/** What every such test gives; the rest of RaftNodeOptions may be given to override. */
export type NodeParts = Pick<RaftNodeOptions, "core" | "storage" | "stateMachine" | "send" | "scheduler"> & Partial<RaftNodeOptions>;

/** RaftNodeOptions with quiet defaults for what `parts` leaves out. */
export function quietNodeOptions(parts: NodeParts): RaftNodeOptions {
  return {
    events: { applied: () => {}, softState: () => {}, restored: () => {} },
    logger: { info: () => {}, warn: () => {}, error: () => {} },
    snapshotThresholdEntries: 1_000_000,
    snapshotTrailingEntries: 0,
    start: { lastIncludedIndex: 0, lastIncludedTerm: 0, membership: { members: [] } },
    ...parts,
  };
}

/** A RaftNode of quietNodeOptions(parts). */
export function quietNode(parts: NodeParts): RaftNode {
  return new RaftNode(quietNodeOptions(parts));
}
