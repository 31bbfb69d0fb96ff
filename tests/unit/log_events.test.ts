// Goal: the events an operator reads in the log come once each (issue 15, item 4): one info
// line per election a node sees end (won, lost, or a new leader it did not run against), one
// when a leader steps down, the steps in between only at debug level; one line per
// membership change; nothing at error level in a healthy cluster, failover included.
// Method: election_log.ts fed the driver's softState sequence directly; then production
// nodes from openNode on simulated seams (tests/sim/harness), whose logger keeps every line.

import { expect, test } from "bun:test";
import { ElectionLog } from "../../election_log.ts";
import type { SoftState } from "../../raft/core/mod.ts";
import type { LogFields, Logger } from "../../raft/host.ts";
import { NodeCluster } from "../sim/harness/node_cluster.ts";

interface Line {
  readonly level: string;
  readonly msg: string;
  readonly fields?: LogFields;
}

function collecting(): { lines: Line[]; log: Required<Logger> } {
  const lines: Line[] = [];
  const at = (level: string) => (msg: string, fields?: LogFields): void => void lines.push({ level, msg, ...(fields === undefined ? {} : { fields }) });
  return { lines, log: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

const soft = (role: SoftState["role"], term: number, leader: string | null): SoftState =>
  ({ role, term, leader, removed: false }) as SoftState;

test("an election won: one info line with its term; the campaign only at debug level", () => {
  const { lines, log } = collecting();
  const e = new ElectionLog(log, "n1");
  for (const s of [soft("follower", 1, null), soft("precandidate", 1, null), soft("candidate", 2, null), soft("leader", 2, "n1")]) e.softState(s);
  const info = lines.filter((l) => l.level !== "debug");
  expect(info).toEqual([{ level: "info", msg: "elected leader in term 2", fields: { event: "election", outcome: "won", term: 2, leader: "n1" } }]);
  expect(lines.filter((l) => l.level === "debug").map((l) => l.fields?.["role"])).toEqual(["follower", "precandidate", "candidate", "leader"]);
});

test("an election lost, a split vote, a step-down and a leader seen from afar: one line each", () => {
  const { lines, log } = collecting();
  const e = new ElectionLog(log, "n2");
  const states = [
    soft("follower", 2, "n1"), // at start: the leader is known
    soft("follower", 2, "n1"), // repeated: nothing
    soft("precandidate", 2, null),
    soft("candidate", 3, null), // split vote: no line
    soft("candidate", 4, null),
    soft("follower", 4, "n3"), // lost
    soft("precandidate", 4, null),
    soft("candidate", 5, null),
    soft("leader", 5, "n2"), // won
    soft("follower", 6, null), // stepped down
    soft("follower", 6, "n1"), // a new leader it did not run against
  ];
  for (const s of states) e.softState(s);
  expect(lines.filter((l) => l.level !== "debug").map((l) => `${l.level} ${l.msg}`)).toEqual([
    "info new leader in term 2: leader is n1",
    "info lost the election in term 4: leader is n3",
    "info elected leader in term 5",
    "info stepped down as leader in term 5; now follower in term 6, no leader known yet",
    "info new leader in term 6: leader is n1",
  ]);
  expect(lines.filter((l) => l.fields?.["event"] === "election").map((l) => [l.fields?.["outcome"], l.fields?.["term"]])).toEqual([
    ["follower", 2], ["lost", 4], ["won", 5], ["follower", 6],
  ]);
});

const electionLine = /^(?:elected leader|lost the election|new leader) in term (\d+)/;

test("production nodes: after the leader crashes each survivor logs one election line, same term; no error line", async () => {
  const c = await NodeCluster.open({ seed: 4, voters: 3 });
  const agreed = (ids: readonly string[]) => (): boolean => {
    const l = ids.map((id) => c.status(id)?.leader ?? null);
    return l[0] !== null && l.every((x) => x === l[0]) && ids.includes(l[0]!);
  };
  expect(await c.runUntil(agreed(c.ids), 5_000)).toBe(true);
  await c.run(500);
  const leader = c.status("n1")!.leader!;
  const survivors = c.ids.filter((id) => id !== leader);
  // One line per node for the first election too.
  for (const id of c.ids) expect(c.log.filter((l) => l.includes(`${id}#1 `) && electionLine.test(l.split(`${id}#1 `)[1]!))).toHaveLength(1);
  const mark = c.log.length;
  c.crash(leader);
  expect(await c.runUntil(agreed(survivors), 5_000)).toBe(true);
  await c.run(2_000);
  const after = c.log.slice(mark);
  const terms = survivors.map((id) => {
    // Every info line of the survivor since the crash: the election's, and nothing else.
    const mine = after.map((l) => l.split(`${id}#1 `)[1]).filter((m): m is string => m !== undefined && !/^(WARN|ERROR) /.test(m));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatch(electionLine);
    return Number(electionLine.exec(mine[0]!)![1]);
  });
  expect(terms[0]).toBe(terms[1]);
  expect(terms[0]).toBe(c.status(survivors[0]!)!.term);
  expect(c.log.filter((l) => l.includes(" ERROR "))).toEqual([]);
});

test("production nodes: a membership change is one line on each member", async () => {
  const c = await NodeCluster.open({ seed: 9, voters: 3 });
  expect(await c.runUntil(() => c.leader() !== null, 5_000)).toBe(true);
  await c.run(500);
  const leader = c.leader()!;
  const gone = c.ids.find((id) => id !== leader)!;
  const mark = c.log.length;
  expect((await c.settle(c.store(leader).remove(gone), 5_000)).ok).toBe(true);
  await c.run(1_000);
  const after = c.log.slice(mark);
  for (const id of c.ids.filter((x) => x !== gone)) {
    expect(after.filter((l) => l.includes(`${id}#1 membership now`))).toHaveLength(1);
  }
  expect(after.filter((l) => l.includes(`${gone}#1 WARN this node (${gone}) was removed from the cluster`))).toHaveLength(1);
  expect(c.log.filter((l) => l.includes(" ERROR "))).toEqual([]);
});
