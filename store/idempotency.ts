// Idempotency-Key (issue 16 item 1): what a key may be, how it is scoped to its user, and how
// a once-only write's outcome crosses the wire in a forwarded request's reply.

import type { WriteOutcome } from "./api.ts";
import { StoreError } from "./errors.ts";

/** Longest Idempotency-Key accepted (characters). */
export const idempotencyKeyCharsMax = 255;

/**
 * 1 to 255 printable ASCII characters (space to '~'): enough for a UUID or a client's own
 * request names, and nothing a log line or a header could misread.
 */
export function isIdempotencyKey(x: unknown): x is string {
  return typeof x === "string" && x.length > 0 && x.length <= idempotencyKeyCharsMax && /^[\x20-\x7e]+$/.test(x);
}

/**
 * The id the once-only table keys on: `<user>:<key>`, "" for no user (no -auth, or a client
 * allowed as "*"). User names never contain ':' (security/auth_file.ts), so two users' keys
 * never meet: the same key sent by two users is two requests.
 */
export function scopedId(user: string | null, key: string): string {
  return `${user ?? ""}:${key}`;
}

/**
 * A once-only write's outcome as the `value` of a forwarded request's reply: "<status>
 * <replayed 0|1> <body>". The reply's value field exists on every build, so the reply's wire
 * format is unchanged (only the request has new operation tags, see forward.ts).
 */
export function outcomeValue(outcome: WriteOutcome): string {
  return `${outcome.status} ${outcome.replayed ? 1 : 0} ${outcome.body}`;
}

/** The outcome a leader's reply carries; StoreError "unavailable" if it carries none. */
export function parseOutcomeValue(value: string | null): WriteOutcome {
  const m = value === null ? null : /^([1-5]\d\d) ([01]) /.exec(value);
  if (m === null || value === null) {
    throw new StoreError("outcomeUnknown", "the leader's reply to a write with an Idempotency-Key carried no outcome; outcome unknown");
  }
  return { status: Number(m[1]), replayed: m[2] === "1", body: value.slice(m[0].length) };
}
