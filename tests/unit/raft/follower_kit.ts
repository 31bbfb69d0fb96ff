// A follower for the tests of where and when it makes its appends durable: "b" of the voters
// a, b, c, the production RaftNode and core, storage that records each append as made durable
// on the loop (persist) or off it (persistEntriesAsync, held until the test completes it), and
// a queue scheduler whose turns the test runs. Those tests differ in what else the storage
// notes (hooks) and in the node's options; what they count is the same.

import type { Entry, HardState, Snapshot, SnapshotMeta } from "../../../raft/core/mod.ts";
import type { RaftNode } from "../../../raft/node.ts";
import type { RaftNodeOptions, RaftStorage, StateMachine } from "../../../raft/node_options.ts";
import { app, mkCore, ofType } from "./core_kit.ts";
import { quietNode } from "./node_kit.ts";

export const members = ["a", "b", "c"];
export const membership = { members: members.map((id) => ({ id, addr: `${id}:1`, suffrage: "voter" as const })) };

/** Entries from..to of term 2, each `bytes` long and filled with its index. */
export function entries(from: number, to: number, bytes = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term: 2, kind: "normal", data: new Uint8Array(bytes).fill(i & 0xff) });
  return out;
}

export interface FollowerParts {
  /** Called by persist after it recorded the append (if any). */
  onPersist?: (hardState: HardState | null, entries: readonly Entry[]) => void;
  /** Called by persistEntriesAsync after it recorded the append. */
  onPersistAsync?: (entries: readonly Entry[]) => void;
  /** Default: applies nothing, and a snapshot resolves at once, empty. */
  stateMachine?: StateMachine;
  /** Options over the quiet ones (start, onFatal and the parts above are the rig's). */
  options?: Partial<RaftNodeOptions>;
}

export interface Follower {
  node: RaftNode;
  /** "on loop F-L" / "off loop F-L", one per append made durable, in order. */
  syncs: string[];
  /** The held off-loop syncs' completions, oldest first. */
  pendingSyncs: ((error: Error | null) => void)[];
  /** Deferred turns not yet run. */
  queue: (() => void)[];
  /** Runs deferred turns, those they defer too, until none is left (at most 1,000). */
  run: () => void;
  /** The highest index acknowledged to the leader. */
  acked: () => number;
  /** Receives `n` more 16-byte entries from leader a (term 2; commit index: the last of them unless given), then runs. */
  append: (n: number, commit?: number) => void;
  /** What the node gave onFatal, or null. */
  fatal: () => unknown;
}

export function follower(parts: FollowerParts = {}): Follower {
  const core = mkCore("b", members);
  const sent: ReturnType<typeof ofType<"AppendEntriesReply">> = [];
  const syncs: string[] = [];
  const pendingSyncs: ((error: Error | null) => void)[] = [];
  const queue: (() => void)[] = [];
  const span = (e: readonly Entry[]): string => `${e[0]!.index}-${e[e.length - 1]!.index}`;
  const storage: RaftStorage = {
    persist: (h: HardState | null, _s: Snapshot | null, e: readonly Entry[]) => {
      if (e.length > 0) syncs.push(`on loop ${span(e)}`);
      parts.onPersist?.(h, e);
    },
    persistEntriesAsync: (e: readonly Entry[], done: (error: Error | null) => void) => {
      syncs.push(`off loop ${span(e)}`);
      pendingSyncs.push(done);
      parts.onPersistAsync?.(e);
    },
    saveSnapshot: (_m: SnapshotMeta, _d: Uint8Array, _c: number) => Promise.resolve(),
  };
  const stateMachine: StateMachine = parts.stateMachine ?? { apply: () => null, snapshot: () => Promise.resolve(new Uint8Array(0)), restore: () => {} };
  let fatal: unknown = null;
  const node = quietNode({
    core,
    storage,
    stateMachine,
    send: (m) => {
      if (m.type === "AppendEntriesReply") sent.push(m);
    },
    scheduler: { defer: (fn) => queue.push(fn) },
    ...parts.options,
    start: { lastIncludedIndex: 0, lastIncludedTerm: 0, membership },
    onFatal: (e) => (fatal = e),
  });
  const run = (): void => {
    for (let i = 0; i < 1000 && queue.length > 0; i++) queue.shift()!();
  };
  let last = 0;
  return {
    node,
    syncs,
    pendingSyncs,
    queue,
    run,
    acked: () => Math.max(0, ...sent.filter((m) => m.success).map((m) => m.matchIndex)),
    append: (n, commit = last + n) => {
      node.receive(app("a", "b", 2, last, last === 0 ? 0 : 2, entries(last + 1, last + n), commit));
      last += n;
      run();
    },
    fatal: () => fatal,
  };
}
