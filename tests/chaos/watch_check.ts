// The check of the chaos watchers (issue 16 item 5): every chain (./watcher.ts) must be exactly
// the changes the committed log made to keys with its prefix, from where it started to its
// last event: each change once, in index order, nothing missing in between, across every resume.
// The reference is independent of the change feed, as the simulator's: after the run, with
// every node stopped, a node's data directory is read back with the node's own storage
// recovery (snapshot + log), the snapshot restored into a fresh state machine and the log's
// entries applied in order, diffing the whole state around each. The log before the
// snapshot is gone, so a chain is judged only after the snapshot's index, against the node
// whose log reaches the chain's last event and starts earliest; a run with a high snapshot
// threshold keeps its whole log, one with -snapshot-threshold 64 only its last entries. Where
// the logs do not reach, chains are judged against each other (checkChainsAgree).

import { createFsDisk } from "../../raft/disk.ts";
import { openStorage } from "../../raft/storage.ts";
import { KvStateMachine } from "../../store/state_machine.ts";
import type { Anomaly } from "./checks.ts";
import type { WatchChain, WatchedChange } from "./watcher.ts";

/** The changes the log of one data directory made, after index `start`, up to its last entry. */
export interface LogChanges {
  readonly start: number;
  readonly end: number;
  readonly changes: readonly WatchedChange[];
}

/** Reads `dataDir` (its node must be stopped) and replays it; see the header. */
export function logChanges(dataDir: string): LogChanges {
  const disk = createFsDisk();
  const { initial } = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir });
  const sm = new KvStateMachine();
  const start = initial.snapshot === null ? 0 : initial.snapshot.meta.lastIncludedIndex;
  if (initial.snapshot !== null) sm.restore(initial.snapshot.data);
  let state = stateOf(sm);
  const changes: WatchedChange[] = [];
  let end = start;
  for (const e of initial.entries) {
    end = e.index;
    if (e.kind !== "normal") continue;
    sm.apply(e.data, e.index);
    const next = stateOf(sm);
    for (const key of state.keys()) if (!next.has(key)) changes.push({ index: e.index, key, value: null });
    for (const [key, now] of next) if (state.get(key) !== now) changes.push({ index: e.index, key, value: now.slice(now.indexOf(" ") + 1) });
    state = next;
  }
  return { start, end, changes };
}

/** Each key's "<version> <value>": a rewrite of the same value is a change too. */
function stateOf(sm: KvStateMachine): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of sm.entries()) out.set(key, `${sm.versionOf(key) ?? 0} ${value}`);
  return out;
}

/** Sorted by index then key: within one entry the order may differ (a multi-key set's keys). */
function canonical(changes: readonly WatchedChange[]): string {
  return JSON.stringify([...changes].sort((x, y) => x.index - y.index || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0)).map((c) => [c.index, c.key, c.value]));
}

function describeChanges(cs: readonly WatchedChange[]): string {
  const text = cs.map((c) => `${c.index}:${c.key}=${c.value ?? "(deleted)"}`).join(" ");
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

/**
 * What the server itself reported applying: every write's value is unique, so one value of a key
 * at two log indexes, in any chains, is a write applied twice (an Idempotency-Key retry applied
 * again). This judges the nodes' own applies, where the replay above runs this build's state
 * machine on their log (which would dedup a retry the node applied twice).
 */
export function checkChainsAppliedOnce(chains: readonly WatchChain[]): Anomaly[] {
  const at = new Map<string, number>();
  const reported = new Set<string>();
  const out: Anomaly[] = [];
  for (const chain of chains) {
    for (const c of chain.changes) {
      if (c.value === null) continue;
      const id = `${c.key}\u0000${c.value}`;
      const first = at.get(id);
      if (first === undefined) at.set(id, c.index);
      else if (first !== c.index && !reported.has(id)) {
        reported.add(id);
        out.push({ kind: "appliedTwice", message: `watch ${JSON.stringify(chain.prefix)}: ${c.key}=${c.value} changed at index ${first} and again at ${c.index}` });
      }
    }
  }
  return out;
}

/**
 * Anomalies of the chains against the nodes' logs: for each chain, the changes in (from, until]
 * where `from` is where its first watch started (X-Applied-Index; else just before its first
 * event), or the log's start if later, and `until` its
 * last event, must equal the log's changes to keys with its prefix there, in index order.
 */
export function checkWatchChains(
  chains: readonly WatchChain[],
  logs: readonly LogChanges[],
): { anomalies: Anomaly[]; judged: number; changes: number; agreed: { pairs: number; changes: number } } {
  const anomalies: Anomaly[] = [];
  let judged = 0;
  let changes = 0;
  for (const chain of chains) {
    const first = chain.changes[0];
    if (first === undefined) continue;
    const inOrder = chain.changes.every((c, i) => i === 0 || chain.changes[i - 1]!.index <= c.index);
    if (!inOrder) {
      anomalies.push({ kind: "watchMismatch", message: `watch ${JSON.stringify(chain.prefix)} via nodes ${chain.nodes.join(",")}: events out of index order: ${describeChanges(chain.changes)}` });
      continue;
    }
    // A watch sends only what comes after the index it started after: an event at or before it
    // would otherwise be dropped unjudged below (the comparison starts after `from`).
    if (chain.from !== null && first.index <= chain.from) {
      anomalies.push({ kind: "watchMismatch", message: `watch ${JSON.stringify(chain.prefix)} via nodes ${chain.nodes.join(",")}: an event at ${first.index}, not after the index ${chain.from} its first watch started after` });
      continue;
    }
    const until = chain.changes[chain.changes.length - 1]!.index;
    const reaching = logs.filter((l) => l.end >= until).sort((a, b) => a.start - b.start);
    const log = reaching[0] ?? logs.reduce<LogChanges | null>((m, l) => (m === null || l.end > m.end ? l : m), null);
    if (log === null) continue;
    const from = Math.max(chain.from ?? first.index - 1, log.start);
    if (until <= from) continue; // wholly before the log the reference holds
    if (until > log.end) {
      anomalies.push({ kind: "watchMismatch", message: `watch ${JSON.stringify(chain.prefix)}: an event at ${until}, past the committed log's end ${log.end}` });
      continue;
    }
    judged++;
    const got = chain.changes.filter((c) => c.index > from);
    changes += got.length;
    const want = log.changes.filter((c) => c.index > from && c.index <= until && c.key.startsWith(chain.prefix));
    if (canonical(got) !== canonical(want)) {
      anomalies.push({
        kind: "watchMismatch",
        message: `watch ${JSON.stringify(chain.prefix)} via nodes ${chain.nodes.join(",")} from ${from} to ${until}: got ${describeChanges(got)}; the log made ${describeChanges(want)}`,
      });
    }
  }
  const agreed = checkChainsAgree(chains);
  anomalies.push(...agreed.anomalies);
  anomalies.push(...checkChainsAppliedOnce(chains));
  return { anomalies, judged, changes, agreed: { pairs: agreed.pairs, changes: agreed.changes } };
}

/**
 * Chains judged against each other, where no log may reach (a run that snapshots often keeps
 * only its last entries): over the span both cover, a chain must report exactly the changes
 * that a chain of a shorter prefix reports for keys with its prefix. Two correct chains always
 * agree there (each reports every change after where it started, whole entries at a time), so
 * a disagreement is a missing, repeated or invented change in one of them, from different
 * nodes and resumes. Chains out of index order are left to checkWatchChains.
 */
export function checkChainsAgree(chains: readonly WatchChain[]): { anomalies: Anomaly[]; pairs: number; changes: number } {
  const out: Anomaly[] = [];
  let pairs = 0;
  let changes = 0;
  const spans = chains.flatMap((chain) => {
    const first = chain.changes[0];
    if (first === undefined) return [];
    if (!chain.changes.every((c, i) => i === 0 || chain.changes[i - 1]!.index <= c.index)) return [];
    return [{ chain, from: chain.from ?? first.index - 1, until: chain.changes[chain.changes.length - 1]!.index }];
  });
  for (const wide of spans) {
    for (const narrow of spans) {
      if (wide === narrow || !narrow.chain.prefix.startsWith(wide.chain.prefix)) continue;
      // Equal prefixes: each pair once.
      if (wide.chain.prefix === narrow.chain.prefix && spans.indexOf(wide) > spans.indexOf(narrow)) continue;
      const from = Math.max(wide.from, narrow.from);
      const until = Math.min(wide.until, narrow.until);
      if (until <= from) continue;
      const inSpan = (c: WatchedChange): boolean => c.index > from && c.index <= until && c.key.startsWith(narrow.chain.prefix);
      const a = wide.chain.changes.filter(inSpan);
      const b = narrow.chain.changes.filter(inSpan);
      pairs++;
      changes += b.length;
      if (canonical(a) !== canonical(b)) {
        out.push({
          kind: "watchMismatch",
          message: `watches ${JSON.stringify(wide.chain.prefix)} via nodes ${wide.chain.nodes.join(",")} and ${JSON.stringify(narrow.chain.prefix)} via nodes ${narrow.chain.nodes.join(",")} disagree from ${from} to ${until}: ${describeChanges(a)}; and ${describeChanges(b)}`,
        });
      }
    }
  }
  return { anomalies: out, pairs, changes };
}
