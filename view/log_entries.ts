// The newest entries of a node's log, summarized for the cluster view: index, term, kind, the
// keys a command touches (decoded from its bytes, as the state machine decodes them) and, only
// when asked, their values. A config entry names the member it added, removed or changed.
// Read on demand from the entries the core holds in memory; nothing is kept.

import type { Entry, Member } from "../raft/core/mod.ts";
import { type Command, decodeCommand, type WriteCommand } from "../store/commands.ts";
import type { UiEntry } from "../ui/view_types.ts";

/** One entry, as the page's contract has it (`values` only with ?values=1). */
export type EntryView = UiEntry;

/** Entries shown. */
export const entriesShown = 20;
/** Keys named per entry (a POST of thousands of keys is one entry). */
export const entryKeysMax = 20;

/**
 * The last `count` of `entries` (oldest first, as the log holds them), each summarized; a
 * config entry is compared with the newest configuration before it among `entries`.
 */
export function entryViews(
  entries: readonly Entry[],
  withValues: boolean,
  count = entriesShown,
): EntryView[] {
  const start = Math.max(0, entries.length - count);
  const out: EntryView[] = [];
  // The configuration before the first shown config entry is the newest one before it in what is held.
  let members: readonly Member[] | null = null;
  for (let i = start - 1; i >= 0 && members === null; i--) members = entries[i]!.membership?.members ?? null;
  for (let i = start; i < entries.length; i++) {
    const e = entries[i]!;
    out.push(entryView(e, withValues, members));
    if (e.membership !== undefined) members = e.membership.members;
  }
  return out;
}

function entryView(e: Entry, withValues: boolean, before: readonly Member[] | null): EntryView {
  const base = { index: e.index, term: e.term };
  if (e.kind === "noop") return { ...base, kind: "noop", keys: [], summary: "no-op of a new leader" };
  if (e.kind === "config") return { ...base, kind: "config", keys: [], summary: configSummary(e.membership?.members ?? [], before) };
  let command: Command;
  try {
    command = decodeCommand(e.data);
  } catch {
    // The state machine refuses it too (a deterministic no-op): say so rather than fail the view.
    return { ...base, kind: "normal", keys: [], summary: `unreadable command (${e.data.length} bytes)` };
  }
  const written = writtenOf(command);
  const keys = written.map(([k]) => k);
  const shown = keys.slice(0, entryKeysMax);
  const more = keys.length > shown.length ? ` and ${keys.length - shown.length} more` : "";
  const view: EntryView = { ...base, kind: "normal", keys: shown, summary: `${verbOf(command)} ${shown.join(", ")}${more}` };
  if (!withValues) return view;
  const values: Record<string, string | null> = {};
  for (const [k, v] of written.slice(0, entryKeysMax)) values[k] = v;
  return { ...view, values };
}

/** The keys a command writes, with the value written (null: deleted or expired). */
function writtenOf(c: Command): (readonly [string, string | null])[] {
  switch (c.type) {
    case "set":
      return c.pairs.map(([k, v]) => [k, v] as const);
    case "delete":
      return [[c.key, null]];
    case "expire":
      return c.keys.map(([k]) => [k, null] as const);
    case "once":
      return writtenOf(c.write);
  }
}

function verbOf(c: Command): string {
  switch (c.type) {
    case "set":
      return `set${conditional(c)}${c.ttl === undefined ? "" : ` (ttl ${c.ttl.ms} ms)`}`;
    case "delete":
      return `delete${conditional(c)}`;
    case "expire":
      return "expire";
    case "once":
      return `once ${verbOf(c.write)}`;
  }
}

function conditional(c: WriteCommand): string {
  return c.condition === undefined ? "" : " if " + (c.condition.type === "match" ? `version ${c.condition.versions.join("|")}` : c.condition.type);
}

/** What a configuration changed from `before`: "add node3 (voter)", "remove node2", or the whole list. */
function configSummary(after: readonly Member[], before: readonly Member[] | null): string {
  const list = after.map((m) => `${m.id} (${m.suffrage})`).join(", ");
  if (before === null) return `members ${list}`;
  const changes: string[] = [];
  for (const m of after) {
    const old = before.find((b) => b.id === m.id);
    if (old === undefined) changes.push(`add ${m.id} at ${m.addr} as ${m.suffrage}`);
    else if (old.suffrage !== m.suffrage) changes.push(`${m.id} becomes ${m.suffrage}`);
    else if (old.addr !== m.addr) changes.push(`${m.id} moves to ${m.addr}`);
  }
  for (const b of before) if (!after.some((m) => m.id === b.id)) changes.push(`remove ${b.id}`);
  return changes.length === 0 ? `members ${list}` : changes.join("; ");
}
