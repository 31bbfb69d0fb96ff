// Damage for the direct codecs' tests (store/plain_set.ts, once_codec.ts, condition_codec.ts):
// one or two random edits to an encoded command, so that a reader which takes a shortcut past
// cbor-x is checked against cbor-x on inputs it was not written for.

import type { StorageRng } from "./storage_rng.ts";

/** `bytes` after 1–2 edits: a byte overwritten, the tail cut off, or a byte inserted. */
export function mutateBytes(rng: StorageRng, original: Uint8Array): Uint8Array {
  let bytes = original.slice();
  for (let k = 0, edits = 1 + rng.int(2); k < edits; k++) {
    const at = rng.int(bytes.length);
    const how = rng.int(3);
    if (how === 0) bytes[at] = rng.int(256);
    else if (how === 1) bytes = bytes.subarray(0, at);
    else bytes = new Uint8Array([...bytes.subarray(0, at), rng.int(256), ...bytes.subarray(at)]);
  }
  return bytes;
}
