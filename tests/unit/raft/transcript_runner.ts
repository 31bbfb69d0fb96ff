// Runs a transcript's commands against a cluster of cores joined by an in-memory network
// that the commands drive step by step, and prints what each command caused (the Ready
// contents per node, the messages as they arrive). Not a test itself: transcript.test.ts
// runs it on tests/unit/raft/transcripts/*.txt.
//
// The file format is in transcript_file.ts. Commands:
//
//   add-nodes N [voters=(1,2,3)] [learners=(4)] [log=(1,1,4)] [term=T] [vote=ID]
//             [prevote=false] [checkquorum=false] [quiet=false]
//       adds N nodes with the next ids. With voters: bootstrapped with that membership, or,
//       with log (the terms of entries 1..n), restarted from that log and hard state. Without
//       voters: an empty node that waits to be added by a leader.
//   campaign ID                 tick ID until it stops being a follower (its random timeout)
//   tick ID [N] | tick-heartbeat ID | tick-election ID
//   propose ID DATA | propose-conf-change ID add-learner|promote|remove NODE
//   read-index ID CTX | transfer-leadership ID TARGET | snapshot ID [trailing=N]
//   process-ready ID... | deliver-msgs ID... | stabilize [ID...]
//   isolate ID | heal | restart ID (from what its Readies persisted) | status [ID...] | log ID
//
// Every node has electionTicks=10 and heartbeatTicks=1; its random source is seeded by its
// id, so a transcript replays exactly. The core's invariants are checked after every step.

import {
  checkInvariants,
  createRaft,
  createRng,
  type Entry,
  type HardState,
  type InitialState,
  type Membership,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftCore,
  type Snapshot,
} from "../../../raft/core/mod.ts";
import type { Transcript } from "./transcript_file.ts";
import { formatEntry, formatMessage, formatReady, formatStatus } from "./transcript_print.ts";

/** Runs every block in a fresh cluster and returns each block's output lines. */
export function runTranscript(t: Transcript): string[][] {
  const world = new World();
  return t.blocks.map((b) => {
    let out: string[];
    try {
      out = world.run(b.command);
    } catch (e) {
      throw new Error(`line ${b.line}: ${b.command}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return out.length > 0 ? out : ["ok"];
  });
}

const ELECTION_TICKS = 10;
const HEARTBEAT_TICKS = 1;

/** What a node's Readies made durable, carried out as raft/core/ready.ts prescribes. */
interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

interface Node {
  core: RaftCore;
  readonly config: RaftConfig;
  readonly disk: Disk;
  inbox: Message[];
}

interface Args {
  readonly positional: readonly string[];
  readonly keyed: ReadonlyMap<string, string>;
}

function parseArgs(words: readonly string[]): Args {
  const positional: string[] = [];
  const keyed = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq < 0) positional.push(w);
    else keyed.set(w.slice(0, eq), w.slice(eq + 1));
  }
  return { positional, keyed };
}

function parseList(value: string | undefined): string[] {
  if (value === undefined) return [];
  if (!value.startsWith("(") || !value.endsWith(")")) throw new Error(`not a list: ${value}`);
  const inner = value.slice(1, -1).trim();
  return inner === "" ? [] : inner.split(",").map((s) => s.trim());
}

function flag(args: Args, key: string): boolean | undefined {
  const v = args.keyed.get(key);
  return v === undefined ? undefined : v === "true";
}

function seedOf(id: NodeId): number {
  let seed = 1;
  for (let i = 0; i < id.length; i++) seed = (seed * 31 + id.charCodeAt(i)) | 0;
  return seed;
}

class World {
  private readonly nodes = new Map<NodeId, Node>();
  /** Directed links "a>b" that drop what they carry. */
  private readonly cut = new Set<string>();
  private nextId = 1;

  run(command: string): string[] {
    const [name, ...rest] = command.trim().split(/\s+/);
    const args = parseArgs(rest);
    const p = args.positional;
    const ids = p.length > 0 ? [...p] : [...this.nodes.keys()];
    const count = (i: number, d: number) => (p[i] === undefined ? d : Number(p[i]));
    switch (name) {
      case "add-nodes": return this.addNodes(count(0, 1), args);
      case "campaign": return this.campaign(this.id(p[0]));
      case "tick": return this.tick(this.id(p[0]), count(1, 1));
      case "tick-heartbeat": return this.tick(this.id(p[0]), HEARTBEAT_TICKS);
      case "tick-election": return this.tick(this.id(p[0]), ELECTION_TICKS);
      case "propose": return [this.result(this.node(p[0]).core.propose(new TextEncoder().encode(p[1] ?? "")))];
      case "propose-conf-change": return [this.result(this.node(p[0]).core.proposeConfChange(this.change(p[1], p[2])))];
      case "read-index": {
        this.node(p[0]).core.readIndex(p[1] ?? "");
        return [];
      }
      case "transfer-leadership": return [this.node(p[0]).core.transferLeadership(this.id(p[1])) ? "ok" : "refused"];
      case "snapshot": return this.snapshot(this.id(p[0]), Number(args.keyed.get("trailing") ?? 0));
      case "process-ready": return ids.flatMap((id) => this.processReady(id));
      case "deliver-msgs": return ids.flatMap((id) => this.deliver(id));
      case "stabilize": return this.stabilize(ids);
      case "isolate": return this.isolate(this.id(p[0]));
      case "heal": {
        this.cut.clear();
        return [];
      }
      case "restart": return this.restart(this.id(p[0]));
      case "status": return ids.map((id) => formatStatus(this.node(id).core.status()));
      case "log": return this.node(p[0]).core.entries().map(formatEntry);
      default: throw new Error(`unknown command ${name}`);
    }
  }

  private id(id: string | undefined): NodeId {
    this.node(id);
    return id as NodeId;
  }

  private node(id: string | undefined): Node {
    const n = id === undefined ? undefined : this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  private addNodes(n: number, args: Args): string[] {
    const voters = parseList(args.keyed.get("voters"));
    const learners = parseList(args.keyed.get("learners"));
    const membership: Membership = {
      members: [...voters.map((id) => ({ id, suffrage: "voter" as const })), ...learners.map((id) => ({ id, suffrage: "learner" as const }))]
        .map((m) => ({ ...m, addr: `addr-${m.id}` }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    };
    const terms = args.keyed.has("log") ? parseList(args.keyed.get("log")).map(Number) : null;
    const hardState: HardState = {
      currentTerm: Number(args.keyed.get("term") ?? (terms === null ? 0 : Math.max(0, ...terms))),
      votedFor: args.keyed.get("vote") ?? null,
    };
    const initial: InitialState = terms === null
      ? { hardState, snapshot: null, entries: [], bootstrap: voters.length > 0 ? membership : null }
      : {
          hardState,
          // An empty snapshot at index 0 carries the membership, so the log is exactly `log`.
          snapshot: { meta: { lastIncludedIndex: 0, lastIncludedTerm: 0, membership }, data: new Uint8Array(0) },
          entries: terms.map((term, i) => ({ index: i + 1, term, kind: "normal", data: new TextEncoder().encode("old") })),
          bootstrap: null,
        };
    const out: string[] = [];
    for (let k = 0; k < n; k++) {
      const id = String(this.nextId++);
      const config: RaftConfig = {
        id, electionTicks: ELECTION_TICKS, heartbeatTicks: HEARTBEAT_TICKS, rng: createRng(seedOf(id)),
        preVote: flag(args, "prevote"), checkQuorum: flag(args, "checkquorum"), quietAfterRestart: flag(args, "quiet"),
      };
      const disk: Disk = { hardState, snapshot: initial.snapshot, entries: [...initial.entries] };
      this.nodes.set(id, { core: createRaft(config, initial), config, disk, inbox: [] });
      out.push(formatStatus(this.node(id).core.status()));
    }
    return out;
  }

  private campaign(id: NodeId): string[] {
    const core = this.node(id).core;
    for (let ticks = 1; ticks <= 4 * ELECTION_TICKS; ticks++) {
      core.tick();
      checkInvariants(core);
      if (core.status().role !== "follower") return [`after ${ticks} ticks`, formatStatus(core.status())];
    }
    throw new Error(`${id} did not campaign`);
  }

  /** Ticks `id` n times; reports its state if its role, term or leader changed. */
  private tick(id: NodeId, n: number): string[] {
    const core = this.node(id).core;
    const before = core.status();
    for (let i = 0; i < n; i++) {
      core.tick();
      checkInvariants(core);
    }
    const after = core.status();
    const changed = before.role !== after.role || before.term !== after.term || before.leader !== after.leader;
    return changed ? [formatStatus(after)] : [];
  }

  private change(type: string | undefined, id: string | undefined): Parameters<RaftCore["proposeConfChange"]>[0] {
    if (id === undefined) throw new Error("propose-conf-change needs a node id");
    if (type === "add-learner") return { type: "addLearner", id, addr: `addr-${id}` };
    if (type === "promote") return { type: "promote", id };
    if (type === "remove") return { type: "remove", id };
    throw new Error(`unknown change ${type}`);
  }

  private result(r: ReturnType<RaftCore["propose"]>): string {
    return r.ok ? `ok ${r.id.index}/${r.id.term}` : `refused ${r.reason} leader=${r.leader ?? "none"}`;
  }

  /** The application snapshots everything it applied; the core keeps `trailing` entries. */
  private snapshot(id: NodeId, trailing: number): string[] {
    const core = this.node(id).core;
    const index = core.status().lastApplied;
    core.snapshotTaken(index, new TextEncoder().encode(`state@${index}`), trailing);
    checkInvariants(core);
    return [formatStatus(core.status())];
  }

  /** One Ready: persisted to the node's disk, messages queued at their receivers, advanced. */
  private processReady(id: NodeId): string[] {
    const node = this.node(id);
    if (!node.core.hasReady()) return [`> ${id} ready`, "  (nothing)"];
    const rd = node.core.ready();
    const disk = node.disk;
    if (rd.snapshot !== null) {
      disk.snapshot = rd.snapshot;
      disk.entries = [];
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      disk.entries = disk.entries.filter((e) => e.index < first.index).concat(rd.entries);
    }
    if (rd.hardState !== null) disk.hardState = rd.hardState;
    for (const m of [...rd.messages, ...rd.messagesAfterPersist]) this.nodes.get(m.to)?.inbox.push(m);
    node.core.advance(rd);
    checkInvariants(node.core);
    return [`> ${id} ready`, ...formatReady(rd).map((l) => `  ${l}`)];
  }

  /** Steps every message waiting for `id`, in arrival order; a cut link drops it. */
  private deliver(id: NodeId): string[] {
    const node = this.node(id);
    if (node.inbox.length === 0) return [];
    const msgs = node.inbox;
    node.inbox = [];
    const out = [`> ${id} receives`];
    for (const m of msgs) {
      if (this.cut.has(`${m.from}>${m.to}`)) {
        out.push(`  dropped: ${formatMessage(m)}`);
        continue;
      }
      out.push(`  ${formatMessage(m)}`);
      node.core.step(m);
      checkInvariants(node.core);
    }
    return out;
  }

  /** Readies, then deliveries, among `ids` until none of them has anything left to do. */
  private stabilize(ids: readonly NodeId[]): string[] {
    const out: string[] = [];
    for (let round = 0; round < 1000; round++) {
      const ready = ids.filter((id) => this.node(id).core.hasReady());
      for (const id of ready) out.push(...this.processReady(id));
      const waiting = ids.filter((id) => this.node(id).inbox.length > 0);
      for (const id of waiting) out.push(...this.deliver(id));
      if (ready.length === 0 && waiting.length === 0) return out;
    }
    throw new Error("did not stabilize");
  }

  private isolate(id: NodeId): string[] {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
    return [];
  }

  /** Crash and restart: a new core from what the node's Readies persisted; its inbox is lost. */
  private restart(id: NodeId): string[] {
    const node = this.node(id);
    const d = node.disk;
    const config = { ...node.config, rng: createRng(seedOf(id)) };
    node.core = createRaft(config, { hardState: d.hardState, snapshot: d.snapshot, entries: [...d.entries], bootstrap: null });
    node.inbox = [];
    return [formatStatus(node.core.status())];
  }
}
