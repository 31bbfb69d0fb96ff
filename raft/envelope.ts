// What travels in one transport frame: a Raft message or a store request, with the
// sender's advertised Raft address, so a node can answer a peer it has never heard of (a
// new member receives AppendEntries before it knows the leader's address).

import { headBytes, skipItem, skipItemHeader, writeHead } from "./cbor_items.ts";
import { CodecError, decodeCbor, encodeCbor } from "./codec.ts";
import type { AppendEntries, Message } from "./core/mod.ts";
import { entryItems } from "./entry_bytes.ts";
import { decodeMessage, encodeMessage, typeCodeOf } from "./message_codec.ts";

/** One frame's content. `store` payloads are opaque here: store/forward.ts decodes them. */
export type Envelope =
  | { readonly kind: "raft"; readonly fromAddr: string; readonly msg: Message }
  | { readonly kind: "store"; readonly fromAddr: string; readonly payload: unknown };

const kindRaft = 0;
const kindStore = 1;
/** Longest advertised address accepted. */
const addrCharsMax = 1024;

/**
 * Encodes `[kind, fromAddr, body]`: body is the codec's bytes for Raft messages (the
 * codec is the gateway for those) and a plain CBOR value for store requests.
 */
export function encodeEnvelope(env: Envelope): Uint8Array {
  if (env.kind === "raft") {
    const msg = env.msg;
    if (msg.type === "AppendEntries") return encodeAppendEnvelope(env.fromAddr, msg);
    return encodeCbor([kindRaft, env.fromAddr, encodeMessage(msg)]);
  }
  return encodeCbor([kindStore, env.fromAddr, env.payload]);
}

/**
 * An AppendEntries envelope, byte for byte what the line above would give, written into one
 * buffer: its scalars as one cbor-x call writes them, then each entry's item copied from
 * entryItems (raft/entry_bytes.ts), so a Ready's entries are encoded once for every follower
 * and the leader's own WAL record, not once per message and again for the log.
 */
function encodeAppendEnvelope(fromAddr: string, m: AppendEntries): Uint8Array {
  const items = entryItems(m.entries, "send");
  // [kind, fromAddr] of the envelope, then the message's items before and after its entries.
  const scalars = encodeCbor([kindRaft, fromAddr, typeCodeOf("AppendEntries"), m.from, m.to, m.term, m.prevLogIndex, m.prevLogTerm, m.leaderCommit, m.readRound]);
  const cuts = new Array<number>(11);
  cuts[0] = skipItemHeader(scalars, 0);
  for (let k = 0; k < 10; k++) cuts[k + 1] = skipItem(scalars, cuts[k]!);
  const [envStart, headStart, headEnd, tailEnd] = [cuts[0]!, cuts[2]!, cuts[8]!, cuts[10]!];
  let itemBytes = 0;
  for (const item of items) itemBytes += item.length;
  const messageBytes = 1 + (headEnd - headStart) + headBytes(items.length) + itemBytes + (tailEnd - headEnd);
  const out = new Uint8Array(1 + (headStart - envStart) + headBytes(messageBytes) + messageBytes);
  let at = writeHead(out, 0, 4, 3);
  out.set(scalars.subarray(envStart, headStart), at);
  at = writeHead(out, at + headStart - envStart, 2, messageBytes);
  at = writeHead(out, at, 4, 9); // [type, from, to, term, prevLogIndex, prevLogTerm, entries, leaderCommit, readRound]
  out.set(scalars.subarray(headStart, headEnd), at);
  at = writeHead(out, at + headEnd - headStart, 4, items.length);
  for (const item of items) {
    out.set(item, at);
    at += item.length;
  }
  out.set(scalars.subarray(headEnd, tailEnd), at);
  if (at + tailEnd - headEnd !== out.length) throw new CodecError("AppendEntries envelope: sizes do not add up");
  return out;
}

/** Decodes a frame; throws CodecError on anything malformed (the transport then drops the link). */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  const value = decodeCbor(bytes);
  if (!Array.isArray(value) || value.length !== 3) throw new CodecError("envelope: not a 3-element array");
  const [kind, fromAddr, body] = value as [unknown, unknown, unknown];
  if (typeof fromAddr !== "string" || fromAddr.length === 0 || fromAddr.length > addrCharsMax) {
    throw new CodecError("envelope: bad sender address");
  }
  if (kind === kindRaft) {
    if (!(body instanceof Uint8Array)) throw new CodecError("envelope: raft body is not bytes");
    return { kind: "raft", fromAddr, msg: decodeMessage(body) };
  }
  if (kind === kindStore) return { kind: "store", fromAddr, payload: body };
  throw new CodecError(`envelope: unknown kind ${String(kind)}`);
}
