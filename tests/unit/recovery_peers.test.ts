// Goal (issue 15, item 7): a node that finds <data-dir>/peers.json forms a configuration of
// exactly those members, keeps every entry it holds (snapshot and log, committed or not),
// consumes the file so it never applies twice, and gets there whatever a crash in the middle
// left; a file that cannot be used is refused with one line, nothing changed.
// Method: storage written on SimDisk as a 3-voter node would have it (a snapshot, then log
// entries; or a snapshot alone, as with -inmem), then openNode (the production factory) on
// simulated seams with a crash armed at every disk operation of the recovery in turn, each
// followed by a power loss (torn or dropped unsynced writes) and a clean restart.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openNode, type NodeSeams, type NodeSettings } from "../../open_node.ts";
import type { Entry, Member, Snapshot } from "../../raft/core/mod.ts";
import { openStorage } from "../../raft/storage.ts";
import { encodeCommand } from "../../store/commands.ts";
import { KvStateMachine } from "../../store/state_machine.ts";
import { SimCrashError, SimDisk } from "../sim/sim_disk.ts";
import { storageRng } from "../support/storage_rng.ts";

const dataDir = "/data/node0";
const voters = (ids: string[]): Member[] => ids.map((id, i) => ({ id, addr: `host${i}:12000`, suffrage: "voter" }));
const three = voters(["node0", "node1", "node2"]);

/** Keys 0..count-1 written one entry each, from `from`, in term 2. */
function setEntries(from: number, count: number, first: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: from + i,
    term: 2,
    kind: "normal" as const,
    data: encodeCommand({ type: "set", pairs: [[`k${first + i}`, `v${first + i}`]] }),
  }));
}

/** A node0 of a 3-voter cluster: a snapshot at 10 (keys 0..8), then `logged` more entries. */
function seed(disk: SimDisk, logged: number): number {
  const sm = new KvStateMachine();
  for (const e of setEntries(2, 9, 0)) sm.apply(e.data);
  const snapshot: Snapshot = { meta: { lastIncludedIndex: 10, lastIncludedTerm: 2, membership: { members: three } }, data: sm.snapshot() };
  const { storage } = openStorage({ logDisk: disk, snapshotDisk: disk, dataDir });
  storage.saveNodeId("node0");
  storage.persist({ currentTerm: 2, votedFor: "node1" }, snapshot, setEntries(11, logged, 9));
  storage.close();
  return 9 + logged;
}

function writePeers(disk: SimDisk, text: string): void {
  const f = disk.open(join(dataDir, "peers.json"), "create");
  f.write(new TextEncoder().encode(text), 0);
  f.sync();
  f.close();
  disk.syncDir(dataDir);
}

const survivors = JSON.stringify([{ id: "node0", address: "host0:12000" }, { id: "node1", address: "host1:12000" }]);

const settings: NodeSettings = {
  nodeId: "node0",
  raftAddr: "host0:12000",
  dataDir,
  isJoining: false,
  electionTicks: 10,
  heartbeatTicks: 2,
  snapshotThresholdEntries: 1000,
  snapshotTrailingEntries: 10,
  walPreallocateBytes: 0,
  requestTimeoutMs: 1000,
  bodyBytesMax: 1 << 20,
};

function seams(disk: SimDisk, lines: string[]): NodeSeams {
  const log = (line: string): void => void lines.push(line);
  let n = 1;
  return {
    logDisk: disk,
    snapshotDisk: disk,
    openTransport: () => ({ listen: async () => undefined, send: () => true, flush: () => undefined, close: async () => undefined }) as never,
    clock: { now: () => 0 },
    timers: { setTimeout: () => 0, clearTimeout: () => undefined },
    scheduler: { defer: () => undefined },
    ticker: { start: () => undefined, stop: () => undefined },
    random: () => n++,
    logger: { info: log, warn: log, error: log, debug: log } as NodeSeams["logger"],
    onFatal: (e) => {
      throw e;
    },
  };
}

/** Opens node0 through openNode; its members, keys and log lines; then closes it. */
async function open(disk: SimDisk): Promise<{ members: string[]; keys: Map<string, string>; lines: string[] }> {
  const lines: string[] = [];
  const opened = openNode(settings, seams(disk, lines));
  const members = opened.node.status().members.map((m) => `${m.id}:${m.suffrage}`);
  const keys = new Map<string, string>();
  for (let i = 0; i < 100; i++) {
    const v = await opened.store.get(`k${i}`, "stale");
    if (v !== null) keys.set(`k${i}`, v);
  }
  await opened.stop();
  return { members, keys, lines };
}

function expectRecovered(r: { members: string[]; keys: Map<string, string> }, keyCount: number): void {
  expect(r.members).toEqual(["node0:voter", "node1:voter"]);
  expect(r.keys.size).toBe(keyCount);
  for (let i = 0; i < keyCount; i++) expect(r.keys.get(`k${i}`)).toBe(`v${i}`);
}

describe("peers.json recovery", () => {
  for (const logged of [5, 0]) {
    test(`keeps every entry, forms the new configuration, consumes the file (${logged} entries after the snapshot)`, async () => {
      const disk = new SimDisk();
      const keyCount = seed(disk, logged);
      expect((await open(disk)).members).toEqual(["node0:voter", "node1:voter", "node2:voter"]);
      writePeers(disk, survivors);
      const first = await open(disk);
      expectRecovered(first, keyCount);
      expect(first.lines.join("\n")).toMatch(/recovered from lost quorum with peers.json: the cluster is now node0=host0:12000, node1=host1:12000/);
      expect(disk.exists(join(dataDir, "peers.json"))).toBe(false);
      expect(disk.list(dataDir)).toContain(`peers.json.applied-2-${10 + logged}`);
      // Applied once: the next start neither finds nor logs it.
      const second = await open(disk);
      expectRecovered(second, keyCount);
      expect(second.lines.join("\n")).not.toMatch(/recovered from lost quorum/);
    });
  }

  for (const [logged, mode] of [[5, "tear"], [5, "drop"], [0, "tear"]] as const) {
    test(`a crash at any disk operation of the recovery, then a restart, ends recovered (${logged} logged, ${mode})`, async () => {
      let crashes = 0;
      for (let at = 1; ; at++) {
        const disk = new SimDisk();
        const keyCount = seed(disk, logged);
        writePeers(disk, survivors);
        disk.armCrash(at);
        let crashed = false;
        try {
          await open(disk);
        } catch (e) {
          if (!(e instanceof SimCrashError)) throw e;
          crashed = true;
        }
        if (!crashed) break;
        crashes++;
        disk.crash(mode, storageRng(at));
        const after = await open(disk);
        expectRecovered(after, keyCount);
        expect(disk.exists(join(dataDir, "peers.json"))).toBe(false);
      }
      expect(crashes).toBeGreaterThan(5);
    });
  }

  test("a file that does not list this node, or is not a member list, is refused and left in place", async () => {
    for (const [text, why] of [
      [JSON.stringify([{ id: "node1", address: "host1:12000" }]), /does not list this node \(node0\)/],
      ["{not json", /not valid JSON/],
      [JSON.stringify([{ id: "node0" }]), /needs a non-empty "id" and an "address"/],
      [JSON.stringify([{ id: "node0", address: ":12000" }]), /has no host/],
      [JSON.stringify([{ id: "node0", address: "a:1" }, { id: "node0", address: "b:1" }]), /listed twice/],
    ] as const) {
      const disk = new SimDisk();
      seed(disk, 3);
      writePeers(disk, text);
      let message = "";
      try {
        openNode(settings, seams(disk, []));
      } catch (e) {
        expect((e as Error).name).toBe("StartError");
        message = (e as Error).message;
      }
      expect(message).toMatch(why);
      expect(message).not.toContain("\n");
      expect(disk.exists(join(dataDir, "peers.json"))).toBe(true);
      disk.remove(join(dataDir, "peers.json"));
      expect((await open(disk)).members).toHaveLength(3); // nothing else changed
    }
  });
});
