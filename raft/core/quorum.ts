// Majority arithmetic over the voters of one configuration (§5.2, §5.3): the commit index
// supported by a majority of match indexes, and the outcome of a vote tally.

import type { LogIndex, NodeId } from "./types.ts";

/** Smallest number of voters that forms a majority of `voterCount`. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index that a majority of voters have matched: sort matches descending and
 * take the quorum-th one. Returns 0 for an empty voter set (nothing can commit).
 */
export function majorityIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => LogIndex): LogIndex {
  const n = voters.length;
  if (n === 0) return 0;
  const matches: LogIndex[] = new Array<LogIndex>(n);
  for (let i = 0; i < n; i++) matches[i] = matchOf(voters[i] as NodeId);
  matches.sort((a, b) => b - a);
  return matches[quorumSize(n) - 1] as LogIndex;
}

export type VoteResult = "won" | "lost" | "pending";

/** Tallies votes from voters only: granted by a majority wins, refused by a majority loses. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let refused = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) refused++;
  }
  const q = quorumSize(voters.length);
  if (voters.length > 0 && granted >= q) return "won";
  if (voters.length === 0 || refused >= q) return "lost";
  return "pending";
}
