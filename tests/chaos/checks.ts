// The end-of-run checks of a chaos history: linearizability per key (the tests/sim checker),
// no read of a value that was never written or whose write failed, no acknowledged write lost,
// multi-key writes all-or-nothing on every node, every node converged, no 500s.

import { checkLinearizable, type Verdict } from "../sim/checkers/linearizability.ts";
import type { ChaosOp, KeySpace } from "./workload.ts";

/** One thing the run proved wrong. */
export interface Anomaly {
  readonly kind:
    | "nonLinearizable"
    | "readFromNowhere"
    | "failedWriteVisible"
    | "lostWrite"
    | "tornMultiKeyWrite"
    | "diverged"
    | "internalError"
    | "notHealed";
  readonly message: string;
}

/** Internal errors listed one by one before the rest are only counted. */
const internalErrorsListedMax = 5;

function describe(op: ChaosOp): string {
  const t = `[${op.invokeTime.toFixed(1)}, ${op.outcome === "unknown" ? "∞" : op.returnTime.toFixed(1)}]`;
  const what = op.op.type === "read"
    ? `read(${op.level}) ${op.op.key} -> ${op.op.value === null ? "absent" : op.op.value}`
    : op.op.type === "delete" ? `delete ${op.op.key}` : `set ${JSON.stringify(op.op.values)}`;
  return `#${op.id} c${op.client} node${op.node} ${what} ${op.outcome} ${t}`;
}

/** Whether `op` writes `key` (a set naming it, or a delete of it). */
function writesKey(op: ChaosOp, key: string): boolean {
  return (op.op.type === "set" && key in op.op.values) || (op.op.type === "delete" && op.op.key === key);
}

/** set ops by key and value written. */
function writersIndex(history: readonly ChaosOp[]): Map<string, Map<string, ChaosOp[]>> {
  const index = new Map<string, Map<string, ChaosOp[]>>();
  for (const h of history) {
    if (h.op.type !== "set") continue;
    for (const [k, v] of Object.entries(h.op.values)) {
      const byValue = index.get(k) ?? new Map<string, ChaosOp[]>();
      index.set(k, byValue);
      byValue.set(v, [...(byValue.get(v) ?? []), h]);
    }
  }
  return index;
}

/** Reads at any level must return a value some write that did not fail wrote (or absence). */
function checkReadsFromWrites(history: readonly ChaosOp[]): Anomaly[] {
  const index = writersIndex(history);
  const out: Anomaly[] = [];
  for (const h of history) {
    if (h.op.type !== "read" || h.outcome !== "ok" || h.op.value === null) continue;
    const writers = index.get(h.op.key)?.get(h.op.value) ?? [];
    if (writers.length === 0) out.push({ kind: "readFromNowhere", message: `${describe(h)}: no write of that value` });
    else if (writers.every((w) => w.outcome === "fail")) {
      out.push({ kind: "failedWriteVisible", message: `${describe(h)} saw the write ${describe(writers[0]!)} that was answered as not applied` });
    }
  }
  return out;
}

/**
 * For each key, the value finally read must come from a write not wholly before some
 * acknowledged write of that key (else that acknowledged write was lost).
 */
function checkNoLostWrites(history: readonly ChaosOp[], finalReads: readonly ChaosOp[]): Anomaly[] {
  const out: Anomaly[] = [];
  for (const f of finalReads) {
    if (f.op.type !== "read" || f.outcome !== "ok") continue;
    const key = f.op.key;
    const value = f.op.value;
    const writes = history.filter((h) => writesKey(h, key));
    const acked = writes.filter((h) => h.outcome === "ok");
    const candidates = writes.filter((h) => h.outcome !== "fail" && (value === null
      ? h.op.type === "delete"
      : h.op.type === "set" && h.op.values[key] === value));
    const endOf = (h: ChaosOp): number => (h.outcome === "unknown" ? Infinity : h.returnTime);
    // Absence may also be the initial state, which "ends" before everything.
    const ends = candidates.map(endOf);
    if (value === null) ends.push(-Infinity);
    const latestAcked = acked.reduce<ChaosOp | null>((m, h) => (m === null || h.invokeTime > m.invokeTime ? h : m), null);
    if (latestAcked === null || ends.length === 0 && value !== null) continue;
    const isExplained = ends.some((end, i) => acked.every((a) => a === candidates[i] || a.invokeTime <= end));
    if (!isExplained) {
      out.push({ kind: "lostWrite", message: `key ${key}: final ${describe(f)}, yet ${describe(latestAcked)} was acknowledged after every write of that value` });
    }
  }
  return out;
}

/** Checks the whole history plus the final linearizable reads made after healing. */
export function checkHistory(history: readonly ChaosOp[], finalReads: readonly ChaosOp[]): { anomalies: Anomaly[]; verdict: Verdict } {
  const anomalies: Anomaly[] = [];
  const all = [...history, ...finalReads];
  const internal = all.filter((h) => h.isInternalError);
  for (const h of internal.slice(0, internalErrorsListedMax)) anomalies.push({ kind: "internalError", message: `${describe(h)}: ${h.detail}` });
  if (internal.length > internalErrorsListedMax) {
    anomalies.push({ kind: "internalError", message: `…and ${internal.length - internalErrorsListedMax} more answers of 500` });
  }
  anomalies.push(...checkReadsFromWrites(all));
  anomalies.push(...checkNoLostWrites(history, finalReads));
  // Leader and stale reads may legitimately be stale; only linearizable reads are checked.
  const checked = all.filter((h) => h.op.type !== "read" || h.level === "linearizable");
  const verdict = checkLinearizable(checked);
  if (!verdict.ok) anomalies.push({ kind: "nonLinearizable", message: verdict.description });
  return { anomalies, verdict };
}

/**
 * Every node's final state (from stale reads after the cluster converged) must equal the final
 * linearizable reads, and every key group must hold one token (or nothing) on every node.
 */
export function checkFinalStates(
  states: ReadonlyArray<ReadonlyMap<string, string | null> | null>,
  finalReads: readonly ChaosOp[],
  keys: KeySpace,
): Anomaly[] {
  const out: Anomaly[] = [];
  const expected = new Map<string, string | null>();
  for (const f of finalReads) if (f.op.type === "read" && f.outcome === "ok") expected.set(f.op.key, f.op.value);
  states.forEach((state, node) => {
    if (state === null) {
      out.push({ kind: "diverged", message: `node${node}: its state could not be read` });
      return;
    }
    for (const [key, want] of expected) {
      const got = state.get(key);
      if (got !== want) out.push({ kind: "diverged", message: `node${node}: ${key}=${got ?? "absent"}, the cluster says ${want ?? "absent"}` });
    }
    for (const group of keys.groups) {
      const values = new Set(group.map((k) => state.get(k) ?? null));
      if (values.size > 1) {
        out.push({ kind: "tornMultiKeyWrite", message: `node${node}: ${group.map((k) => `${k}=${state.get(k) ?? "absent"}`).join(" ")}` });
      }
    }
  });
  return out;
}
