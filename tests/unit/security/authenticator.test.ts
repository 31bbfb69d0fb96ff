// Goal: Basic credentials are parsed strictly; a password passes the slow check once and is
// then recognised from its keyed digest; every failure (wrong password, unknown user, even an
// unknown user with another user's password) takes the slow check, so its cost never tells
// whether a user exists; the "*" user's permissions need no credentials; slow checks are
// bounded; the digest cache is bounded.
// Method: an Authenticator over users with real bcrypt hashes, its verify wrapped to count calls.

import { describe, expect, test } from "bun:test";
import type { Users } from "../../../security/auth_file.ts";
import { Authenticator, parseBasic, type VerifyPassword } from "../../../security/authenticator.ts";
import { type AuthVerdict, type PermissionName, permissionBits } from "../../../security/permissions.ts";

const hashOf = (pw: string): string => Bun.password.hashSync(pw, { algorithm: "bcrypt", cost: 4 });
const users: Users = {
  users: new Map([
    ["alice", { username: "alice", passwordHash: hashOf("alice-pw"), perms: permissionBits.read | permissionBits.write }],
    ["bob", { username: "bob", passwordHash: hashOf("bob-pw"), perms: permissionBits.read }],
  ]),
  anonymousPerms: permissionBits.status,
};

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/** An Authenticator whose slow checks are counted (and the hashes they were against). */
function counted(options: { slowChecksMax?: number; cacheEntriesMax?: number } = {}) {
  const checks: string[] = [];
  const verify: VerifyPassword = (password, hash) => {
    checks.push(hash);
    return Bun.password.verify(password, hash);
  };
  return { auth: new Authenticator(users, { verify, ...options }), checks };
}

async function decide(auth: Authenticator, header: string | null, perm: PermissionName = "read"): Promise<AuthVerdict> {
  return await auth.authorize(header, perm);
}

describe("parseBasic", () => {
  test("user and password; the scheme in any case; the password may hold colons", () => {
    expect(parseBasic(basic("alice", "a:b:c"))).toEqual({ user: "alice", password: "a:b:c" });
    expect(parseBasic(`bAsIc   ${Buffer.from("u:p").toString("base64")}`)).toEqual({ user: "u", password: "p" });
    expect(parseBasic(basic("ключ", "pä"))).toEqual({ user: "ключ", password: "pä" });
    expect(parseBasic(basic("", ""))).toEqual({ user: "", password: "" });
  });

  test("anything else is malformed", () => {
    const bad = [
      "", "Basic", "Basic ", "Bearer abc", `Basic ${Buffer.from("no-colon").toString("base64")}`,
      "Basic !!!!", "Basic dTpw=", "Basic dTp", `Basic ${Buffer.from([0x75, 0x3a, 0xff]).toString("base64")}`,
      `Basic ${"A".repeat(9000)}`, `Basic ${Buffer.from("u:p").toString("base64")} extra`,
    ];
    for (const header of bad) expect(parseBasic(header)).toBeNull();
  });
});

describe("authorize", () => {
  test("a right password takes the slow check once, then is recognised from its digest", async () => {
    const { auth, checks } = counted();
    expect(await decide(auth, basic("alice", "alice-pw"))).toEqual({ type: "allowed", user: "alice" });
    expect(checks.length).toBe(1);
    for (let i = 0; i < 5; i++) {
      const verdict = auth.authorize(basic("alice", "alice-pw"), "write");
      expect(verdict).not.toBeInstanceOf(Promise); // answered at once: no promise on the hot path
      expect(verdict).toEqual({ type: "allowed", user: "alice" });
    }
    expect(checks.length).toBe(1);
  });

  test("a wrong password always takes the slow check, even once the right one is remembered", async () => {
    const { auth, checks } = counted();
    await decide(auth, basic("alice", "alice-pw"));
    expect(await decide(auth, basic("alice", "wrong"))).toEqual({ type: "wrong" });
    expect(await decide(auth, basic("alice", "wrong"))).toEqual({ type: "wrong" });
    expect(checks.length).toBe(3);
    // The remembered right password is still recognised.
    expect(auth.authorize(basic("alice", "alice-pw"), "read")).toEqual({ type: "allowed", user: "alice" });
  });

  test("an unknown user takes the same slow check (against a real hash) and never passes", async () => {
    const { auth, checks } = counted();
    expect(await decide(auth, basic("mallory", "x"))).toEqual({ type: "wrong" });
    // Even with a password the decoy hash would accept: an unknown user is never let in.
    expect(await decide(auth, basic("mallory", "alice-pw"))).toEqual({ type: "wrong" });
    expect(await decide(auth, basic("*", "x"))).toEqual({ type: "wrong" });
    expect(checks).toEqual([users.users.get("alice")!.passwordHash, users.users.get("alice")!.passwordHash, users.users.get("alice")!.passwordHash]);
  });

  test("missing or malformed credentials: no slow check", async () => {
    const { auth, checks } = counted();
    expect(await decide(auth, null)).toEqual({ type: "missing" });
    expect(await decide(auth, "Bearer token")).toEqual({ type: "malformed" });
    expect(checks.length).toBe(0);
  });

  test("a permission the user lacks is forbidden (after authenticating)", async () => {
    const { auth } = counted();
    expect(await decide(auth, basic("bob", "bob-pw"), "write")).toEqual({ type: "forbidden", user: "bob" });
    expect(await decide(auth, basic("bob", "bob-pw"), "read")).toEqual({ type: "allowed", user: "bob" });
    expect(await decide(auth, basic("bob", "wrong"), "write")).toEqual({ type: "wrong" });
  });

  test("what '*' grants needs no credentials (rqlite's rule), and is answered as anonymous", async () => {
    const { auth, checks } = counted();
    expect(await decide(auth, null, "status")).toEqual({ type: "allowed", user: null });
    expect(await decide(auth, basic("alice", "wrong"), "status")).toEqual({ type: "allowed", user: null });
    expect(checks.length).toBe(0);
    expect(auth.permsOf(null)).toBe(permissionBits.status);
    expect(auth.permsOf("bob")).toBe(permissionBits.read | permissionBits.status);
    expect(auth.permsOf("nobody")).toBe(permissionBits.status);
  });

  test("slow checks in flight are bounded: beyond, busy", async () => {
    const pending: (() => void)[] = [];
    const auth = new Authenticator(users, {
      slowChecksMax: 1,
      verify: (pw, hash) => new Promise((resolve) => pending.push(() => resolve(Bun.password.verify(pw, hash)))),
    });
    const first = auth.authorize(basic("alice", "alice-pw"), "read");
    expect(auth.authorize(basic("bob", "bob-pw"), "read")).toEqual({ type: "busy" });
    pending.shift()!();
    expect(await first).toEqual({ type: "allowed", user: "alice" });
    const later = auth.authorize(basic("bob", "bob-pw"), "read");
    pending.shift()!();
    expect(await later).toEqual({ type: "allowed", user: "bob" });
  });

  test("a check that throws refuses the request and is reported", async () => {
    const reported: unknown[] = [];
    const auth = new Authenticator(users, { verify: () => Promise.reject(new Error("InvalidEncoding")), checkFailed: (e) => reported.push(e) });
    expect(await decide(auth, basic("alice", "alice-pw"))).toEqual({ type: "wrong" });
    expect(reported.length).toBe(1);
  });

  test("the digest cache is bounded: a forgotten user takes the slow check again", async () => {
    const { auth, checks } = counted({ cacheEntriesMax: 1 });
    await decide(auth, basic("alice", "alice-pw"));
    await decide(auth, basic("bob", "bob-pw"));
    await decide(auth, basic("bob", "bob-pw"));
    expect(checks.length).toBe(2);
    await decide(auth, basic("alice", "alice-pw"));
    expect(checks.length).toBe(3);
  });
});
