// Permissions: the names a users file grants (rqlite's, for the operations hraftd has) as bits,
// so a check on a hot request is one AND. Which permission a route needs is written in the
// route table itself (http/routes.ts, field `perm`); guardRoute wraps such a route's handler
// with the check, so the Hono app and the fast path, which run the same handlers, check alike.
//
// Routes without a `perm` need none: the 400 for a missing key, every 405 and the 404 answer
// without touching the store, and asking for credentials there would only hide the real mistake.

import { jsonError } from "../http/errors.ts";
import type { Route } from "../http/routes.ts";
import type { RequestTimeouts } from "../http/serve.ts";
import type { Caller } from "../store/api.ts";

/** A permission a route needs. `all` in a users file grants every one. */
export type PermissionName = "read" | "write" | "join" | "remove" | "status";

/** A set of permissions as bits (see permissionBits). */
export type Perms = number;

/** The bit of each permission. */
export const permissionBits: Readonly<Record<PermissionName, Perms>> = {
  read: 1,
  write: 2,
  join: 4,
  remove: 8,
  status: 16,
};

/** Every permission: what `all` grants. */
export const allPerms: Perms = 31;

/** The names a users file may list, in the order messages give them. */
export const permissionFileNames: readonly string[] = ["read", "write", "join", "remove", "status", "all"];

/** The bits of one name from a users file, or null for a name that is not a permission. */
export function permsOfName(name: string): Perms | null {
  if (name === "all") return allPerms;
  return Object.hasOwn(permissionBits, name) ? permissionBits[name as PermissionName] : null;
}

/** The names in `perms`, e.g. "read, status", or "none". */
export function permsText(perms: Perms): string {
  const names = (Object.keys(permissionBits) as PermissionName[]).filter((n) => (perms & permissionBits[n]) !== 0);
  return names.length === 0 ? "none" : names.join(", ");
}

/** The verdict on one request, from the Authenticator (security/authenticator.ts). */
export type AuthVerdict =
  /** Allowed; `user` is the authenticated user, or null when the "*" user's permissions sufficed. */
  | { readonly type: "allowed"; readonly user: string | null }
  /** No Authorization header, and "*" lacks the permission. */
  | { readonly type: "missing" }
  /** An Authorization header that is not Basic with base64 of user:password. */
  | { readonly type: "malformed" }
  /** Unknown user or wrong password (one answer for both). */
  | { readonly type: "wrong" }
  /** Authenticated, but neither the user nor "*" has the permission. */
  | { readonly type: "forbidden"; readonly user: string }
  /** Too many slow password checks in flight: retry. */
  | { readonly type: "busy" };

/** What guardRoute needs: a verdict on an Authorization header for a permission. */
export interface Authorizer {
  authorize(authorization: string | null, perm: PermissionName): AuthVerdict | Promise<AuthVerdict>;
}

/** rqlite's and curl's realm-style challenge, sent with every 401. */
const challenge: Readonly<Record<string, string>> = { "www-authenticate": 'Basic realm="hraftd"' };

/** The error response for a verdict other than "allowed" (never echoing a password). */
export function refusal(verdict: Exclude<AuthVerdict, { type: "allowed" }>, perm: PermissionName): Response {
  switch (verdict.type) {
    case "missing":
      return jsonError(401, `authentication required: this request needs the "${perm}" permission; send HTTP Basic credentials (curl -u user:password)`, { headers: challenge });
    case "malformed":
      return jsonError(401, `malformed Authorization header: expected "Basic" and the base64 of user:password`, { headers: challenge });
    case "wrong":
      return jsonError(401, "wrong user name or password", { headers: challenge });
    case "forbidden":
      return jsonError(403, `user ${JSON.stringify(verdict.user)} does not have the "${perm}" permission`);
    case "busy":
      return jsonError(503, "too many password checks in progress; retry", { headers: { "retry-after": "1" } });
  }
}

/**
 * `route` with its permission checked before its handler runs; routes without `perm` as they
 * are. The handler gets the caller (who was allowed) as its third argument, for the store to
 * carry to the leader when it forwards the request.
 */
export function guardRoute(route: Route, authorizer: Authorizer): Route {
  const perm = route.perm;
  if (perm === undefined) return route;
  const inner = route.handle;
  const answer = (verdict: AuthVerdict, request: Request, query: string | undefined, server?: RequestTimeouts): Response | Promise<Response> => {
    if (verdict.type !== "allowed") return refusal(verdict, perm);
    const caller: Caller = verdict;
    return inner(request, query, caller, server);
  };
  return {
    ...route,
    handle: (request, query, _caller, server) => {
      const verdict = authorizer.authorize(request.headers.get("authorization"), perm);
      return verdict instanceof Promise ? verdict.then((v) => answer(v, request, query, server)) : answer(verdict, request, query, server);
    },
  };
}
