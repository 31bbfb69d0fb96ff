// Recovery from lost quorum, as hashicorp/raft's RecoverCluster and rqlite's peers.json: when a
// majority is gone for good, the operator writes the surviving members into
// `<data-dir>/peers.json` on every survivor and starts them. At start, a node that finds the
// file forms a configuration of exactly those members and keeps every entry it holds: the
// state of its snapshot plus every entry of its log (committed or not: no one can tell any
// more) becomes a new snapshot at the last entry's index and term, carrying the new membership,
// and the log is dropped. Then the file is renamed aside (peers.json.applied-<term>-<index>),
// so it never applies twice.
//
// Crash-safe: the snapshot is durable before the log is dropped, and both before the file is
// renamed aside. A crash anywhere leaves peers.json in place, and the next start redoes the
// recovery from what it finds: the new snapshot at the same index and term, with the same
// membership, which it recognises and keeps. This breaks Raft's safety on purpose (entries
// never committed may be kept, and a majority that still existed somewhere would diverge):
// only for a majority lost for good.

import { join } from "node:path";
import { parseHostPort } from "../address.ts";
import { nodeId } from "./core/mod.ts";
import type { Entry, Member, Membership, NodeId, SnapshotMeta } from "./core/mod.ts";
import type { Disk, Logger } from "./host.ts";
import type { Recovered } from "./storage.ts";

/** The file the operator writes into the data directory. */
export const peersFileName = "peers.json";

/** peers.json cannot be used: one line naming the file and why; nothing was changed. */
export class PeersFileError extends Error {
  // main.ts prints a StartError as one line and exits 1: the operator has a file to fix.
  override readonly name = "StartError";
}

/** What a recovery needs beyond the recovered storage. */
export interface PeersRecoveryOptions {
  /** The disk of the data directory itself (the real one, also with -inmem). */
  readonly disk: Disk;
  readonly dataDir: string;
  /** This node's id (-id). */
  readonly self: string;
  readonly logger: Pick<Logger, "info" | "warn">;
  /** The state machine's snapshot bytes: `snapshot`'s state (null: empty) with `entries` applied. */
  readonly rebuildState: (snapshot: Uint8Array | null, entries: readonly Entry[]) => Uint8Array;
}

/**
 * The members peers.json lists, all voters, sorted by id; null if there is no such file.
 * Throws PeersFileError for a file that is not `[{"id": …, "address": "host:port"}, …]` with
 * unique ids and addresses.
 */
export function readPeersFile(disk: Disk, dataDir: string): Membership | null {
  const path = join(dataDir, peersFileName);
  if (!disk.exists(path)) return null;
  const fail = (why: string): never => {
    throw new PeersFileError(`${path}: ${why}; fix or remove it (format: [{"id": "node0", "address": "host:12000"}, …])`);
  };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(disk.readFile(path)));
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(value) || value.length === 0) return fail("not a non-empty JSON array of members");
  const members: Member[] = [];
  for (const [i, item] of value.entries()) {
    const { id, address } = (typeof item === "object" && item !== null ? item : {}) as Record<string, unknown>;
    if (typeof id !== "string" || id === "" || typeof address !== "string") return fail(`member ${i} needs a non-empty "id" and an "address"`);
    try {
      if (parseHostPort(address).host === "") return fail(`member ${i} (${id}): address ${address} has no host`);
    } catch (e) {
      return fail(`member ${i} (${id}): ${(e as Error).message}`);
    }
    if (members.some((m) => m.id === id)) return fail(`id ${id} is listed twice`);
    if (members.some((m) => m.addr === address)) return fail(`address ${address} is listed twice`);
    members.push({ id: nodeId(id), addr: address, suffrage: "voter" });
  }
  members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { members };
}

/**
 * Applies peers.json if the data directory has one (see the header), returning storage opened
 * afresh by `reopen`; otherwise returns `recovered` as it is. A node of another id is left to
 * the caller's check (nothing is changed for it).
 */
export function applyPeersFile(recovered: Recovered, reopen: () => Recovered, opts: PeersRecoveryOptions): Recovered {
  let membership: Membership | null;
  try {
    membership = readPeersFile(opts.disk, opts.dataDir);
  } catch (e) {
    recovered.storage.close();
    throw e;
  }
  if (membership === null || (recovered.nodeId !== null && recovered.nodeId !== opts.self)) return recovered;
  const path = join(opts.dataDir, peersFileName);
  const refuse = (why: string): never => {
    recovered.storage.close();
    throw new PeersFileError(`${path}: ${why}`);
  };
  if (!membership.members.some((m) => m.id === opts.self)) {
    refuse(`does not list this node (${opts.self}): list every survivor, this one included`);
  }
  const { snapshot, entries } = recovered.initial;
  const last = entries[entries.length - 1];
  const lastIndex = last?.index ?? snapshot?.meta.lastIncludedIndex ?? 0;
  const lastTerm = last?.term ?? snapshot?.meta.lastIncludedTerm ?? 0;
  if (lastIndex === 0) refuse("this data directory holds no log and no snapshot: there is nothing to recover (remove the file)");
  const meta: SnapshotMeta = { lastIncludedIndex: lastIndex, lastIncludedTerm: lastTerm, membership };
  if (!isSameSnapshot(snapshot?.meta ?? null, meta)) {
    recovered.storage.saveRecoverySnapshot(meta, () => opts.rebuildState(snapshot?.data ?? null, entries));
  }
  recovered.storage.close();
  // Durable only now that the snapshot is: a crash before this keeps the file for a redo.
  const aside = `${path}.applied-${lastTerm}-${lastIndex}`;
  opts.disk.rename(path, aside);
  opts.disk.syncDir(opts.dataDir);
  const names = membership.members.map((m) => `${m.id}=${m.addr}`).join(", ");
  opts.logger.warn(
    `recovered from lost quorum with ${peersFileName}: the cluster is now ${names}, from index ${lastIndex} term ${lastTerm} ` +
      `(every entry held here kept, committed or not); ${peersFileName} renamed to ${aside}`,
  );
  return reopen();
}

/** True if `stored` is already the snapshot the recovery would write (a redo after a crash). */
function isSameSnapshot(stored: SnapshotMeta | null, meta: SnapshotMeta): boolean {
  if (stored === null || stored.lastIncludedIndex !== meta.lastIncludedIndex || stored.lastIncludedTerm !== meta.lastIncludedTerm) return false;
  const a = stored.membership.members;
  const b = meta.membership.members;
  return a.length === b.length && a.every((m, i) => m.id === b[i]!.id && m.addr === b[i]!.addr && m.suffrage === b[i]!.suffrage);
}
