// HTTP Basic authentication against the users file (security/auth_file.ts) and the permission
// check of one request. A password check (argon2id: tens of milliseconds) on every request
// would wreck throughput, so after a successful check the password is remembered as an
// HMAC-SHA256 digest under a random per-process key and later requests are compared with it
// in constant time. Anything else takes the slow check: a wrong password, and an unknown user
// too (against a real user's hash, result discarded), so the answer's cost never tells whether
// a user exists. Following rqlite, a permission the "*" user has needs no credentials at all.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Users } from "./auth_file.ts";
import { type AuthVerdict, type Authorizer, type PermissionName, type Perms, permissionBits } from "./permissions.ts";

/** Checks a password against a Bun.password hash (Bun.password.verify by default). */
export type VerifyPassword = (password: string, hash: string) => Promise<boolean>;

/** Options of an Authenticator. */
export interface AuthenticatorOptions {
  /** The slow check; tests pass one that counts its calls. */
  readonly verify?: VerifyPassword;
  /** Slow checks in flight at once; beyond, 503 (each costs a core and tens of MiB). */
  readonly slowChecksMax?: number;
  /** Users whose password digest is remembered at once (the oldest is forgotten first). */
  readonly cacheEntriesMax?: number;
  /** Told when a check threw (a hash Bun cannot read); the request is refused as a wrong password. */
  readonly checkFailed?: (error: unknown) => void;
}

/** User name and password of a Basic Authorization header. */
export interface BasicCredentials {
  readonly user: string;
  readonly password: string;
}

/** Longest Authorization header read; longer ones are malformed. */
const headerCharsMax = 8192;
const basicHeader = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i;
const utf8 = new TextDecoder("utf-8", { fatal: true });
const nonAscii = /[^\x00-\x7f]/;

/**
 * The credentials of an Authorization header (RFC 7617: scheme case-insensitive, base64 of
 * `user:password`, UTF-8), or null if it is not one.
 */
export function parseBasic(header: string): BasicCredentials | null {
  if (header.length > headerCharsMax) return null;
  const m = basicHeader.exec(header);
  if (m === null || m[1]!.length % 4 !== 0) return null;
  let text: string;
  try {
    // atob gives one character per byte: right as it is for ASCII, the usual case (and cheap);
    // anything else is decoded as UTF-8, strictly.
    text = atob(m[1]!);
    if (nonAscii.test(text)) text = utf8.decode(Buffer.from(m[1]!, "base64"));
  } catch {
    return null;
  }
  const colon = text.indexOf(":");
  if (colon < 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** HMAC-SHA256 of `text` under `key`: Bun's own hasher where there is one (about twice as fast). */
function hmacOf(key: Buffer): (text: string) => Buffer {
  const Hasher = (globalThis as { Bun?: typeof Bun }).Bun?.CryptoHasher;
  if (Hasher !== undefined) return (text) => new Hasher("sha256", key).update(text).digest();
  return (text) => createHmac("sha256", key).update(text).digest();
}

/** Bun's password check, or an error naming what is missing (e.g. under Deno). */
export function bunVerify(): VerifyPassword {
  const bun = (globalThis as { Bun?: typeof Bun }).Bun;
  if (bun === undefined) throw new Error("-auth needs Bun's Bun.password to check passwords; run with bun");
  return (password, hash) => bun.password.verify(password, hash);
}

const missing: AuthVerdict = { type: "missing" };
const malformed: AuthVerdict = { type: "malformed" };
const wrong: AuthVerdict = { type: "wrong" };
const busy: AuthVerdict = { type: "busy" };
const anonymousAllowed: AuthVerdict = { type: "allowed", user: null };

/** Decides requests for one users file. */
export class Authenticator implements Authorizer {
  readonly #users: Users;
  readonly #verify: VerifyPassword;
  readonly #slowChecksMax: number;
  readonly #cacheEntriesMax: number;
  readonly #checkFailed: (error: unknown) => void;
  /** HMAC under a random per-process key (never leaves this process) of the remembered digests. */
  readonly #hmac = hmacOf(randomBytes(32));
  /** Digest of the password that last passed the slow check, by user. */
  readonly #remembered = new Map<string, Buffer>();
  /** Compared against when there is nothing remembered, so both cases cost the same. */
  readonly #noDigest = randomBytes(32);
  /** The hash an unknown user's password is checked against: a real user's, so it costs the same. */
  readonly #decoyHash: string | null;
  /** One "allowed" verdict per user, made once. */
  readonly #allowed = new Map<string, AuthVerdict>();
  #slowChecks = 0;

  constructor(users: Users, options: AuthenticatorOptions = {}) {
    this.#users = users;
    this.#verify = options.verify ?? bunVerify();
    this.#slowChecksMax = options.slowChecksMax ?? 16;
    this.#cacheEntriesMax = options.cacheEntriesMax ?? 4096;
    this.#checkFailed = options.checkFailed ?? (() => undefined);
    this.#decoyHash = users.users.values().next().value?.passwordHash ?? null;
    for (const name of users.users.keys()) this.#allowed.set(name, { type: "allowed", user: name });
  }

  /** Users in the file, "*" not counted. */
  get userCount(): number {
    return this.#users.users.size;
  }

  /** What the "*" user grants clients without credentials. */
  get anonymousPerms(): Perms {
    return this.#users.anonymousPerms;
  }

  /** The permissions of `user` (null: no credentials): its own and the "*" user's. */
  permsOf(user: string | null): Perms {
    const own = user === null ? 0 : (this.#users.users.get(user)?.perms ?? 0);
    return own | this.#users.anonymousPerms;
  }

  /** The verdict for a request needing `perm` with this Authorization header (null: none). */
  authorize(authorization: string | null, perm: PermissionName): AuthVerdict | Promise<AuthVerdict> {
    const bit = permissionBits[perm];
    if ((this.#users.anonymousPerms & bit) !== 0) return anonymousAllowed;
    if (authorization === null) return missing;
    const credentials = parseBasic(authorization);
    if (credentials === null) return malformed;
    const { user, password } = credentials;
    const digest = this.#hmac(password);
    const remembered = this.#remembered.get(user);
    // Unknown users are compared too (against a random digest), so this step costs the same.
    const isRemembered = timingSafeEqual(remembered ?? this.#noDigest, digest) && remembered !== undefined;
    if (isRemembered) return this.#decide(user, bit);
    return this.#slowCheck(user, password, digest, bit);
  }

  #decide(user: string, bit: Perms): AuthVerdict {
    return (this.permsOf(user) & bit) !== 0 ? this.#allowed.get(user)! : { type: "forbidden", user };
  }

  /** Bun.password.verify against the user's hash, or the decoy hash for an unknown user. */
  #slowCheck(user: string, password: string, digest: Buffer, bit: Perms): AuthVerdict | Promise<AuthVerdict> {
    const account = this.#users.users.get(user);
    const hash = account?.passwordHash ?? this.#decoyHash;
    if (hash === null) return wrong; // no user has a password: nobody can log in
    if (this.#slowChecks >= this.#slowChecksMax) return busy;
    this.#slowChecks++;
    let checking: Promise<boolean>;
    try {
      checking = this.#verify(password, hash);
    } catch (e) {
      checking = Promise.reject(e);
    }
    return checking.then(
      (isMatch) => {
        this.#slowChecks--;
        // An unknown user's password may match the decoy's: that proves nothing.
        if (!isMatch || account === undefined) return wrong;
        this.#remember(user, digest);
        return this.#decide(user, bit);
      },
      (error: unknown) => {
        this.#slowChecks--;
        this.#checkFailed(error);
        return wrong;
      },
    );
  }

  #remember(user: string, digest: Buffer): void {
    this.#remembered.delete(user);
    this.#remembered.set(user, digest);
    if (this.#remembered.size > this.#cacheEntriesMax) this.#remembered.delete(this.#remembered.keys().next().value!);
  }
}
