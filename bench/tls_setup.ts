// The secure side of the TLS phase: a CA made for the run with openssl (tests/support/certs.ts;
// no key is ever committed), certificates for every member, a users file for -auth, and how
// the bench's clients reach the secure clusters (HTTPS trusting the CA, Basic credentials).

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCa } from "../tests/support/certs.ts";
import type { ClientAccess, EtcdTls, HraftdSecurity } from "./clusters.ts";

/** The user the bench writes, reads and joins as; perms "all". */
export const benchUser = "bench";

/** Flags, files and client access for a secure cluster of ours and a TLS etcd, under `dir`. */
export interface TlsSetup {
  readonly ours: HraftdSecurity;
  readonly etcd: EtcdTls;
}

/**
 * Makes the CA and certificates for `size` members of each system (all on 127.0.0.1, which
 * every certificate names, so hostname checks stay on) and the users file. Our members get
 * one certificate for HTTPS and one for the Raft transport; etcd members one for both sides.
 */
export async function makeTlsSetup(dir: string, size: number): Promise<TlsSetup> {
  mkdirSync(dir, { recursive: true });
  const ca = makeCa("bench", dir);
  const caPem = readFileSync(ca.cert, "utf8");
  const ours = Array.from({ length: size }, (_, i) => ({ http: ca.issue(`node${i}-http`), raft: ca.issue(`node${i}-raft`) }));
  const etcd = Array.from({ length: size }, (_, i) => ca.issue(`etcd${i}`));
  const password = crypto.randomUUID();
  const usersFile = join(dir, "users.json");
  writeFileSync(usersFile, JSON.stringify([{ username: benchUser, password: await Bun.password.hash(password), perms: ["all"] }], null, 2), { mode: 0o600 });
  const basic = `Basic ${Buffer.from(`${benchUser}:${password}`).toString("base64")}`;
  const oursAccess: ClientAccess = { https: true, caPem, authorization: basic };
  return {
    ours: {
      access: oursAccess,
      // No -http-verify-client: wrk cannot present a client certificate (see the report's notes).
      flags: (i) => [
        "-http-cert", ours[i]!.http.cert, "-http-key", ours[i]!.http.key, "-http-ca-cert", ca.cert,
        "-node-cert", ours[i]!.raft.cert, "-node-key", ours[i]!.raft.key, "-node-ca-cert", ca.cert,
        "-auth", usersFile,
      ],
      joinAs: benchUser,
      joinPassword: password,
    },
    etcd: {
      access: { https: true, caPem },
      cert: (i) => etcd[i]!.cert,
      key: (i) => etcd[i]!.key,
      caFile: ca.cert,
    },
  };
}
