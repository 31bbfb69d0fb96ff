// A conditional set `[4, condition, k1, v1, …]` (store/commands.ts: If-Match, If-None-Match),
// written and read without cbor-x, as plain_set.ts does for plain sets (issue 16: conditional
// writes within 10% of plain ones). Every replica decodes every entry it applies; through
// cbor-x's general decoder a conditional set cost 0.8-1.6 µs where a plain one cost 0.3, and
// left a DataView (and its typed array's buffer made real) on every entry the log holds.
// Anything unusual (a non-ASCII string, a version past 32 bits, a long command, an unusual
// head) is left to cbor-x, which alone words the errors: these give cbor-x's bytes and values,
// or null.

import type { Condition, KeyValue, WriteCommand } from "./commands.ts";
import { head, headBytes } from "./once_codec.ts";
import { pairsBytes, readPairs, writePairs } from "./plain_set.ts";

/** Wire tag of a conditional set (commands.ts tagSetIf). */
const tagSetIf = 4;
/** Most versions an If-Match may list (commands.ts conditionVersionsMax). */
const versionsMax = 16;

/** The conditions without operands, shared by every command read: nothing changes a command. */
const absent: Condition = Object.freeze({ type: "absent" });
const exists: Condition = Object.freeze({ type: "exists" });

/**
 * encodeCommand's bytes for a set of `pairs` under `condition` (cbor-x's: shortest heads), in
 * a buffer of their own, if the pairs are what encodePlainSet writes and every version is an
 * integer below 2^32; null otherwise.
 */
export function encodeConditionalSet(condition: Condition, pairs: readonly KeyValue[]): Uint8Array | null {
  const conditionSize = conditionBytes(condition);
  if (conditionSize < 0 || pairs.length === 0) return null;
  const count = 2 + 2 * pairs.length;
  const at = headBytes(count) + 1 + conditionSize;
  const size = pairsBytes(pairs, at);
  if (size < 0) return null;
  const out = new Uint8Array(size);
  let p = head(out, 0, 0x80, count);
  out[p++] = tagSetIf;
  switch (condition.type) {
    case "absent":
      out[p++] = 0x81;
      out[p++] = 1;
      break;
    case "exists":
      out[p++] = 0x81;
      out[p++] = 2;
      break;
    case "match":
      p = head(out, p, 0x80, 1 + condition.versions.length);
      out[p++] = 0;
      for (const version of condition.versions) p = head(out, p, 0x00, version);
      break;
  }
  return writePairs(out, at, pairs) ? out : null;
}

/** The bytes conditionValue(condition) takes in CBOR, or -1 if this writer leaves it to cbor-x. */
function conditionBytes(condition: Condition): number {
  if (condition.type === "absent" || condition.type === "exists") return 2;
  if (condition.type !== "match") return -1;
  const versions = condition.versions;
  if (versions.length === 0 || versions.length > versionsMax) return -1;
  let size = 2;
  for (const v of versions) {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) return -1;
    size += headBytes(v);
  }
  return size;
}

/**
 * The condition conditionalSetHead read last: its kind, and for "match" its versions (the first
 * `versionCount` of `versions`). One command at a time, synchronously, as plain_set.ts's spans.
 */
export const conditionHead = { type: "absent" as Condition["type"], versions: new Array<number>(versionsMax).fill(0), versionCount: 0, pairsAt: 0 };

/**
 * The number of pairs of the conditional set `b` begins with, its condition in conditionHead and
 * `conditionHead.pairsAt` where its first key starts, if its head, tag and condition are what
 * decodeConditionalSet reads (versions of at most 32 bits); -1 otherwise (its pairs are not
 * looked at).
 */
export function conditionalSetHead(b: Uint8Array): number {
  if (b.length < 6) return -1;
  const first = b[0]!;
  let count: number;
  let at: number;
  if (first >= 0x80 && first < 0x98) {
    count = first - 0x80;
    at = 1;
  } else if (first === 0x98) {
    count = b[1]!;
    at = 2;
  } else if (first === 0x99) {
    count = b[1]! * 256 + b[2]!;
    at = 3;
  } else return -1;
  if (count < 4 || count % 2 !== 0 || b[at] !== tagSetIf) return -1;
  at++;
  const head = conditionHead;
  const c = b[at]!;
  if (c === 0x81) {
    const operand = b[at + 1];
    if (operand === 1) head.type = "absent";
    else if (operand === 2) head.type = "exists";
    else return -1;
    at += 2;
  } else if (c >= 0x82 && c <= 0x81 + versionsMax && b[at + 1] === 0) {
    const versions = head.versions;
    const n = c - 0x81;
    at += 2;
    for (let i = 0; i < n; i++) {
      if (at >= b.length) return -1;
      const h = b[at]!;
      if (h < 0x18) {
        versions[i] = h;
        at += 1;
      } else if (h === 0x18 && at + 2 <= b.length) {
        versions[i] = b[at + 1]!;
        at += 2;
      } else if (h === 0x19 && at + 3 <= b.length) {
        versions[i] = b[at + 1]! * 256 + b[at + 2]!;
        at += 3;
      } else if (h === 0x1a && at + 5 <= b.length) {
        versions[i] = ((b[at + 1]! << 24) >>> 0) + (b[at + 2]! << 16) + (b[at + 3]! << 8) + b[at + 4]!;
        at += 5;
      } else return -1;
    }
    head.type = "match";
    head.versionCount = n;
  } else return -1;
  head.pairsAt = at;
  return (count - 2) / 2;
}

/** Whether a key at `version` (-1: absent) meets the condition conditionalSetHead read last. */
export function meetsConditionHead(version: number): boolean {
  const head = conditionHead;
  if (head.type === "absent") return version < 0;
  if (head.type === "exists") return version >= 0;
  if (version < 0) return false;
  for (let i = 0; i < head.versionCount; i++) if (head.versions[i] === version) return true;
  return false;
}

/**
 * The conditional set `b` encodes, as decodeCommand returns it, if `b` is one with a well-formed
 * condition (versions of at most 32 bits) and pairs decodePlainSet would read; null otherwise.
 */
export function decodeConditionalSet(b: Uint8Array): WriteCommand | null {
  const count = conditionalSetHead(b);
  if (count < 0) return null;
  const head = conditionHead;
  const condition: Condition = head.type === "absent"
    ? absent
    : head.type === "exists"
    ? exists
    : { type: "match", versions: head.versions.slice(0, head.versionCount) };
  const pairs = readPairs(b, head.pairsAt, count);
  return pairs === null ? null : { type: "set", pairs, condition };
}
