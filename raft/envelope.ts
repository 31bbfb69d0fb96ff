// What travels in one transport frame: a Raft message or a store request, with the
// sender's advertised Raft address, so a node can answer a peer it has never heard of (a
// new member receives AppendEntries before it knows the leader's address).

import { decodeAppendEnvelope, decodeAppendReplyEnvelope, encodeAppendEnvelope, encodeAppendReplyEnvelope } from "./append_envelope.ts";
import { CodecError, decodeCborViews, encodeCbor } from "./codec.ts";
import type { Message } from "./core/mod.ts";
import { decodeMessage, encodeMessage } from "./message_codec.ts";
import { encodeSnapshotEnvelope } from "./snapshot_envelope.ts";

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
    if (msg.type === "AppendEntries") return encodeAppendEnvelope(kindRaft, env.fromAddr, msg);
    if (msg.type === "InstallSnapshot") return encodeSnapshotEnvelope(kindRaft, env.fromAddr, msg);
    if (msg.type === "AppendEntriesReply") {
      const reply = encodeAppendReplyEnvelope(kindRaft, env.fromAddr, msg);
      if (reply !== null) return reply;
    }
    return encodeCbor([kindRaft, env.fromAddr, encodeMessage(msg)]);
  }
  return encodeCbor([kindStore, env.fromAddr, env.payload]);
}

/**
 * Decodes a frame; throws CodecError on anything malformed (the transport then drops the link).
 * The frame must be a buffer no one reuses or changes (FrameDecoder's fresh copies): byte
 * strings in what it returns are views of it, not copies. A snapshot chunk's half MiB was
 * copied twice here (the message, then its data) before the core copied it in place; at ten
 * million keys a follower received 565 of them, each costing it 10-20 ms of CPU (issue 18).
 */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  // AppendEntries and their replies as encodeEnvelope writes them, read directly; anything
  // else, or anything that direct reading is unsure of, through cbor-x and the checks below.
  const append = decodeAppendEnvelope(bytes, kindRaft, addrCharsMax) ?? decodeAppendReplyEnvelope(bytes, kindRaft, addrCharsMax);
  if (append !== null) return { kind: "raft", fromAddr: append.fromAddr, msg: append.msg };
  const value = decodeCborViews(bytes);
  if (!Array.isArray(value) || value.length !== 3) throw new CodecError("envelope: not a 3-element array");
  const [kind, fromAddr, body] = value as [unknown, unknown, unknown];
  if (typeof fromAddr !== "string" || fromAddr.length === 0 || fromAddr.length > addrCharsMax) {
    throw new CodecError("envelope: bad sender address");
  }
  if (kind === kindRaft) {
    if (!(body instanceof Uint8Array)) throw new CodecError("envelope: raft body is not bytes");
    return { kind: "raft", fromAddr, msg: decodeMessage(body, true) };
  }
  if (kind === kindStore) return { kind: "store", fromAddr, payload: body };
  throw new CodecError(`envelope: unknown kind ${String(kind)}`);
}
