// The users file of -auth, in rqlite's shape: a JSON array of
// {"username": …, "password": …, "perms": [...]}, where password is a hash made by Bun's
// Bun.password.hash (argon2 or bcrypt) and a user "*" (no password) gives its permissions to
// clients without credentials. Read and checked once, at start; every problem is one line
// naming the file and the entry, and never quoting a password.

import { readFileSync } from "node:fs";
import { type Perms, permissionFileNames, permsOfName } from "./permissions.ts";

/** One user of the file. */
export interface AuthUser {
  readonly username: string;
  /** A Bun.password hash (PHC string for argon2, modular crypt for bcrypt). */
  readonly passwordHash: string;
  readonly perms: Perms;
}

/** The checked content of a users file. */
export interface Users {
  /** Every user but "*", by name. */
  readonly users: ReadonlyMap<string, AuthUser>;
  /** What the "*" user grants everyone, with or without credentials (0 without a "*" user). */
  readonly anonymousPerms: Perms;
}

/** A users file that cannot be used; the message is one line naming the file. */
export class AuthFileError extends Error {
  override readonly name = "AuthFileError";
}

/** The name of the user whose permissions apply to clients without credentials. */
export const anonymousUser = "*";

/** Longest user name: a forwarded request carries it, and the wire checks the same bound. */
export const usernameCharsMax = 256;

/** Largest users file read: far beyond any real one, small enough never to hurt a start. */
const fileBytesMax = 16 * 1024 * 1024;

/** How an operator makes a hash; quoted in the messages about passwords. */
export const hashCommand = `printf %s "$PASSWORD" | bun -e 'console.log(await Bun.password.hash(await Bun.stdin.text()))'`;

// What Bun.password.hash writes: argon2 as a PHC string (unpadded base64), bcrypt as $2b$.
const argon2Hash = /^\$argon2(?:id|i|d)\$v=19\$m=\d{1,10},t=\d{1,10},p=\d{1,3}\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$/;
const bcryptHash = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const looksLikeHash = /^\$(?:argon2|2[aby]?\$)/;

/**
 * Whether the salt and hash of a PHC string are whole unpadded base64 (a length of 1 mod 4
 * cannot be) and the hash at least 16 bytes: a hash cut short is caught at start, where it
 * would otherwise refuse every password without a word.
 */
function isArgon2Base64(hash: string): boolean {
  const parts = hash.split("$");
  const [salt, digest] = [parts[4]!, parts[5]!];
  return salt.length % 4 !== 1 && digest.length % 4 !== 1 && digest.length >= 22;
}

/** Reads and checks the users file at `path`; throws AuthFileError. */
export function loadUsersFile(path: string): Users {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code === "EACCES" ? "permission denied" : (e as Error).message;
    throw new AuthFileError(`-auth ${path}: cannot read the users file: ${why}`);
  }
  if (bytes.length > fileBytesMax) throw new AuthFileError(`-auth ${path}: the users file is larger than ${fileBytesMax} bytes`);
  return parseUsersFile(bytes.toString("utf8"), path);
}

/** Checks the text of a users file (`path` names it in messages); throws AuthFileError. */
export function parseUsersFile(text: string, path: string): Users {
  const fail = (what: string): never => {
    throw new AuthFileError(`-auth ${path}: ${what}`);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // The parser quotes the text it choked on, which may be a password: drop every quote.
    const reason = (e as Error).message.replace(/"[^"]*"?|'[^']*'?/g, "…");
    fail(`not valid JSON (${reason})`);
  }
  if (!Array.isArray(value)) fail(`must be a JSON array of users: [{"username": …, "password": …, "perms": [...]}]`);
  const list = value as unknown[];
  if (list.length === 0) fail("lists no users");
  const users = new Map<string, AuthUser>();
  let anonymousPerms: Perms | null = null;
  for (const [i, entry] of list.entries()) {
    const user = checkEntry(entry, i + 1, fail);
    if (users.has(user.username) || (user.username === anonymousUser && anonymousPerms !== null)) {
      fail(`user ${JSON.stringify(user.username)} is listed twice (entry ${i + 1} and an earlier one)`);
    }
    if (user.username === anonymousUser) anonymousPerms = user.perms;
    else users.set(user.username, user);
  }
  return { users, anonymousPerms: anonymousPerms ?? 0 };
}

/** Checks one entry (`n` counts from 1); returns it as a user, "*" with an empty hash. */
function checkEntry(entry: unknown, n: number, fail: (what: string) => never): AuthUser {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    fail(`entry ${n} is not an object {"username": …, "password": …, "perms": [...]}`);
  }
  const e = entry as Record<string, unknown>;
  const username = e.username;
  if (typeof username !== "string" || username === "") fail(`entry ${n}: "username" must be a non-empty string`);
  const name = username as string;
  // HTTP Basic's user-id ends at the first colon (RFC 7617 §2): such a user could never log in.
  if (name.length > usernameCharsMax || name.includes(":") || /[\u0000-\u001f\u007f]/.test(name)) {
    fail(`entry ${n}: "username" must be at most ${usernameCharsMax} characters, with no ':' and no control characters`);
  }
  const who = `entry ${n} (user ${JSON.stringify(name)})`;
  for (const key of Object.keys(e)) {
    if (key !== "username" && key !== "password" && key !== "perms") {
      fail(`${who}: unknown field ${JSON.stringify(key)}; an entry has "username", "password" and "perms"`);
    }
  }
  if (!Array.isArray(e.perms)) fail(`${who}: "perms" must be an array of permissions (${permissionFileNames.join(", ")})`);
  let perms: Perms = 0;
  for (const p of e.perms as unknown[]) {
    const bits = typeof p === "string" ? permsOfName(p) : null;
    if (bits === null) {
      const shown = typeof p === "string" ? JSON.stringify(p) : `a ${p === null ? "null" : typeof p}`;
      fail(`${who}: unknown permission ${shown}; the permissions are ${permissionFileNames.join(", ")}`);
    }
    perms |= bits!;
  }
  if (name === anonymousUser) {
    if (e.password !== undefined) fail(`${who}: the user "*" has no password (its permissions are for clients without credentials); remove "password"`);
    return { username: name, passwordHash: "", perms };
  }
  return { username: name, passwordHash: checkHash(e.password, who, fail), perms };
}

/** The password field, if it is a hash Bun.password.verify can check; never quotes it. */
function checkHash(password: unknown, who: string, fail: (what: string) => never): string {
  if (typeof password !== "string" || password === "") {
    fail(`${who}: "password" must be a Bun.password hash; make one with: ${hashCommand}`);
  }
  const hash = password as string;
  if (bcryptHash.test(hash) || (argon2Hash.test(hash) && isArgon2Base64(hash))) return hash;
  if (looksLikeHash.test(hash)) {
    fail(`${who}: the password hash is malformed (cut short or edited?); make a new one with: ${hashCommand}`);
  }
  return fail(
    `${who}: the password is not a hash (plain-text passwords are refused); put a Bun.password hash ("$argon2id$…" or "$2b$…") in its place, made with: ${hashCommand}`,
  );
}
