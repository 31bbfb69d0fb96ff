// Goal: the chaos suite's watch check (watch_check.ts) can fail. Chains the watcher could have
// recorded from a faulty server, each with one planted defect, must each be reported; the
// correct chain, cut and resumed on another node, must pass:
// - a change missing in the middle of a connection;
// - a change repeated across a resume (the last event sent again after Last-Event-ID);
// - changes out of index order;
// - a gap across a resume (the first change after Last-Event-ID skipped);
// - an event past the end of every node's log;
// - an event at or before the index the chain's first watch started after (X-Applied-Index);
// - a wrong value, a key outside the prefix, a delete reported as a write;
// - one value of a key at two log indexes in two chains (a write applied twice);
// - where no log reaches (before a snapshot), a missing, repeated or wrong change in a chain
//   that another chain covering the same span reports differently.
// And the reference itself: logChanges() reads a real node's data directory (snapshot + log,
// through the node's own storage recovery) into the changes its log made, deletes and
// rewrites of the same value included.
// Method: checkWatchChains on a log of known changes; logChanges on the data directory of a real
// node run in this process (server.ts's startNode), stopped before it is read.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFlags } from "../../flags.ts";
import type { Logger } from "../../raft/host.ts";
import { startNode } from "../../server.ts";
import { freePort } from "../support/cluster.ts";
import { checkWatchChains, type LogChanges, logChanges } from "./watch_check.ts";
import type { WatchChain, WatchedChange } from "./watcher.ts";

const ch = (index: number, key: string, value: string | null): WatchedChange => ({ index, key, value });

/** A log after a snapshot at 2: entries 3-12, changes to w/ keys and to other keys. */
const log: LogChanges = {
  start: 2,
  end: 12,
  changes: [
    ch(3, "w/a", "1"),
    ch(4, "x/other", "1"),
    ch(5, "w/a", "2"),
    ch(5, "w/b", "1"), // one entry, two keys
    ch(6, "w/b", null),
    ch(8, "w/c", "1"),
    ch(9, "x/other", "2"),
    ch(10, "w/a", "3"),
    ch(11, "w/c", "2"),
    ch(12, "w/a", null),
  ],
};
const want = log.changes.filter((c) => c.key.startsWith("w/"));

/** The chain the watcher records of a correct server: started after index 2, cut after index 6, resumed on another node. */
function goodChain(changes: readonly WatchedChange[] = want): WatchChain {
  return { prefix: "w/", from: 2, nodes: [0, 1], changes: [...changes] };
}

function kinds(chains: readonly WatchChain[], logs: readonly LogChanges[] = [log]): string[] {
  return checkWatchChains(chains, logs).anomalies.map((a) => a.kind);
}

describe("the watch check", () => {
  test("passes the correct chain, and judges all of it", () => {
    const result = checkWatchChains([goodChain()], [log]);
    expect(result.anomalies).toEqual([]);
    expect([result.judged, result.changes]).toEqual([1, want.length]);
    // The multi-key entry's keys may arrive in either order.
    const swapped = [...want];
    [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
    expect(kinds([goodChain(swapped)])).toEqual([]);
  });

  const resumeAt = want.findIndex((c) => c.index === 8); // the first change after the cut (index 6)
  const planted: Array<[string, WatchedChange[]]> = [
    ["a change missing in the middle", want.filter((c) => c.index !== 10)],
    ["a change repeated across a resume", [...want.slice(0, resumeAt), want[resumeAt - 1]!, ...want.slice(resumeAt)]],
    ["changes out of index order", [want[0]!, want[3]!, want[1]!, want[2]!, ...want.slice(4)]],
    ["a gap across a resume", [...want.slice(0, resumeAt), ...want.slice(resumeAt + 1)]],
    ["an event past every log's end", [...want, ch(13, "w/d", "1")]],
    ["an event before where the chain started", [ch(2, "w/z", "0"), ...want]],
    ["a wrong value", want.map((c) => (c.index === 8 ? ch(8, "w/c", "9") : c))],
    ["a key outside the prefix", [...want.slice(0, 2), ch(4, "x/other", "1"), ...want.slice(2)]],
    ["a delete reported as a write", want.map((c) => (c.index === 6 ? ch(6, "w/b", "1") : c))],
  ];
  for (const [name, changes] of planted) {
    test(`reports ${name}`, () => {
      expect(kinds([goodChain(changes)])).toContain("watchMismatch");
    });
  }

  test("reports one value of a key at two indexes, across chains", () => {
    const again: WatchChain = { prefix: "w/", from: 20, nodes: [2], changes: [ch(21, "w/a", "2")] };
    const later: LogChanges = { start: 2, end: 21, changes: [...log.changes, ch(21, "w/a", "2")] };
    expect(kinds([goodChain(), again], [later])).toEqual(["appliedTwice"]);
  });

  test("judges a chain against the log that reaches its last event, from the later of its start and that log's", () => {
    // A node whose log starts later (after a snapshot at 7) and reaches further: the chain is judged after 7 there.
    const short: LogChanges = { start: 2, end: 9, changes: log.changes.filter((c) => c.index <= 9) };
    const late: LogChanges = { start: 7, end: 12, changes: log.changes.filter((c) => c.index > 7) };
    expect(checkWatchChains([goodChain()], [short, late])).toMatchObject({ anomalies: [], judged: 1, changes: 4 });
    expect(kinds([goodChain(want.filter((c) => c.index !== 11))], [short, late])).toEqual(["watchMismatch"]);
  });
});

describe("chains judged against each other, where the logs no longer reach (a snapshot at 9)", () => {
  const late: LogChanges = { start: 9, end: 12, changes: log.changes.filter((c) => c.index > 9) };
  const all: WatchChain = { prefix: "", from: 2, nodes: [0], changes: [...log.changes] };
  const later: WatchChain = { prefix: "w/", from: 4, nodes: [1, 2], changes: want.filter((c) => c.index > 4) };

  test("correct chains agree over the span both cover, whatever their prefixes and starts", () => {
    expect(checkWatchChains([all, goodChain(), later], [late]).anomalies).toEqual([]);
  });

  const before: Array<[string, WatchedChange[]]> = [
    ["a change missing", want.filter((c) => c.index !== 5)],
    ["a change repeated", [...want.slice(0, 2), want[1]!, ...want.slice(2)]],
    ["a wrong value", want.map((c) => (c.index === 3 ? ch(3, "w/a", "9") : c))],
  ];
  for (const [name, changes] of before) {
    test(`${name} before the log's start is reported by the chain that disagrees with another`, () => {
      // The log alone cannot tell: the defect is before index 9.
      expect(kinds([goodChain(changes)], [late])).toEqual([]);
      expect(kinds([all, goodChain(changes)], [late])).toEqual(["watchMismatch"]);
      expect(kinds([goodChain(), goodChain(changes)], [late])).toEqual(["watchMismatch"]);
    });
  }
});

describe("the reference: a real node's data directory read back", () => {
  const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
  const root = mkdtempSync(join(tmpdir(), "hraftd-watchcheck-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test("logChanges reports each change of the log at its index: sets, multi-key sets, rewrites of a value, deletes", async () => {
    const dir = join(root, "n1");
    const port = await freePort();
    const out = parseFlags(["-id", "n1", "-haddr", `127.0.0.1:${port}`, "-raddr", `127.0.0.1:${await freePort()}`, dir], "test");
    if (out.kind !== "run") throw new Error(out.stderr);
    const node = await startNode(out.config, quiet);
    const indexes: number[] = [];
    try {
      for (let i = 0; i < 300 && node.store.status().state !== "leader"; i++) await Bun.sleep(10);
      const base = `http://127.0.0.1:${port}`;
      // Each with an Idempotency-Key: its answer then names its entry's index.
      const write = async (init: RequestInit & { path?: string }): Promise<void> => {
        const r = await fetch(`${base}${init.path ?? "/key"}`, { ...init, headers: { "idempotency-key": `w${indexes.length}` } });
        expect(r.status).toBe(200);
        indexes.push(Number(r.headers.get("x-applied-index")));
      };
      await write({ method: "POST", body: JSON.stringify({ "w/a": "1", "w/b": "1" }) });
      await write({ method: "POST", body: JSON.stringify({ "w/a": "1" }) }); // the same value again: a change (a new version)
      await write({ method: "DELETE", path: "/key/w%2Fb" });
      await write({ method: "DELETE", path: "/key/w%2Fnever" }); // nothing to delete: no change
    } finally {
      await node.stop();
    }
    const read = logChanges(dir);
    expect(read.start).toBe(0);
    expect(read.end).toBeGreaterThanOrEqual(indexes[3]!);
    expect(read.changes.filter((c) => c.key.startsWith("w/"))).toEqual([
      ch(indexes[0]!, "w/a", "1"),
      ch(indexes[0]!, "w/b", "1"),
      ch(indexes[1]!, "w/a", "1"),
      ch(indexes[2]!, "w/b", null),
    ]);
  });
});
