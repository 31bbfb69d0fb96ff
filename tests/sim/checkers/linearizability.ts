// Linearizability of a client history against a key-value model: each key is a register in
// which absence is a value of its own, checked per key (P-compositionality, Horn & Kroening),
// and multi-key sets are checked all-or-nothing over the keys they link together.

import { unreachable } from "../../../raft/core/mod.ts";
import { searchLinearization, type SeqModel } from "./wgl.ts";

/** A client operation on the store. `read.value` is what the read returned (null: absent). */
export type KvOp =
  | { readonly type: "set"; readonly values: Readonly<Record<string, string>> }
  | { readonly type: "delete"; readonly key: string }
  | { readonly type: "read"; readonly key: string; readonly value: string | null };

/**
   * A conditional write (issue 16): `key` set to `value` only if it holds `expect` (null:
   * absent, as If-None-Match: *; else the value a read returned with the version its If-Match
   * names: every write's value is unique, so the value stands for the version). `written`:
   * true for 200, false for 412 (the key did not hold `expect`), null when unknown.
   */
export type CasOp = { readonly type: "cas"; readonly key: string; readonly expect: string | null; readonly value: string; readonly written: boolean | null };

/**
 * The expiry of a value written with a TTL (issue 16 item 4): `key` is deleted if it still
 * holds `value` (every write's value is unique, so a later write, a refresh above all, makes
 * it a no-op). The simulator's clients record one per key of each set with a TTL, from the
 * set's invocation + TTL to its completion + TTL: the leader stamps the write between the two,
 * the deadline is that stamp (or the log clock, no later) + TTL, and no read at the
 * linearizable or leader level may return the value once its deadline has passed.
 */
export type ExpireOp = { readonly type: "expire"; readonly key: string; readonly value: string };

/** What the checker takes: the plain operations (the chaos suite's too), conditional writes and expiries. */
export type CheckedOp = KvOp | CasOp | ExpireOp;

/** ok: took effect / returned; fail: definitely did not take effect; unknown: may or may not have. */
export type Outcome = "ok" | "fail" | "unknown";

/**
 * One operation of the history. Invariant: invokeTime ≤ completeTime; unknown ⇒ completeTime =
 * Infinity. Plain operations by default (the chaos suite's); the simulator's include CasOp.
 */
export interface HistoryOp<O extends CheckedOp = KvOp> {
  readonly id: number;
  readonly client: number;
  readonly op: O;
  readonly invokeTime: number;
  readonly completeTime: number;
  readonly outcome: Outcome;
}

/** The checker's answer; on failure, the offending key (or key group) and a small witness. */
export type Verdict =
  | { readonly ok: true; readonly keysChecked: number; readonly opsChecked: number; readonly inconclusive: readonly string[] }
  | { readonly ok: false; readonly key: string; readonly description: string; readonly witness: readonly HistoryOp<CheckedOp>[] };

/** Search limits: steps per partition before giving up (reported as inconclusive, not as a pass). */
export interface CheckOptions {
  readonly stepsMax?: number;
}

/** One op restricted to a set of keys; `writes` maps key → new value (null = delete). */
interface Projected {
  readonly src: HistoryOp<CheckedOp>;
  readonly invokeTime: number;
  readonly completeTime: number;
  readonly writes: ReadonlyMap<string, string | null>;
  readonly read: { readonly key: string; readonly value: string | null } | null;
  /** A conditional write's condition: the key must hold `expect` (or, `refused`, must not). */
  readonly cond: { readonly key: string; readonly expect: string | null; readonly refused: boolean } | null;
  /** An expiry: the key is deleted if it holds `value`, else nothing happens. */
  readonly expire?: { readonly key: string; readonly value: string };
}

type KeyState = ReadonlyMap<string, string | null>;

function keysOf(op: CheckedOp): string[] {
  switch (op.type) {
    case "set": return Object.keys(op.values);
    case "delete": return [op.key];
    case "read": return [op.key];
    case "cas": return [op.key];
    case "expire": return [op.key];
    default: return unreachable(op);
  }
}


/** Drops what cannot constrain the order: failed ops, and reads that did not return. */
function relevant(history: readonly HistoryOp<CheckedOp>[]): HistoryOp<CheckedOp>[] {
  return history.filter((h) => h.outcome === "ok" || (h.outcome === "unknown" && h.op.type !== "read"));
}

function project(h: HistoryOp<CheckedOp>, keys: ReadonlySet<string>): Projected | null {
  const completeTime = h.outcome === "unknown" ? Infinity : h.completeTime;
  const base = { src: h, invokeTime: h.invokeTime, completeTime, cond: null };
  const op = h.op;
  switch (op.type) {
    case "read":
      return keys.has(op.key) ? { ...base, writes: new Map(), read: { key: op.key, value: op.value } } : null;
    case "delete":
      return keys.has(op.key) ? { ...base, writes: new Map([[op.key, null]]), read: null } : null;
    case "set": {
      const writes = new Map<string, string | null>();
      for (const [k, v] of Object.entries(op.values)) if (keys.has(k)) writes.set(k, v);
      return writes.size > 0 ? { ...base, writes, read: null } : null;
    }
    case "cas": {
      if (!keys.has(op.key)) return null;
      const refused = op.written === false;
      return { ...base, writes: refused ? new Map() : new Map([[op.key, op.value]]), read: null, cond: { key: op.key, expect: op.expect, refused } };
    }
    case "expire":
      return keys.has(op.key) ? { ...base, writes: new Map(), read: null, expire: { key: op.key, value: op.value } } : null;
    default:
      return unreachable(op);
  }
}

function kvModel(keys: readonly string[]): SeqModel<KeyState, Projected> {
  return {
    init: new Map(keys.map((k) => [k, null])),
    step(state, op) {
      if (op.read !== null) return (state.get(op.read.key) ?? null) === op.read.value ? state : null;
      if (op.expire !== undefined) {
        if ((state.get(op.expire.key) ?? null) !== op.expire.value) return state;
        const next = new Map(state);
        next.set(op.expire.key, null);
        return next;
      }
      if (op.cond !== null) {
        const holds = (state.get(op.cond.key) ?? null) === op.cond.expect;
        if (op.cond.refused) return holds ? null : state;
        if (!holds) return null;
      }
      const next = new Map(state);
      for (const [k, v] of op.writes) next.set(k, v);
      return next;
    },
    key(state) {
      return keys.map((k) => { const v = state.get(k) ?? null; return v === null ? "\u0000" : `=${v}`; }).join("\u0001");
    },
  };
}

type PartitionResult = "ok" | "fail" | "budget";

function checkPartition(ops: readonly Projected[], keys: readonly string[], stepsMax: number): PartitionResult {
  return searchLinearization(ops, kvModel(keys), stepsMax).type;
}

/**
 * Shrinks a failing partition to a small witness: the shortest failing prefix by invocation,
 * then one-at-a-time removal of ops that are not needed to fail (never removing a write whose
 * value a kept read observed, so the witness keeps its story instead of a "read from nowhere").
 */
function shrink(ops: readonly Projected[], keys: readonly string[], stepsMax: number): Projected[] {
  const sorted = [...ops].sort((a, b) => a.invokeTime - b.invokeTime);
  let n = 1;
  while (n < sorted.length && checkPartition(sorted.slice(0, n), keys, stepsMax) !== "fail") n++;
  let kept = sorted.slice(0, n);
  for (let i = kept.length - 1; i >= 0 && kept.length <= 200; i--) {
    const candidate = kept[i]!;
    const observed = kept.some((o) => o.read !== null && [...candidate.writes].some(
      ([k, v]) => v !== null && o.read!.key === k && o.read!.value === v));
    if (observed) continue;
    const without = kept.filter((_, j) => j !== i);
    if (checkPartition(without, keys, stepsMax) === "fail") kept = without;
  }
  return kept;
}

function describeOp(h: HistoryOp<CheckedOp>): string {
  const t = `[${h.invokeTime}, ${Number.isFinite(h.completeTime) && h.outcome !== "unknown" ? h.completeTime : "∞"}]`;
  const op = h.op;
  switch (op.type) {
    case "set": return `#${h.id} c${h.client} set ${JSON.stringify(op.values)} ${h.outcome} ${t}`;
    case "delete": return `#${h.id} c${h.client} delete ${op.key} ${h.outcome} ${t}`;
    case "read": return `#${h.id} c${h.client} read ${op.key} -> ${op.value === null ? "absent" : JSON.stringify(op.value)} ${t}`;
    case "cas":
      return `#${h.id} c${h.client} set ${op.key}=${JSON.stringify(op.value)} if ${op.expect === null ? "absent" : `=${JSON.stringify(op.expect)}`} -> ${op.written === null ? "?" : op.written ? "written" : "412"} ${h.outcome} ${t}`;
    case "expire":
      return `#${h.id} c${h.client} expiry of ${op.key}=${JSON.stringify(op.value)} (TTL) ${h.outcome} ${t}`;
    default: return unreachable(op);
  }
}

/** Groups keys linked by multi-key sets (union-find); only groups with such a set are returned. */
function multiKeyGroups(ops: readonly HistoryOp<CheckedOp>[]): string[][] {
  const parent = new Map<string, string>();
  function find(k: string): string {
    let r = k;
    while (parent.get(r) !== undefined && parent.get(r) !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  }
  const linked = new Set<string>();
  for (const h of ops) {
    const ks = keysOf(h.op);
    if (h.op.type !== "set" || ks.length < 2) continue;
    for (const k of ks) { if (!parent.has(k)) parent.set(k, k); linked.add(k); }
    for (const k of ks.slice(1)) parent.set(find(k), find(ks[0]!));
  }
  const groups = new Map<string, string[]>();
  for (const k of [...linked].sort()) {
    const r = find(k);
    groups.set(r, [...(groups.get(r) ?? []), k]);
  }
  return [...groups.values()];
}

function checkGroup(ops: readonly HistoryOp<CheckedOp>[], keys: string[], stepsMax: number): Verdict | "budget" | null {
  const set = new Set(keys);
  const projected = ops.map((h) => project(h, set)).filter((p): p is Projected => p !== null);
  const result = checkPartition(projected, keys, stepsMax);
  if (result === "ok") return null;
  if (result === "budget") return "budget";
  const witness = shrink(projected, keys, stepsMax).map((p) => p.src);
  const name = keys.length === 1 ? keys[0]! : `{${keys.join(",")}}`;
  const what = keys.length === 1 ? "register" : "all-or-nothing multi-key";
  return {
    ok: false, key: name, witness,
    description: `key ${name}: no ${what} linearization exists; witness:\n  ${witness.map(describeOp).join("\n  ")}`,
  };
}

/**
 * Checks that `history` is linearizable for a key-value store: first each key on its own
 * (multi-key sets split per key), then each group of keys linked by multi-key sets as one
 * state, so a set that is visible on one key but not another is caught.
 */
export function checkLinearizable(history: readonly HistoryOp<CheckedOp>[], options: CheckOptions = {}): Verdict {
  const stepsMax = options.stepsMax ?? 2_000_000;
  const ops = relevant(history);
  const byKey = new Map<string, HistoryOp<CheckedOp>[]>();
  for (const h of ops) {
    for (const k of keysOf(h.op)) {
      const list = byKey.get(k);
      if (list === undefined) byKey.set(k, [h]);
      else list.push(h);
    }
  }
  const inconclusive: string[] = [];
  for (const key of [...byKey.keys()].sort()) {
    const v = checkGroup(byKey.get(key)!, [key], stepsMax);
    if (v === "budget") inconclusive.push(key);
    else if (v !== null) return v;
  }
  for (const keys of multiKeyGroups(ops)) {
    const set = new Set(keys);
    const groupOps = ops.filter((h) => keysOf(h.op).some((k) => set.has(k)));
    const v = checkGroup(groupOps, keys, stepsMax);
    if (v === "budget") inconclusive.push(`{${keys.join(",")}}`);
    else if (v !== null) return v;
  }
  return { ok: true, keysChecked: byKey.size, opsChecked: ops.length, inconclusive };
}
