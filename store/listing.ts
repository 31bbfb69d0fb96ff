// One page of a listing (GET /key?prefix=&after=&limit=, issue 16 item 3): keys in key order
// from the ordered index (./ordered_keys.ts), each with its value and version from the same
// state, read in one synchronous step so the page is the state at one applied index.

import type { OrderedKeys } from "./ordered_keys.ts";

/** Most items a page holds, and the default when the client names no limit. */
export const listLimitMax = 1000;
export const listLimitDefault = 100;
/**
 * Characters of keys and values past which a page ends early (after at least one item), so a
 * page of large values stays a bounded response: 4 Mi characters, 8 MiB of UTF-16, about as
 * much JSON for ASCII.
 */
export const listPageCharsMax = 4 * 1024 * 1024;

/** What a page asks for: keys starting with `prefix`, after `after` (the previous page's `next`), at most `limit`. */
export interface ListQuery {
  readonly prefix: string;
  /** Only keys greater than this (it starts with `prefix`); null: from the first key with the prefix. */
  readonly after: string | null;
  readonly limit: number;
}

/** One listed key: its value and version (the log index of its last write, 0 if unknown). */
export interface ListItem {
  readonly key: string;
  readonly value: string;
  readonly version: number;
}

/** A page: items in key order; `next` the cursor for the next page (null: none left); the applied index read. */
export interface ListPage {
  readonly items: readonly ListItem[];
  readonly next: string | null;
  readonly applied: number;
}

/** The state a page reads values from: the live view of the map whose keys `keys` holds. */
export interface ListView {
  get(key: string): string | undefined;
  versionOf(key: string): number | undefined;
}

/**
 * The items of `query` over `keys` and `view` (which must agree: every key of `keys` is in
 * `view`), and the cursor: the last key listed when another key with the prefix follows it.
 * Keys `hidden` says are skipped (past their deadline: issue 16's TTL), counted nowhere.
 * Costs one descent of the index plus the page, whatever the number of keys.
 */
export function listPage(
  keys: OrderedKeys,
  view: ListView,
  query: ListQuery,
  hidden?: (key: string) => boolean,
): { items: ListItem[]; next: string | null } {
  const { prefix, after, limit } = query;
  const items: ListItem[] = [];
  let chars = 0;
  const scan = after === null ? keys.scan(prefix) : keys.scan(after, true);
  for (const key of scan) {
    if (!key.startsWith(prefix)) break;
    if (hidden?.(key) === true) continue;
    const value = view.get(key);
    if (value === undefined) throw new Error(`listing: key ${JSON.stringify(key)} is in the ordered index but not in the map`);
    const size = key.length + value.length;
    if (items.length >= limit || (items.length > 0 && chars + size > listPageCharsMax)) {
      // Another key with the prefix follows: the page ends at the last one listed.
      return { items, next: items[items.length - 1]!.key };
    }
    items.push({ key, value, version: view.versionOf(key) ?? 0 });
    chars += size;
  }
  return { items, next: null };
}

/** The page as the HTTP API answers it: `{"items":[{"key":…,"value":…,"version":…}],"next":…}`. */
export function listPageJson(page: { readonly items: readonly ListItem[]; readonly next: string | null }): string {
  let out = '{"items":[';
  const items = page.items;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (i > 0) out += ",";
    out += `{"key":${JSON.stringify(item.key)},"value":${JSON.stringify(item.value)},"version":${item.version}}`;
  }
  return `${out}],"next":${page.next === null ? "null" : JSON.stringify(page.next)}}`;
}
