// Watchers of the simulated world (issue 16 item 5). In seeds that draw them (a stream of their
// own, so other seeds run exactly as before), a few watchers follow the changes of a prefix
// through the store's API (Store.watch, what GET /watch serves) on random live nodes; now and
// then one disconnects and resumes, on a random live node, after the last change it got (as
// Last-Event-ID does), and a crash or a snapshot install ends a watch the same way. A resume
// the node cannot serve (410: its history does not reach back) starts a new chain from now.
// At the end, each chain (the changes of one uninterrupted run of resumes) must be exactly the
// changes the committed log made to keys with the prefix between the chain's first index and
// the last one it reached: each change once, in index order, nothing missing. The reference is
// independent of the change feed: the committed entries (as the safety checker saw them
// applied) applied in order to a fresh state machine, diffing the whole state around each.

import type { Entry } from "../../../raft/core/mod.ts";
import type { Change } from "../../../store/change_feed.ts";
import { StoreError } from "../../../store/errors.ts";
import type { WatchResult } from "../../../store/watches.ts";
import { KvStateMachine } from "../../../store/state_machine.ts";
import { createSimRng, type SimRng } from "../prng.ts";
import type { SimServer, World } from "./world.ts";

/**
 * The stream of `seed`'s watchers, or null when it has none (6 seeds in 10). The label was
 * chosen so that no regression seed of world.test.ts draws it.
 */
export function drawWatchers(seed: number): SimRng | null {
  return createSimRng(seed).fork("watch-v16-6289").chance(0.4) ? createSimRng(seed).fork("watchers-v16") : null;
}

/** Changes received over resumes, from `from` on. */
interface Chain {
  readonly from: number;
  readonly changes: Change[];
  /** The index up to which the chain is complete: its last change's, or the node's applied index at the end. */
  until: number;
}

interface Watcher {
  readonly prefix: string;
  readonly chains: Chain[];
  /** The watch open now, and where. */
  open: { server: SimServer; life: number; close(): void } | null;
}

export class Watchers {
  readonly #world: World;
  readonly #rng: SimRng;
  readonly #watchers: Watcher[] = [];
  #isRunning = false;
  /** Counters for the report: resumes served, resumes refused as gone. */
  readonly counts = { resumes: 0, gone: 0, changes: 0 };

  constructor(world: World, rng: SimRng) {
    this.#world = world;
    this.#rng = rng;
    world.crashListeners.push((server) => {
      for (const w of this.#watchers) {
        if (w.open?.server !== server) continue;
        w.open = null; // the process is gone: its watch with it
        this.#later(w);
      }
    });
  }

  start(): void {
    this.#isRunning = true;
    const n = this.#rng.range(1, 3);
    for (let i = 0; i < n; i++) {
      const w: Watcher = { prefix: this.#rng.pick(["", "k", "k1", "k2"]), chains: [], open: null };
      this.#watchers.push(w);
      this.#later(w);
    }
  }

  /** No more disconnects or resumes; open watches stay open for the check. */
  stop(): void {
    this.#isRunning = false;
  }

  #later(w: Watcher): void {
    this.#world.scheduler.schedule(this.#rng.range(5, 200), () => this.#connect(w));
  }

  #connect(w: Watcher): void {
    if (!this.#isRunning || w.open !== null) return;
    const up = this.#world.up();
    if (up.length === 0) return this.#later(w);
    const server = this.#rng.pick(up);
    server.isDirty = true;
    const chain = w.chains[w.chains.length - 1];
    const after = chain === undefined ? null : chain.until;
    let result: WatchResult;
    try {
      // A resume's missed changes are sent at once, into the chain it resumes.
      result = this.#watch(server, w, after);
      if (result.type === "gone") {
        this.counts.gone++;
        this.#world.log(`watcher ${JSON.stringify(w.prefix)}: ${server.id} no longer holds the changes after ${after} (it holds those after ${result.start}): a new chain`);
        result = this.#watch(server, w, null);
        if (result.type === "gone") throw new Error(`watch: ${server.id} refused a watch from now as gone`);
        w.chains.push({ from: result.from, changes: [], until: result.from });
      } else if (chain === undefined) {
        w.chains.push({ from: result.from, changes: [], until: result.from });
      } else {
        this.counts.resumes++;
      }
    } catch (e) {
      if (!(e instanceof StoreError)) throw e;
      return this.#later(w); // removed, starting, too many watches: elsewhere, later
    }
    w.open = { server, life: server.lives, close: result.close };
    this.#world.scheduler.schedule(this.#rng.range(50, 1500), () => this.#disconnect(w, server.lives));
  }

  /** A watch of `w`'s prefix on `server` after `after`, its changes going to `w`'s last chain. */
  #watch(server: SimServer, w: Watcher, after: number | null): WatchResult {
    return server.opened!.store.watch(w.prefix, after, {
      change: (c) => {
        const current = w.chains[w.chains.length - 1]!;
        current.changes.push(c);
        current.until = c.index;
        this.counts.changes++;
      },
      keepalive: () => {},
      end: () => {
        w.open = null;
        if (this.#isRunning) this.#later(w);
      },
    });
  }

  #disconnect(w: Watcher, life: number): void {
    if (!this.#isRunning || w.open === null || w.open.life !== life) return;
    w.open.close();
    w.open = null;
    this.#later(w);
  }

  /**
   * After the run: every chain is exactly the reference's changes to its prefix in (from,
   * until], where an open watch's chain reaches its node's applied index (nothing may be left
   * unsent). Throws naming the first difference.
   */
  check(committed: ReadonlyMap<number, Entry>): { chains: number; changes: number } {
    for (const w of this.#watchers) {
      if (w.open === null) continue;
      const chain = w.chains[w.chains.length - 1]!;
      chain.until = Math.max(chain.until, w.open.server.opened!.node.lastApplied);
    }
    const reach = Math.max(0, ...this.#watchers.flatMap((w) => w.chains.map((c) => c.until)));
    const reference = referenceChanges(committed, reach);
    let chains = 0;
    for (const w of this.#watchers) {
      for (const chain of w.chains) {
        if (chain.until > reference.complete) continue; // a gap in what the checker saw applied: cannot judge
        chains++;
        const want = reference.changes.filter((c) => c.index > chain.from && c.index <= chain.until && c.key.startsWith(w.prefix));
        const got = chain.changes;
        const describe = (cs: readonly Change[]): string => cs.map((c) => `${c.index}:${c.key}=${c.value ?? "(deleted)"}`).join(" ");
        if (canonical(got) !== canonical(want) || !isInOrder(got)) {
          throw new Error(
            `watch: prefix ${JSON.stringify(w.prefix)} from ${chain.from} to ${chain.until}: got ${describe(got)}; the log made ${describe(want)}`,
          );
        }
      }
    }
    return { chains, changes: this.counts.changes };
  }
}

/** Changes sorted by index then key: within one entry the order may differ (a multi-key set's keys). */
function canonical(changes: readonly Change[]): string {
  return JSON.stringify([...changes].sort((x, y) => x.index - y.index || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0)));
}

function isInOrder(changes: readonly Change[]): boolean {
  return changes.every((c, i) => i === 0 || changes[i - 1]!.index <= c.index);
}

/**
 * The changes each committed entry made, up to `reach`: the entries applied in order to a fresh
 * state machine, each key whose value or version differs after an entry a change of it.
 * `complete`: the last index before the first one the checker never saw applied.
 */
function referenceChanges(committed: ReadonlyMap<number, Entry>, reach: number): { changes: Change[]; complete: number } {
  const sm = new KvStateMachine();
  const changes: Change[] = [];
  let state = new Map<string, string>();
  for (let index = 1; index <= reach; index++) {
    const e = committed.get(index);
    if (e === undefined) return { changes, complete: index - 1 };
    if (e.kind !== "normal") continue;
    sm.apply(e.data, index);
    const next = new Map<string, string>();
    for (const [key, value, version] of versioned(sm)) next.set(key, `${version} ${value}`);
    for (const key of state.keys()) if (!next.has(key)) changes.push({ index, key, value: null });
    for (const [key, now] of next) {
      if (state.get(key) !== now) changes.push({ index, key, value: now.slice(now.indexOf(" ") + 1) });
    }
    state = next;
  }
  return { changes, complete: reach };
}

function* versioned(sm: KvStateMachine): Generator<[string, string, number]> {
  for (const [key, value] of sm.entries()) yield [key, value, sm.versionOf(key) ?? 0];
}
