// The end-of-run checks of a chaos history: linearizability per key (the tests/sim checker),
// no read of a value that was never written or whose write failed, no acknowledged write lost,
// multi-key writes all-or-nothing on every node, every node converged, no 500s. Issue 16: no
// value of a key seen at two versions (its write was applied at two log indexes: an
// Idempotency-Key retry applied again, or any write applied twice), no retry of the same
// request refused as another (422), every listing page keeping its order, range, limit and
// cursor; conditional writes and expiries are judged by the same linearizability checker.

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
    | "notHealed"
    | "appliedTwice"
    | "onceConflict"
    | "badListing"
    | "watchMismatch";
  readonly message: string;
}

/** Internal errors listed one by one before the rest are only counted. */
const internalErrorsListedMax = 5;

function describe(op: ChaosOp): string {
  const t = `[${op.invokeTime.toFixed(1)}, ${op.outcome === "unknown" ? "∞" : op.returnTime.toFixed(1)}]`;
  const o = op.op;
  let what: string;
  switch (o.type) {
    case "read": what = `read(${op.level}) ${o.key} -> ${o.value === null ? "absent" : o.value}${op.version === undefined ? "" : ` @${op.version}`}`; break;
    case "delete": what = `delete ${o.key}`; break;
    case "set": what = `set ${JSON.stringify(o.values)}`; break;
    case "cas": what = `set ${o.key}=${o.value} if ${o.expect ?? "absent"} -> ${o.written === null ? "?" : o.written ? "written" : "412"}`; break;
    case "expire": what = `expiry of ${o.key}=${o.value}`; break;
    default: what = JSON.stringify(o);
  }
  const once = op.idempotencyKey === undefined ? "" : ` (Idempotency-Key ${op.idempotencyKey}, ${op.attempts ?? 1} attempts)`;
  return `#${op.id} c${op.client} node${op.node} ${what}${once} ${op.outcome} ${t}`;
}

/** What `op` may have written: key → value (null: deleted). A conditional write refused (412) wrote nothing. */
function writtenBy(op: ChaosOp): ReadonlyMap<string, string | null> {
  const o = op.op;
  switch (o.type) {
    case "set": return new Map(Object.entries(o.values));
    case "delete": return new Map([[o.key, null]]);
    case "cas": return o.written === false ? new Map() : new Map([[o.key, o.value]]);
    default: return new Map();
  }
}

/** Whether `op` certainly did not write: it failed, or its condition did not hold. */
function didNotWrite(op: ChaosOp): boolean {
  return op.outcome === "fail" || (op.op.type === "cas" && op.op.written === false);
}

/** Whether `op` writes `key` (a set or conditional write naming it, or a delete of it). */
function writesKey(op: ChaosOp, key: string): boolean {
  return writtenBy(op).has(key);
}

/** Writes by key and value they would write (a refused conditional write's too). */
function writersIndex(history: readonly ChaosOp[]): Map<string, Map<string, ChaosOp[]>> {
  const index = new Map<string, Map<string, ChaosOp[]>>();
  for (const h of history) {
    const values = h.op.type === "cas" ? new Map([[h.op.key, h.op.value]]) : writtenBy(h);
    for (const [k, v] of values) {
      if (v === null) continue;
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
    else if (writers.every(didNotWrite)) {
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
    // A key written with a TTL may lose its value to expiry: the linearizability checker judges those.
    if (history.some((h) => h.op.type === "expire" && h.op.key === key)) continue;
    const writes = history.filter((h) => writesKey(h, key));
    const acked = writes.filter((h) => h.outcome === "ok" && !didNotWrite(h));
    const candidates = writes.filter((h) => !didNotWrite(h) && writtenBy(h).get(key) === value);
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

/**
 * Every write's value is unique, and a key's version is the log index of its last write: a
 * value of a key seen at two versions was written at two indexes, so its write was applied
 * twice (an Idempotency-Key retry applied again, most likely). A version is seen by listings.
 */
function checkAppliedOnce(history: readonly ChaosOp[]): Anomaly[] {
  const seen = new Map<string, ChaosOp>();
  const out: Anomaly[] = [];
  for (const h of history) {
    if (h.op.type !== "read" || h.outcome !== "ok" || h.op.value === null || h.version === undefined) continue;
    const id = `${h.op.key}\u0000${h.op.value}`;
    const first = seen.get(id);
    if (first === undefined) seen.set(id, h);
    else if (first.version !== h.version) {
      const writers = writersIndex(history).get(h.op.key)?.get(h.op.value) ?? [];
      out.push({
        kind: "appliedTwice",
        message: `${describe(first)} and ${describe(h)}: one value at two log indexes; written by ${writers.map(describe).join(", ") || "nobody"}`,
      });
      seen.set(id, h);
    }
  }
  return out;
}

/** A retry of the very same request answered 422, and listing pages that broke their contract. */
function checkApiAnswers(history: readonly ChaosOp[]): Anomaly[] {
  const out: Anomaly[] = [];
  for (const h of history) {
    if (h.onceConflict === true) out.push({ kind: "onceConflict", message: `${describe(h)}: a retry of the same request answered 422: ${h.detail}` });
    if (h.pageError !== undefined) out.push({ kind: "badListing", message: `${describe(h)}: ${h.pageError}` });
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
  anomalies.push(...checkAppliedOnce(all));
  anomalies.push(...checkApiAnswers(all));
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
  const ttlKeys = new Set(keys.ttl ?? []);
  for (const f of finalReads) if (f.op.type === "read" && f.outcome === "ok") expected.set(f.op.key, f.op.value);
  states.forEach((state, node) => {
    if (state === null) {
      out.push({ kind: "diverged", message: `node${node}: its state could not be read` });
      return;
    }
    for (const [key, want] of expected) {
      // A key with a TTL may expire between the final linearizable read and this node's stale
      // read (they are taken at different times): the linearizability checker judges those.
      if (ttlKeys.has(key)) continue;
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
