// Wing–Gong–Lowe linearizability search with memoization of (linearized set, model state),
// generic over a sequential model. The KV-specific partitioning lives in linearizability.ts.

/** An operation with real-time bounds; completeTime is Infinity when it may never have returned. */
export interface TimedOp {
  readonly invokeTime: number;
  readonly completeTime: number;
}

/** A sequential specification: `step` returns the next state, or null if `op` cannot happen in `state`. */
export interface SeqModel<S, O> {
  readonly init: S;
  step(state: S, op: O): S | null;
  /** A string that identifies the state, for the memo table. */
  key(state: S): string;
}

/** ok: a linearization exists; fail: none does (longest = op indexes of the deepest partial order); budget: gave up. */
export type SearchResult =
  | { readonly type: "ok"; readonly order: readonly number[] }
  | { readonly type: "fail"; readonly longest: readonly number[] }
  | { readonly type: "budget" };

interface Events {
  /** For each event node (0 = head sentinel): op index, or -1 for the head. */
  readonly op: Int32Array;
  readonly isCall: Uint8Array;
  /** For a call node: its return node, or -1 when the op never returns. */
  readonly match: Int32Array;
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly returnsTotal: number;
}

function buildEvents(ops: readonly TimedOp[]): Events {
  const raw: { time: number; isCall: boolean; op: number }[] = [];
  ops.forEach((o, i) => {
    raw.push({ time: o.invokeTime, isCall: true, op: i });
    if (Number.isFinite(o.completeTime)) raw.push({ time: o.completeTime, isCall: false, op: i });
  });
  // Ties: calls before returns, so that ops touching the same instant count as concurrent
  // (the lenient, never-wrong reading of equal timestamps).
  raw.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.op - b.op);
  const n = raw.length + 1;
  const ev: Events = {
    op: new Int32Array(n), isCall: new Uint8Array(n), match: new Int32Array(n).fill(-1),
    next: new Int32Array(n), prev: new Int32Array(n), returnsTotal: raw.filter((r) => !r.isCall).length,
  };
  ev.op[0] = -1;
  const callNode = new Int32Array(ops.length);
  raw.forEach((r, i) => {
    const node = i + 1;
    ev.op[node] = r.op;
    ev.isCall[node] = r.isCall ? 1 : 0;
    if (r.isCall) callNode[r.op] = node;
    else ev.match[callNode[r.op]!] = node;
  });
  for (let i = 0; i < n; i++) {
    ev.next[i] = i + 1 < n ? i + 1 : -1;
    ev.prev[i] = i - 1;
  }
  return ev;
}

function unlink(ev: Events, node: number): void {
  const p = ev.prev[node]!, nx = ev.next[node]!;
  ev.next[p] = nx;
  if (nx !== -1) ev.prev[nx] = p;
}

function relink(ev: Events, node: number): void {
  const p = ev.prev[node]!, nx = ev.next[node]!;
  ev.next[p] = node;
  if (nx !== -1) ev.prev[nx] = node;
}

/**
 * Searches for a linearization of `ops` under `model` (Lowe, "Testing for linearizability",
 * 2017, with the memo table of Wing & Gong's algorithm). Ops whose completeTime is Infinity
 * may be linearized anywhere after their invocation, or never: the search ends as soon as
 * every op with a finite completion has been placed.
 */
export function searchLinearization<S, O extends TimedOp>(
  ops: readonly O[],
  model: SeqModel<S, O>,
  stepsMax: number,
): SearchResult {
  const ev = buildEvents(ops);
  const words = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const memo = new Set<string>();
  const stack: { node: number; state: S }[] = [];
  let state = model.init;
  let returnsLeft = ev.returnsTotal;
  let longest: number[] = [];
  let node = ev.next[0]!;
  for (let steps = 0; returnsLeft > 0; steps++) {
    if (steps > stepsMax) return { type: "budget" };
    if (node === -1) return { type: "fail", longest }; // defensive: cannot happen while returns remain
    const opIndex = ev.op[node]!;
    if (ev.isCall[node] === 1) {
      const next = model.step(state, ops[opIndex]!);
      let advanced = false;
      if (next !== null) {
        words[opIndex >> 5]! ^= 1 << (opIndex & 31);
        const key = `${words.join(",")}|${model.key(next)}`;
        if (!memo.has(key)) {
          memo.add(key);
          stack.push({ node, state });
          state = next;
          unlink(ev, node);
          const ret = ev.match[node]!;
          if (ret !== -1) { unlink(ev, ret); returnsLeft--; }
          if (stack.length > longest.length) longest = stack.map((s) => ev.op[s.node]!);
          node = ev.next[0]!;
          advanced = true;
        } else {
          words[opIndex >> 5]! ^= 1 << (opIndex & 31);
        }
      }
      if (!advanced) node = ev.next[node]!;
    } else {
      // A return reached while its op is still unplaced: undo the newest choice.
      const top = stack.pop();
      if (top === undefined) return { type: "fail", longest };
      const topOp = ev.op[top.node]!;
      words[topOp >> 5]! ^= 1 << (topOp & 31);
      state = top.state;
      const ret = ev.match[top.node]!;
      if (ret !== -1) { relink(ev, ret); returnsLeft++; }
      relink(ev, top.node);
      node = ev.next[top.node]!;
    }
  }
  return { type: "ok", order: stack.map((s) => ev.op[s.node]!) };
}
