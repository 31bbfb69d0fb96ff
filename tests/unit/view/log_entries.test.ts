// Goal (issue 17): the newest log entries summarized for the page: index, term, kind, the keys
// a command touches (decoded as the state machine decodes them), values only when asked, a
// config entry naming the member it added or removed, at most 20 entries.
// Method: entryViews (view/log_entries.ts) over entries encoded by store/commands.ts.

import { expect, test } from "bun:test";
import { type Entry, type Member, nodeId } from "../../../raft/core/mod.ts";
import { encodeCommand, encodeOnceCommand } from "../../../store/commands.ts";
import { entryViews } from "../../../view/log_entries.ts";

const m = (id: string, suffrage: Member["suffrage"] = "voter"): Member => ({ id: nodeId(id), addr: `${id}:1`, suffrage });
const e = (index: number, rest: Partial<Entry>): Entry => ({ index, term: 2, kind: "normal", data: new Uint8Array(), ...rest }) as Entry;

test("entries name their keys, hide values unless asked, and config entries say what changed", () => {
  const entries: Entry[] = [
    e(1, { kind: "config", membership: { members: [m("a")] } as Entry["membership"] }),
    e(2, { kind: "noop" }),
    e(3, { data: encodeCommand({ type: "set", pairs: [["x", "1"], ["y", "2"]] }) }),
    e(4, { data: encodeCommand({ type: "delete", key: "x", condition: { type: "match", versions: [3] } }) }),
    e(5, { kind: "config", membership: { members: [m("a"), m("b", "learner")] } as Entry["membership"] }),
    e(6, { kind: "config", membership: { members: [m("b")] } as Entry["membership"] }),
    e(7, { data: encodeOnceCommand(5, "k", { type: "set", pairs: [["z", "9"]] }) }),
    e(8, { data: new Uint8Array([0xff, 0x00]) }),
  ];
  const views = entryViews(entries, false);
  expect(views.map((v) => [v.index, v.kind, v.keys, v.summary])).toEqual([
    [1, "config", [], "members a (voter)"],
    [2, "noop", [], "no-op of a new leader"],
    [3, "normal", ["x", "y"], "set x, y"],
    [4, "normal", ["x"], "delete if version 3 x"],
    [5, "config", [], "add b at b:1 as learner"],
    [6, "config", [], "b becomes voter; remove a"],
    [7, "normal", ["z"], "once set z"],
    [8, "normal", [], "unreadable command (2 bytes)"],
  ]);
  expect(views.every((v) => v.values === undefined)).toBe(true);
  const withValues = entryViews(entries, true);
  expect(withValues[2]!.values).toEqual({ x: "1", y: "2" });
  expect(withValues[3]!.values).toEqual({ x: null });
});

test("only the newest 20 are shown, a config among them still compared with the one before them", () => {
  const entries: Entry[] = [e(1, { kind: "config", membership: { members: [m("a")] } as Entry["membership"] })];
  for (let i = 2; i <= 40; i++) entries.push(e(i, { data: encodeCommand({ type: "set", pairs: [[`k${i}`, "v"]] }) }));
  entries.push(e(41, { kind: "config", membership: { members: [m("a"), m("c")] } as Entry["membership"] }));
  const views = entryViews(entries, false);
  expect(views.length).toBe(20);
  expect(views[0]!.index).toBe(22);
  expect(views.at(-1)!.summary).toBe("add c at c:1 as voter");
});

test("a command of many keys names the first 20 and counts the rest", () => {
  const pairs = Array.from({ length: 25 }, (_, i) => [`k${i}`, "v"] as const);
  const [v] = entryViews([e(1, { data: encodeCommand({ type: "set", pairs }) })], false);
  expect(v!.keys.length).toBe(20);
  expect(v!.summary.endsWith("k19 and 5 more")).toBe(true);
});
