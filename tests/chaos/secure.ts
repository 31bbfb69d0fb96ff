// The chaos suite's secure mode: every option of issue 14 on at once. Each node gets its own
// node certificate and HTTPS certificate from a CA made for the run (openssl, at test time),
// client certificates are required, the Raft transport is mutual TLS, and -auth holds a user
// for the clients and one for joining nodes. The proxy speaks HTTPS with a client certificate
// and Basic credentials, so the workload and the checks are the same as in plain runs.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCa, type TestCa } from "../support/certs.ts";

/** Environment variables through which the proxy learns how to reach secure nodes. */
export const proxyTlsEnv = { ca: "CHAOS_TLS_CA", cert: "CHAOS_TLS_CERT", key: "CHAOS_TLS_KEY", basic: "CHAOS_BASIC_AUTH" } as const;

/**
 * How the lab's client processes (the proxy, the watchers) reach the nodes: plain HTTP, or in
 * secure mode HTTPS with a client certificate and Basic credentials.
 */
export interface Upstream {
  readonly scheme: "http" | "https";
  readonly tls?: { readonly ca: string; readonly cert: string; readonly key: string };
  readonly authorization?: string;
}

/** The upstream described by the environment (secureSetup's proxyEnv sets it). */
export function upstreamFromEnv(env: Readonly<Record<string, string | undefined>>): Upstream {
  const ca = env[proxyTlsEnv.ca];
  if (ca === undefined) return { scheme: "http" };
  const basic = env[proxyTlsEnv.basic];
  return {
    scheme: "https",
    tls: { ca: readFileSync(ca, "utf8"), cert: readFileSync(env[proxyTlsEnv.cert]!, "utf8"), key: readFileSync(env[proxyTlsEnv.key]!, "utf8") },
    ...(basic === undefined ? {} : { authorization: `Basic ${Buffer.from(basic).toString("base64")}` }),
  };
}

/** What a secure run hands to the cluster (per-node flags, env) and to the proxy (env). */
export interface SecureSetup {
  /** Flags of node `i` (certificates, -auth). */
  flagsFor(i: number): string[];
  /** Flags added when a node joins (-join-as). */
  readonly joinFlags: readonly string[];
  /** Environment of every node process (the joiner's password). */
  readonly nodeEnv: Readonly<Record<string, string>>;
  /** Environment of the proxy (CA, client certificate, Basic credentials). */
  readonly proxyEnv: Readonly<Record<string, string>>;
}

const clientUser = "chaos";
const joinUser = "joiner";

/** Makes the CA, certificates and users file under `runDir` for nodes at `ips`. */
export async function secureSetup(runDir: string, ips: readonly string[]): Promise<SecureSetup> {
  const ca: TestCa = makeCa("chaos", runDir);
  const nodes = ips.map((ip, i) => ({
    node: ca.issue(`node${i}-raft`, { dns: [`node${i}`], ips: [ip] }),
    http: ca.issue(`node${i}-http`, { dns: [`node${i}`], ips: [ip] }),
  }));
  const client = ca.issue("chaos-client", { dns: ["chaos-client"], ips: [] });
  const clientPassword = crypto.randomUUID();
  const joinPassword = crypto.randomUUID();
  const users = [
    { username: clientUser, password: await Bun.password.hash(clientPassword), perms: ["read", "write", "status"] },
    // The nemesis removes and re-adds members through a node's HTTP API, as an operator would.
    { username: "operator", password: await Bun.password.hash(clientPassword), perms: ["all"] },
    { username: joinUser, password: await Bun.password.hash(joinPassword), perms: ["join"] },
  ];
  const usersFile = join(runDir, "users.json");
  writeFileSync(usersFile, JSON.stringify(users, null, 2), { mode: 0o600 });
  return {
    flagsFor: (i) => [
      "-http-cert", nodes[i]!.http.cert, "-http-key", nodes[i]!.http.key, "-http-ca-cert", ca.cert, "-http-verify-client",
      "-node-cert", nodes[i]!.node.cert, "-node-key", nodes[i]!.node.key, "-node-ca-cert", ca.cert,
      "-auth", usersFile,
    ],
    joinFlags: ["-join-as", joinUser],
    nodeEnv: { HRAFTD_JOIN_PASSWORD: joinPassword },
    proxyEnv: {
      [proxyTlsEnv.ca]: ca.cert,
      [proxyTlsEnv.cert]: client.cert,
      [proxyTlsEnv.key]: client.key,
      [proxyTlsEnv.basic]: `operator:${clientPassword}`,
    },
  };
}
