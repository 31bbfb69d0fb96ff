// Goal: a users file (-auth) loads only when every entry is usable, and each problem is one
// line naming the file and the entry without ever quoting a password; a hash made with the
// command the README gives loads and verifies.
// Method: parseUsersFile/loadUsersFile on files written to a temp dir, one per problem; the
// README's command run for real (bun -e, password on stdin).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthFileError, hashCommand, loadUsersFile, parseUsersFile } from "../../../security/auth_file.ts";
import { allPerms, permissionBits } from "../../../security/permissions.ts";

const dir = mkdtempSync(join(tmpdir(), "auth-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const argon = Bun.password.hashSync("argon-secret", { algorithm: "argon2id", memoryCost: 8, timeCost: 1 });
const bcrypt = Bun.password.hashSync("bcrypt-secret", { algorithm: "bcrypt", cost: 4 });

function fileWith(text: string): string {
  const path = join(dir, `users-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(path, text);
  return path;
}

/** The AuthFileError message for `text`, checked to be one line naming the file. */
function problem(text: string): string {
  const path = fileWith(text);
  let message = "";
  try {
    loadUsersFile(path);
  } catch (e) {
    expect(e).toBeInstanceOf(AuthFileError);
    message = (e as Error).message;
  }
  expect(message).toStartWith(`-auth ${path}: `);
  expect(message).not.toContain("\n");
  return message.slice(`-auth ${path}: `.length);
}

describe("a good file", () => {
  test("users with argon2id and bcrypt hashes, perms as bits, '*' for clients without credentials", () => {
    const users = parseUsersFile(
      JSON.stringify([
        { username: "alice", password: argon, perms: ["all"] },
        { username: "bob", password: bcrypt, perms: ["read", "status"] },
        { username: "*", perms: ["status"] },
      ]),
      "users.json",
    );
    expect([...users.users.keys()]).toEqual(["alice", "bob"]);
    expect(users.users.get("alice")!.perms).toBe(allPerms);
    expect(users.users.get("bob")!.perms).toBe(permissionBits.read | permissionBits.status);
    expect(users.users.get("bob")!.passwordHash).toBe(bcrypt);
    expect(users.anonymousPerms).toBe(permissionBits.status);
  });

  test("without a '*' user, clients without credentials get nothing", () => {
    const users = parseUsersFile(JSON.stringify([{ username: "a", password: bcrypt, perms: [] }]), "f");
    expect(users.anonymousPerms).toBe(0);
    expect(users.users.get("a")!.perms).toBe(0);
  });

  test("the README's command makes a hash that loads and verifies (password on stdin, not in ps)", async () => {
    const password = "pa ss:wörd$1";
    const proc = Bun.spawn(["bash", "-c", hashCommand.replaceAll("bun -e", `${process.execPath} -e`)], {
      env: { ...process.env, PASSWORD: password },
      stdout: "pipe",
      stderr: "pipe",
    });
    const hash = (await new Response(proc.stdout).text()).trim();
    expect(await proc.exited).toBe(0);
    expect(hash).toStartWith("$argon2id$");
    const users = loadUsersFile(fileWith(JSON.stringify([{ username: "op", password: hash, perms: ["all"] }])));
    expect(await Bun.password.verify(password, users.users.get("op")!.passwordHash)).toBe(true);
  });
});

describe("each problem is refused with its own message", () => {
  test("missing file, a directory", () => {
    expect(() => loadUsersFile(join(dir, "absent.json"))).toThrow(`-auth ${join(dir, "absent.json")}: cannot read the users file: no such file`);
    expect(() => loadUsersFile(dir)).toThrow(`-auth ${dir}: cannot read the users file: is a directory`);
  });

  test("not JSON, without quoting what the parser choked on", () => {
    const message = problem(`[{"username": "a", "password": hunter2}]`);
    expect(message).toStartWith("not valid JSON");
    expect(message).not.toContain("hunter2");
    expect(problem(`[{"username": "a", "password": "hunter2`)).not.toContain("hunter2");
  });

  test("shape: not an array, empty, an entry not an object", () => {
    expect(problem(`{"username": "a"}`)).toStartWith("must be a JSON array of users");
    expect(problem(`[]`)).toBe("lists no users");
    expect(problem(`[1]`)).toStartWith("entry 1 is not an object");
  });

  test("user names: missing, empty, with a colon or a control character, too long, twice", () => {
    expect(problem(JSON.stringify([{ password: bcrypt, perms: [] }]))).toBe(`entry 1: "username" must be a non-empty string`);
    expect(problem(JSON.stringify([{ username: "", password: bcrypt, perms: [] }]))).toBe(`entry 1: "username" must be a non-empty string`);
    for (const name of ["a:b", "a\nb", "x".repeat(257)]) {
      expect(problem(JSON.stringify([{ username: name, password: bcrypt, perms: [] }]))).toContain("no ':' and no control characters");
    }
    const twice = JSON.stringify([
      { username: "a", password: bcrypt, perms: [] },
      { username: "a", password: bcrypt, perms: [] },
    ]);
    expect(problem(twice)).toBe(`user "a" is listed twice (entry 2 and an earlier one)`);
    const stars = JSON.stringify([{ username: "*", perms: [] }, { username: "*", perms: [] }]);
    expect(problem(stars)).toBe(`user "*" is listed twice (entry 2 and an earlier one)`);
  });

  test("a plain-text password is refused, naming the user, never the password", () => {
    const message = problem(JSON.stringify([{ username: "bob", password: "correct horse", perms: ["read"] }]));
    expect(message).toStartWith(`entry 1 (user "bob"): the password is not a hash (plain-text passwords are refused)`);
    expect(message).toContain(hashCommand);
    expect(message).not.toContain("correct horse");
  });

  test("a hash cut short or edited is refused as malformed, never quoted", () => {
    for (const broken of [argon.slice(0, -10), argon.replace("m=8", "m=x"), bcrypt.slice(0, 40), bcrypt.replace("$2b$", "$2x$")]) {
      const message = problem(JSON.stringify([{ username: "bob", password: broken, perms: [] }]));
      expect(message.includes("malformed") || message.includes("not a hash")).toBe(true);
      expect(message).not.toContain(broken);
    }
    expect(problem(JSON.stringify([{ username: "bob", password: argon.slice(0, -10), perms: [] }]))).toContain("the password hash is malformed");
  });

  test("password missing or not a string; '*' with a password", () => {
    expect(problem(JSON.stringify([{ username: "bob", perms: [] }]))).toStartWith(`entry 1 (user "bob"): "password" must be a Bun.password hash`);
    expect(problem(JSON.stringify([{ username: "bob", password: 5, perms: [] }]))).toStartWith(`entry 1 (user "bob"): "password" must be a Bun.password hash`);
    expect(problem(JSON.stringify([{ username: "*", password: bcrypt, perms: [] }]))).toStartWith(`entry 1 (user "*"): the user "*" has no password`);
  });

  test("perms: missing, not an array, an unknown permission, a non-string", () => {
    expect(problem(JSON.stringify([{ username: "bob", password: bcrypt }]))).toBe(
      `entry 1 (user "bob"): "perms" must be an array of permissions (read, write, join, remove, status, all)`,
    );
    expect(problem(JSON.stringify([{ username: "bob", password: bcrypt, perms: "all" }]))).toContain(`"perms" must be an array`);
    expect(problem(JSON.stringify([{ username: "bob", password: bcrypt, perms: ["read", "execute"] }]))).toBe(
      `entry 1 (user "bob"): unknown permission "execute"; the permissions are read, write, join, remove, status, all`,
    );
    expect(problem(JSON.stringify([{ username: "bob", password: bcrypt, perms: [null] }]))).toContain("unknown permission a null");
  });

  test("an unknown field (a typo of a known one)", () => {
    expect(problem(JSON.stringify([{ username: "bob", passwd: bcrypt, perms: [] }]))).toBe(
      `entry 1 (user "bob"): unknown field "passwd"; an entry has "username", "password" and "perms"`,
    );
  });
});
