// The simulator's key-value state machine and its CBOR commands: set-many {k: v, ...} and
// delete k. One command is one log entry, applied atomically; snapshots encode the whole map.

import { decode, encode } from "cbor-x";
import { unreachable } from "../../raft/core/mod.ts";

/** A store command as carried in a `normal` entry. */
export type KvCommand =
  | { readonly type: "set"; readonly values: Readonly<Record<string, string>> }
  | { readonly type: "delete"; readonly key: string };

/** Encodes a command for propose(). */
export function encodeCommand(cmd: KvCommand): Uint8Array {
  return encode(cmd.type === "set" ? { op: "set", values: cmd.values } : { op: "delete", key: cmd.key });
}

/** Decodes entry data written by encodeCommand; throws on anything else (a corrupted entry). */
export function decodeCommand(data: Uint8Array): KvCommand {
  const v = decode(data) as { op?: unknown; values?: unknown; key?: unknown };
  if (v.op === "set" && typeof v.values === "object" && v.values !== null) {
    return { type: "set", values: v.values as Record<string, string> };
  }
  if (v.op === "delete" && typeof v.key === "string") return { type: "delete", key: v.key };
  throw new Error(`undecodable command ${JSON.stringify(v)}`);
}

/** The replicated map. Snapshots are the CBOR of its sorted entries, so equal maps give equal bytes. */
export class KvMachine {
  readonly map = new Map<string, string>();

  apply(cmd: KvCommand): void {
    switch (cmd.type) {
      case "set":
        for (const [k, v] of Object.entries(cmd.values)) this.map.set(k, v);
        return;
      case "delete":
        this.map.delete(cmd.key);
        return;
      default:
        return unreachable(cmd);
    }
  }

  get(key: string): string | null {
    return this.map.get(key) ?? null;
  }

  snapshot(): Uint8Array {
    return encode([...this.map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  }

  restore(data: Uint8Array): void {
    this.map.clear();
    if (data.length === 0) return;
    for (const [k, v] of decode(data) as [string, string][]) this.map.set(k, v);
  }
}

