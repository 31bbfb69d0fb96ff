// An InstallSnapshot chunk written straight into its envelope (issue 18): the general path
// encoded the message with cbor-x (a copy of the chunk's half MiB, read from the snapshot
// file's mapping) and then the envelope around the message's bytes (a second copy). Traced at
// two million keys, a leader sending a snapshot spent most of that time in those copies under
// write load. Here the chunk's data is copied once, into the frame's payload, and every other
// item is cbor-x's own encoding, so the bytes are exactly the general path's (envelope.ts
// decodes them as before, and so does an older build).

import { headBytes, skipItem, skipItemHeader, writeHead } from "./cbor_items.ts";
import { encodeCbor, metaArray } from "./codec.ts";
import { sentFrameBodies } from "./frame_bodies.ts";
import type { InstallSnapshot } from "./core/mod.ts";
import { typeCodeOf } from "./message_codec.ts";

/** `[kind, fromAddr, bytes([type, from, to, term, meta, offset, data, done])]`, data copied once. */
export function encodeSnapshotEnvelope(kind: number, fromAddr: string, m: InstallSnapshot): Uint8Array {
  // Every item but the data, in order, through cbor-x: [kind, fromAddr | type, from, to, term, meta, offset | done].
  const scalars = encodeCbor([kind, fromAddr, typeCodeOf(m.type), m.from, m.to, m.term, metaArray(m.meta), m.offset, m.done]);
  const envStart = skipItemHeader(scalars, 0);
  const headStart = skipItem(scalars, skipItem(scalars, envStart));
  let headEnd = headStart;
  for (let k = 0; k < 6; k++) headEnd = skipItem(scalars, headEnd);
  const tailEnd = scalars.length;
  const data = m.data;
  const messageBytes = 1 + (headEnd - headStart) + headBytes(data.length) + data.length + (tailEnd - headEnd);
  // Every byte of it is written below (the size check at the end says so), so a buffer an
  // earlier envelope used will do: the link hands it back once the socket took it.
  const out = sentFrameBodies.take(1 + (headStart - envStart) + headBytes(messageBytes) + messageBytes);
  let at = writeHead(out, 0, 4, 3);
  out.set(scalars.subarray(envStart, headStart), at);
  at = writeHead(out, at + headStart - envStart, 2, messageBytes);
  at = writeHead(out, at, 4, 8);
  out.set(scalars.subarray(headStart, headEnd), at);
  at = writeHead(out, at + headEnd - headStart, 2, data.length);
  out.set(data, at);
  at += data.length;
  out.set(scalars.subarray(headEnd, tailEnd), at);
  if (at + tailEnd - headEnd !== out.length) throw new Error("InstallSnapshot envelope: sizes do not add up");
  return out;
}
