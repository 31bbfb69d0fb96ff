// Goal: prove the program, not only the algorithm: real processes of the compiled binary, each
// in its own network namespace, under partitions (both ways and one way, silent drops and
// rejects), SIGKILL and restart, SIGSTOP/SIGCONT, link down, and removal plus re-join, while
// six clients run sets, deletes, multi-key sets and reads at every level; and (issue 16) writes
// with an Idempotency-Key retried after unknown outcomes, conditional writes, listings and sets
// with TTLs (workload.ts says how each is recorded for the checker); two watchers follow
// GET /watch streams across cuts and resumes (watcher.ts), checked against the nodes' logs
// read back after the run (watch_check.ts).
// Method: a seeded fault schedule (CHAOS_SEED replays one; printed on every run), then heal,
// converge and check: per-key linearizability of writes and linearizable reads, no read of a
// failed or never-made write, no acknowledged write lost, multi-key writes all-or-nothing on
// every node, every node in the same state; no value seen at two versions (applied twice), no
// 422 for a retry of the same request, listing pages that keep their contract, watch chains
// equal to the log's changes. Short by default; CHAOS_MINUTES=N runs N minutes (in segments of
// at most 5 minutes, each a fresh cluster with the next seed). Leadership transfer is not
// exercised: the HTTP API offers no way to request one.
// A second run turns every security option on (secure.ts): same faults, same checks (the
// watchers reach the nodes as the proxy does: HTTPS, a client certificate, Basic credentials).
// Without root or `ip netns`, the cluster tests print why and skip; the pure parts still run.

import { describe, expect, test } from "bun:test";
import type { Outcome } from "../sim/checkers/linearizability.ts";
import { ensureBinary } from "../support/binary.ts";
import { labResidue, netnsUnavailableReason } from "../support/netns.ts";
import { checkFinalStates, checkHistory } from "./checks.ts";
import { nemesisKinds, partitionCuts, planSchedule } from "./nemesis.ts";
import { formatReport, runChaos } from "./run.ts";
import { createSimRng } from "../sim/prng.ts";
import { checkWatchChains } from "./watch_check.ts";
import { parseEvents } from "./watcher.ts";
import { type ChaosOp, classifyRead, classifyWrite, defaultKeySpace, pageError, planOp } from "./workload.ts";

const unavailable = netnsUnavailableReason();
if (unavailable !== null) console.log(`chaos: skipping the cluster runs: ${unavailable}`);

const minutes = Number(process.env["CHAOS_MINUTES"] ?? "0");
const segmentMsMax = 5 * 60_000;
const shortMs = 50_000;
const seed = process.env["CHAOS_SEED"] !== undefined ? Number(process.env["CHAOS_SEED"]) : Math.floor(Math.random() * 2 ** 31);

describe("fault schedule", () => {
  test("is a pure function of the seed, and seeds differ", () => {
    const a = planSchedule({ seed: 42, durationMs: 600_000, nodesCount: 5 });
    expect(planSchedule({ seed: 42, durationMs: 600_000, nodesCount: 5 })).toEqual(a);
    expect(planSchedule({ seed: 43, durationMs: 600_000, nodesCount: 5 })).not.toEqual(a);
    const kinds = new Set(a.flatMap((e) => e.faults.map((f) => f.type)));
    expect([...kinds].sort()).toEqual([...nemesisKinds].sort());
    for (let i = 1; i < a.length; i++) expect(a[i]!.startMs).toBeGreaterThanOrEqual(a[i - 1]!.startMs + a[i - 1]!.holdMs);
    expect(a.at(-1)!.startMs + a.at(-1)!.holdMs).toBeLessThanOrEqual(600_000);
  });

  test("partition shapes cut the intended directed links", () => {
    const key = (cuts: Array<[number, number]>): string[] => cuts.map(([a, b]) => `${a}>${b}`).sort();
    expect(key(partitionCuts("isolate", [0, 1, 2], 1))).toEqual(["0>1", "1>0", "1>2", "2>1"]);
    expect(key(partitionCuts("oneWayIn", [0, 1, 2], 2))).toEqual(["0>2", "1>2"]);
    expect(key(partitionCuts("oneWayOut", [0, 1, 2], 2))).toEqual(["2>0", "2>1"]);
    // Five nodes, target 3 first: minority {3, 4} against {0, 1, 2}.
    expect(partitionCuts("halves", [4, 0, 1, 2, 3], 3)).toHaveLength(2 * 2 * 3);
    // Bridge 0 talks to everyone; {1, 2} and {3, 4} are cut from each other.
    const bridge = key(partitionCuts("bridge", [0, 1, 2, 3, 4], 0));
    expect(bridge.some((c) => c.startsWith("0>") || c.endsWith(">0"))).toBe(false);
    expect(bridge).toContain("1>3");
    expect(bridge).not.toContain("1>2");
  });
});

describe("outcome classification", () => {
  test("writes: 200 ok; outcome unknown, no answer or 500 unknown; clean 503 and 4xx fail", () => {
    const w = (status: number, body: string): Outcome => classifyWrite({ type: "response", status, body }).outcome;
    expect(w(200, "")).toBe("ok");
    expect(w(503, '{"error":"the outcome is unknown (the write may or may not be applied)"}')).toBe("unknown");
    expect(w(503, '{"error":"no leader is known; retry later"}')).toBe("fail");
    expect(w(400, '{"error":"bad"}')).toBe("fail");
    expect(w(500, '{"error":"internal error: x"}')).toBe("unknown");
    expect(classifyWrite({ type: "noAnswer", reason: "TimeoutError" }).outcome).toBe("unknown");
  });

  test("reads: 200 is the value, 404 not found is absence, the rest failed", () => {
    expect(classifyRead({ type: "response", status: 200, body: '{"k":"v"}' }, "k")).toMatchObject({ outcome: "ok", value: "v" });
    expect(classifyRead({ type: "response", status: 404, body: '{"error":"key \\"k\\" not found"}' }, "k")).toMatchObject({ outcome: "ok", value: null });
    expect(classifyRead({ type: "response", status: 503, body: "{}" }, "k").outcome).toBe("fail");
    expect(classifyRead({ type: "noAnswer", reason: "x" }, "k").outcome).toBe("fail");
  });
});

/** A synthetic history op for the checker tests. */
function op(id: number, o: ChaosOp["op"], outcome: Outcome, invokeTime: number, returnTime: number, level: ChaosOp["level"] = null): ChaosOp {
  const completeTime = outcome === "unknown" ? Infinity : returnTime;
  return { id, client: id, node: 0, op: o, outcome, invokeTime, completeTime, returnTime, level, detail: "", isInternalError: false };
}

describe("end-of-run checks catch what they claim to", () => {
  const read = (id: number, key: string, value: string | null, t: number): ChaosOp => op(id, { type: "read", key, value }, "ok", t, t + 1, "linearizable");

  test("a clean history passes", () => {
    const h = [op(1, { type: "set", values: { k: "a" } }, "ok", 0, 1), op(2, { type: "set", values: { k: "b" } }, "unknown", 2, 3)];
    expect(checkHistory(h, [read(3, "k", "b", 10)]).anomalies).toEqual([]);
    expect(checkHistory(h, [read(3, "k", "a", 10)]).anomalies).toEqual([]);
  });

  test("a lost acknowledged write, a visible failed write and a read from nowhere", () => {
    const h = [op(1, { type: "set", values: { k: "a" } }, "ok", 0, 1), op(2, { type: "set", values: { k: "b" } }, "ok", 2, 3)];
    const kinds = checkHistory(h, [read(3, "k", "a", 10)]).anomalies.map((a) => a.kind);
    expect(kinds).toContain("lostWrite");
    expect(kinds).toContain("nonLinearizable");
    const failed = [op(1, { type: "set", values: { k: "a" } }, "fail", 0, 1), read(2, "k", "a", 5)];
    expect(checkHistory(failed, []).anomalies.map((a) => a.kind)).toContain("failedWriteVisible");
    expect(checkHistory([read(1, "k", "zz", 0)], []).anomalies.map((a) => a.kind)).toContain("readFromNowhere");
  });

  test("a torn multi-key write and a diverged node", () => {
    const keys = { singles: ["k"], groups: [["x", "y"]] };
    const final = [read(1, "k", "a", 0), read(2, "x", "m", 0), read(3, "y", "m", 0)];
    const good = new Map([["k", "a"], ["x", "m"], ["y", "m"]]);
    expect(checkFinalStates([good, good], final, keys)).toEqual([]);
    const torn = new Map([["k", "a"], ["x", "m"], ["y", null]]);
    const kinds = checkFinalStates([good, torn], final, keys).map((a) => a.kind);
    expect(kinds).toEqual(["diverged", "tornMultiKeyWrite"]);
  });

  test("a key with a TTL that expired between the final read and a node's read is not a divergence; other keys still are", () => {
    // Seen in CI (seed 278595066, secure): t0 read absent by the final linearizable read, then
    // present in every node's later stale read of its state, or the other way round.
    const keys = { singles: ["k"], groups: [], ttl: ["t0"] };
    const final = [read(1, "k", "a", 0), read(2, "t0", null, 0)];
    const node = new Map([["k", "a"], ["t0", "t1-869"]]);
    expect(checkFinalStates([node, node, node], final, keys)).toEqual([]);
    const wrong = new Map([["k", "b"], ["t0", "t1-869"]]);
    expect(checkFinalStates([node, wrong], final, keys).map((a) => a.message)).toEqual(["node1: k=b, the cluster says a"]);
  });
});

describe("issue 16: the new operations and their checks", () => {
  const read = (id: number, key: string, value: string | null, t: number, version?: number): ChaosOp =>
    ({ ...op(id, { type: "read", key, value }, "ok", t, t + 1, "linearizable"), ...(version === undefined ? {} : { version }) });

  test("clients draw every kind of operation", () => {
    const rng = createSimRng(7);
    const kinds = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const p = planOp(rng, defaultKeySpace(), 0, i);
      kinds.add(p.type === "plain" ? `${p.op.type}${p.isOnce ? "-once" : ""}${p.ttlMs === null ? "" : "-ttl"}` : p.type);
    }
    expect([...kinds].sort()).toEqual(["cas", "delete", "delete-once", "list", "read", "set", "set-once", "set-ttl"]);
  });

  test("a value seen at two versions is a write applied twice", () => {
    const h = [op(1, { type: "set", values: { k: "a" } }, "unknown", 0, 1), read(2, "k", "a", 5, 4), read(3, "k", "a", 6, 4)];
    expect(checkHistory(h, []).anomalies).toEqual([]);
    const twice = [...h, read(4, "k", "a", 9, 8)];
    expect(checkHistory(twice, []).anomalies.map((a) => a.kind)).toEqual(["appliedTwice"]);
  });

  test("conditional writes: a refused one must not show, a written one must have found what it expected", () => {
    const refused = [op(1, { type: "cas", key: "k", expect: null, value: "x", written: false }, "ok", 0, 1), read(2, "k", "x", 2)];
    expect(checkHistory(refused, []).anomalies.map((a) => a.kind)).toContain("failedWriteVisible");
    const wrong = [op(1, { type: "set", values: { k: "a" } }, "ok", 0, 1), op(2, { type: "cas", key: "k", expect: null, value: "x", written: true }, "ok", 2, 3)];
    expect(checkHistory(wrong, []).anomalies.map((a) => a.kind)).toContain("nonLinearizable");
    const right = [op(1, { type: "set", values: { k: "a" } }, "ok", 0, 1), op(2, { type: "cas", key: "k", expect: "a", value: "x", written: true }, "ok", 2, 3)];
    expect(checkHistory(right, [read(3, "k", "x", 10)]).anomalies).toEqual([]);
  });

  test("an expiry: the value must be gone after its deadline, and its absence is no lost write", () => {
    const h = [op(1, { type: "set", values: { t0: "a" } }, "ok", 0, 1), op(2, { type: "expire", key: "t0", value: "a" }, "ok", 100, 101)];
    expect(checkHistory([...h, read(3, "t0", "a", 50)], [read(4, "t0", null, 300)]).anomalies).toEqual([]);
    expect(checkHistory([...h, read(3, "t0", "a", 200)], []).anomalies.map((a) => a.kind)).toContain("nonLinearizable");
  });

  test("a 422 for a retry and a broken listing page are anomalies", () => {
    const conflict = { ...op(1, { type: "set", values: { k: "a" } }, "fail", 0, 1), idempotencyKey: "w0-1", attempts: 2, onceConflict: true };
    const page = { ...op(2, { type: "read", key: "list:k", value: null }, "fail", 0, 1, "linearizable"), pageError: "out of order" };
    expect(checkHistory([conflict, page], []).anomalies.map((a) => a.kind)).toEqual(["onceConflict", "badListing"]);
  });

  test("listing pages are held to their order, range, limit and cursor", () => {
    const body = (items: Array<[string, string, number]>, next: string | null): string =>
      JSON.stringify({ items: items.map(([key, value, version]) => ({ key, value, version })), next });
    expect(pageError(body([["k1", "a", 3], ["k2", "b", 4]], "k2"), "k", null, 2).error).toBeNull();
    expect(pageError(body([["k2", "b", 4], ["k1", "a", 3]], null), "k", null, 2).error).toContain("out of order");
    expect(pageError(body([["k1", "a", 3]], null), "k", "k1", 2).error).toContain("out of order");
    expect(pageError(body([["g1", "a", 3]], null), "k", null, 2).error).toContain("range");
    expect(pageError(body([["k1", "a", 3], ["k2", "b", 4]], "k2"), "k", null, 1).error).toContain("limit");
    expect(pageError(body([["k1", "a", 3]], "k5"), "k", null, 2).error).toContain("cursor");
    expect(pageError("nope", "k", null, 2).error).toContain("unreadable");
  });
});

describe("issue 16: watch chains against the log", () => {
  test("SSE text splits into whole events; a partial one waits", () => {
    const { events, rest } = parseEvents(': keepalive\n\nid: 7\ndata: {"key":"a","value":"x","version":7}\ndata: {"key":"b","deleted":true,"version":7}\n\nid: 9\nda');
    expect(events).toEqual([{ id: 7, data: ['{"key":"a","value":"x","version":7}', '{"key":"b","deleted":true,"version":7}'] }]);
    expect(rest).toBe("id: 9\nda");
  });

  const log = { start: 2, end: 20, changes: [
    { index: 3, key: "k1", value: "a" }, { index: 5, key: "g0a", value: "m" }, { index: 5, key: "g0b", value: "m" },
    { index: 8, key: "k1", value: null }, { index: 12, key: "k2", value: "b" },
  ] };
  const chain = (prefix: string, changes: Array<[number, string, string | null]>) =>
    ({ prefix, from: null, nodes: [0, 1], changes: changes.map(([index, key, value]) => ({ index, key, value })) });

  test("a chain equal to the log's changes of its prefix passes, from its first event", () => {
    const r = checkWatchChains([chain("", [[5, "g0b", "m"], [5, "g0a", "m"], [8, "k1", null], [12, "k2", "b"]]), chain("k", [[3, "k1", "a"], [8, "k1", null]])], [log]);
    expect(r.anomalies).toEqual([]);
    expect(r.judged).toBe(2);
  });

  test("a chain is judged from where its watch started, when the node said", () => {
    expect(checkWatchChains([{ ...chain("k", [[8, "k1", null]]), from: 6 }], [log]).anomalies).toEqual([]);
    expect(checkWatchChains([{ ...chain("k", [[8, "k1", null]]), from: 2 }], [log]).anomalies.map((a) => a.kind)).toEqual(["watchMismatch"]);
  });

  test("a missed, repeated, reordered or invented change fails", () => {
    const bad = [
      chain("k", [[3, "k1", "a"], [12, "k2", "b"]]), // missed the delete at 8
      chain("k", [[3, "k1", "a"], [8, "k1", null], [8, "k1", null]]), // repeated
      chain("k", [[8, "k1", null], [3, "k1", "a"]]), // out of order
      chain("k", [[12, "k2", "c"]]), // a value the log never wrote there
      chain("k", [[25, "k3", "z"]]), // past the log's end
    ];
    for (const c of bad) expect(checkWatchChains([c], [log]).anomalies.map((a) => a.kind)).toEqual(["watchMismatch"]);
  });

  test("one value at two indexes in the nodes' own events is a write applied twice", () => {
    const twice = [chain("k", [[3, "k1", "a"]]), chain("", [[12, "k1", "a"]])];
    expect(checkWatchChains(twice, [log]).anomalies.map((a) => a.kind)).toContain("appliedTwice");
  });
});

describe.skipIf(unavailable !== null)("chaos against a real cluster", () => {
  const totalMs = minutes > 0 ? minutes * 60_000 : shortMs;
  const segments = Math.ceil(totalMs / segmentMsMax);
  test(`${segments} segment(s), ${Math.round(totalMs / 1000)} s of faults from seed ${seed}`, async () => {
    const binary = ensureBinary();
    for (let s = 0; s < segments; s++) {
      const durationMs = Math.min(segmentMsMax, totalMs - s * segmentMsMax);
      const report = await runChaos({ seed: seed + s, binary, durationMs });
      const text = formatReport(report);
      console.log(text);
      if (report.anomalies.length > 0) throw new Error(`chaos found anomalies (seed=${report.seed} history=${report.historyPath}):\n${text}`);
      expect(report.opsTotal).toBeGreaterThan(100);
    }
    expect(labResidue()).toEqual([]);
  }, totalMs + segments * 120_000);

  // Issue 14: the same faults, workload and checks with every security option on (HTTPS with
  // client certificates, mutual TLS between nodes, -auth with a joining user). Shorter by
  // default; CHAOS_MINUTES gives it as long as the plain run.
  const secureMs = minutes > 0 ? Math.min(totalMs, segmentMsMax) : 30_000;
  test(`secure mode (TLS + auth): ${Math.round(secureMs / 1000)} s of faults from seed ${seed + 1000}`, async () => {
    const report = await runChaos({ seed: seed + 1000, binary: ensureBinary(), durationMs: secureMs, secure: true });
    const text = formatReport(report);
    console.log(text);
    if (report.anomalies.length > 0) throw new Error(`chaos found anomalies (seed=${report.seed} history=${report.historyPath}):\n${text}`);
    expect(report.opsTotal).toBeGreaterThan(100);
    expect(labResidue()).toEqual([]);
  }, secureMs + 120_000);
});
