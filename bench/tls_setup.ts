// The secure side of the TLS phase: a CA made for the run with openssl (tests/support/certs.ts;
// no key is ever committed), certificates for every member, a users file for -auth, and how
// the bench's clients reach the secure clusters (HTTPS trusting the CA, Basic credentials).

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCa } from "../tests/support/certs.ts";
import type { EtcdTls, HraftdSecurity } from "./clusters.ts";

/** The user the bench writes, reads and joins as; perms "all". */
export const benchUser = "bench";

/** Which of our security features a cluster turns on (all three: "ours secure"). */
export interface OursParts {
  /** -http-cert -http-key (and -http-ca-cert, which the joiner verifies the member with). */
  readonly https: boolean;
  /** -node-cert -node-key -node-ca-cert: mutual TLS between nodes. */
  readonly nodeTls: boolean;
  /** -auth, Basic credentials on every request, -join-as for joins. */
  readonly auth: boolean;
}

/** Flags, files and client access for clusters of ours with some or all security on, and a TLS etcd. */
export interface TlsSetup {
  ours(parts: OursParts): HraftdSecurity;
  readonly etcd: EtcdTls;
}

/**
 * Makes the CA and certificates for `size` members of each system (all on 127.0.0.1, which
 * every certificate names, so hostname checks stay on) and the users file. Our members get
 * one certificate for HTTPS and one for the Raft transport; etcd members one for both sides.
 * Clusters of ours running at once share the files: each process reads its own copy.
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
  return {
    ours: (parts) => ({
      access: { https: parts.https, ...(parts.https ? { caPem } : {}), ...(parts.auth ? { authorization: basic } : {}) },
      // No -http-verify-client: wrk cannot present a client certificate (see the report's notes).
      flags: (i) => [
        ...(parts.https ? ["-http-cert", ours[i]!.http.cert, "-http-key", ours[i]!.http.key, "-http-ca-cert", ca.cert] : []),
        ...(parts.nodeTls ? ["-node-cert", ours[i]!.raft.cert, "-node-key", ours[i]!.raft.key, "-node-ca-cert", ca.cert] : []),
        ...(parts.auth ? ["-auth", usersFile] : []),
      ],
      joinAs: parts.auth ? benchUser : "",
      joinPassword: password,
      followersForward: !parts.auth || parts.nodeTls,
    }),
    etcd: {
      access: { https: true, caPem },
      cert: (i) => etcd[i]!.cert,
      key: (i) => etcd[i]!.key,
      caFile: ca.cert,
    },
  };
}
