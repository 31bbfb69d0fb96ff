// A versioned read's answer as the value of a forwarded reply (the reply's wire format stays
// as it is): "<version> <applied> <value>", version "-" for an absent key, or null.

import type { VersionedValue } from "./api.ts";
import { StoreError } from "./errors.ts";

export function versionedValue(v: VersionedValue): string {
  return `${v.version ?? "-"} ${v.applied} ${v.value ?? ""}`;
}

export function parseVersionedValue(value: string | null): VersionedValue {
  const m = value === null ? null : /^(-|\d{1,16}) (\d{1,16}) /.exec(value);
  if (m === null || value === null) throw new StoreError("unavailable", "the leader's reply to a versioned read carried no version");
  const isAbsent = m[1] === "-";
  return { value: isAbsent ? null : value.slice(m[0].length), version: isAbsent ? null : Number(m[1]), applied: Number(m[2]) };
}
