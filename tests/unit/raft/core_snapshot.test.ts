// Goal: snapshots (§7, thesis Figure 5.3): compaction keeps trailing entries, a follower
// behind the log's start gets InstallSnapshot in chunks, installs it via Ready.snapshot and
// catches up; chunk offsets that do not match restart or resume the transfer.
// Method: in-memory network for the end-to-end path, one core driven directly for the edges.
import { describe, expect, test } from "bun:test";
import type { InstallSnapshot, Membership } from "../../../raft/core/mod.ts";
import { drainMsgs, mkCore, ofType } from "./core_kit.ts";
import { bytes, Net } from "./core_net.ts";

describe("snapshots", () => {
  test("compaction keeps trailingEntries entries below the snapshot index", () => {
    const net = Net.cluster(["a"]);
    net.tick("a");
    for (let i = 0; i < 20; i++) net.core("a").propose(bytes(`v${i}`));
    net.settle();
    const a = net.core("a");
    const applied = a.status().lastApplied;
    a.snapshotTaken(applied, bytes("state"), 5);
    expect(a.status().snapshotIndex).toBe(applied);
    expect(a.entries()[0]?.index).toBe(applied - 4);
    expect(() => a.snapshotTaken(applied + 1, bytes("x"), 0)).toThrow();
  });

  test("a lagging follower is caught up with a chunked InstallSnapshot, then with entries", () => {
    const net = Net.cluster(["a", "b", "c"], { config: { snapshotChunkBytes: 16 } });
    net.elect("a");
    net.tickAll(2);
    net.isolate("c");
    for (let i = 0; i < 30; i++) net.core("a").propose(bytes(`v${i}`));
    net.settle();
    const a = net.core("a");
    const data = bytes("x".repeat(100));
    const snapIndex = a.status().lastApplied;
    a.snapshotTaken(snapIndex, data, 0);
    a.propose(bytes("after"));
    net.settle();
    net.heal();
    net.tickAll(5);
    const chunks = net.sent.filter((m): m is InstallSnapshot => m.type === "InstallSnapshot" && m.to === "c");
    expect(chunks.length).toBeGreaterThanOrEqual(7); // 100 bytes in 16-byte chunks
    expect(chunks.every((m) => m.data.length <= 16)).toBe(true);
    const installed = (net.readies.get("c") ?? []).filter((rd) => rd.snapshot !== null);
    expect(installed).toHaveLength(1);
    expect(installed[0]?.snapshot?.data).toEqual(data);
    expect(installed[0]?.snapshot?.meta.lastIncludedIndex).toBe(snapIndex);
    // The reply that reports completion waits for persistence.
    expect(installed[0]?.messagesAfterPersist.some((m) => m.type === "InstallSnapshotReply" && m.done)).toBe(true);
    expect(net.core("c").status().commitIndex).toBe(a.status().commitIndex);
    expect(net.appliedData("c")).toEqual(["after"]);
    expect(net.disks.get("c")?.snapshot?.meta.lastIncludedIndex).toBe(snapIndex);
  });

  test("a follower asks to restart on an unknown snapshot and to resume at the bytes it holds", () => {
    const core = mkCore("b", ["a", "b", "c"], { terms: [1], term: 2 });
    const membership: Membership = core.status().members.length ? { members: core.status().members } : { members: [] };
    const meta = { lastIncludedIndex: 50, lastIncludedTerm: 2, membership };
    const chunk = (offset: number, s: string, done = false): InstallSnapshot => ({
      type: "InstallSnapshot", from: "a", to: "b", term: 2, meta, offset, data: bytes(s), done,
    });
    core.step(chunk(4, "late"));
    let replies = ofType(drainMsgs(core), "InstallSnapshotReply");
    expect(replies.map((m) => m.nextOffset)).toEqual([-1]);
    core.step(chunk(0, "abcd"));
    core.step(chunk(8, "ijkl")); // a gap: ask for offset 4
    core.step(chunk(0, "abcd")); // a duplicate: still 4
    replies = ofType(drainMsgs(core), "InstallSnapshotReply");
    expect(replies.map((m) => m.nextOffset)).toEqual([4, 4, 4]);
    core.step(chunk(4, "efgh", true));
    const rd = core.ready();
    expect(rd.snapshot?.data).toEqual(bytes("abcdefgh"));
    expect(rd.messagesAfterPersist.map((m) => m.type === "InstallSnapshotReply" && m.done)).toEqual([true]);
    core.advance(rd);
    const s = core.status();
    expect([s.commitIndex, s.lastApplied, s.lastLogIndex, s.snapshotIndex]).toEqual([50, 50, 50, 50]);
  });

  test("a node restarted from a snapshot plus entries resumes where it was", () => {
    const net = Net.cluster(["a"]);
    net.tick("a");
    for (let i = 0; i < 10; i++) net.core("a").propose(bytes(`v${i}`));
    net.settle();
    const applied = net.core("a").status().lastApplied;
    net.core("a").snapshotTaken(applied - 3, bytes("snap"), 0);
    const disk = net.disks.get("a");
    if (disk === undefined) throw new Error("no disk");
    disk.snapshot = { meta: { lastIncludedIndex: applied - 3, lastIncludedTerm: 2, membership: { members: net.core("a").status().members } }, data: bytes("snap") };
    const core = net.restart("a");
    expect(core.status().lastLogIndex).toBe(applied);
    expect(core.status().lastApplied).toBe(applied - 3);
    net.tick("a");
    expect(core.status().role).toBe("leader");
    net.settle();
    expect(net.appliedData("a")).toEqual(["v7", "v8", "v9"]);
  });
});
