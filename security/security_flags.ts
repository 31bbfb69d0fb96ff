// The security flags, in rqlite's names (rqlite is by hraftd's author, so an operator's habits
// carry over): TLS for clients (-http-*), TLS between nodes (-node-*), users and permissions
// (-auth) and the identity a joining node uses (-join-as). With none of them set, a node runs
// exactly as hraftd does: plain HTTP, plain TCP, no credentials.

import type { FlagSpec } from "../go_flag.ts";

/** What the security flags asked for. File paths are "" when the flag is not set. */
export interface SecurityConfig {
  /** -http-cert / -http-key: serve HTTPS on -haddr with this certificate (PEM) and key. */
  readonly httpCert: string;
  readonly httpKey: string;
  /** -http-ca-cert: the CA that signs client certificates (with -http-verify-client), and the one a joining node verifies the cluster's HTTPS with. */
  readonly httpCaCert: string;
  /** -http-verify-client: require a client certificate signed by -http-ca-cert (mutual TLS). */
  readonly httpVerifyClient: boolean;
  /** -node-cert / -node-key / -node-ca-cert: mutual TLS on the Raft transport. */
  readonly nodeCert: string;
  readonly nodeKey: string;
  readonly nodeCaCert: string;
  /** -node-no-verify: skip the hostname check of a peer's certificate (test setups only). */
  readonly nodeNoVerify: boolean;
  /** -auth: the users file (JSON, rqlite's shape). */
  readonly authFile: string;
  /** -join-as: the user a joining node authenticates as; its password is in HRAFTD_JOIN_PASSWORD. */
  readonly joinAs: string;
}

/** The environment variable that holds -join-as's password (never a flag: `ps` shows flags). */
export const joinPasswordEnv = "HRAFTD_JOIN_PASSWORD";

/** Security's rows of the flag table (flags.ts), in the order usage would list them unsorted. */
export const securityFlagSpecs: readonly FlagSpec[] = [
  { name: "http-cert", kind: "string", usage: "Path to the X.509 certificate (PEM) for HTTPS on -haddr", initial: "" },
  { name: "http-key", kind: "string", usage: "Path to the private key (PEM) of -http-cert", initial: "" },
  {
    name: "http-ca-cert",
    kind: "string",
    usage: "Path to the CA certificate (PEM) that signs HTTP client certificates and that a joining node trusts",
    initial: "",
  },
  {
    name: "http-verify-client",
    kind: "bool",
    usage: "Require HTTP clients to present a certificate signed by -http-ca-cert",
    initial: false,
  },
  { name: "node-cert", kind: "string", usage: "Path to this node's X.509 certificate (PEM) for the Raft transport", initial: "" },
  { name: "node-key", kind: "string", usage: "Path to the private key (PEM) of -node-cert", initial: "" },
  {
    name: "node-ca-cert",
    kind: "string",
    usage: "Path to the CA certificate (PEM) that must sign every node's certificate",
    initial: "",
  },
  {
    name: "node-no-verify",
    kind: "bool",
    usage: "Skip the hostname check of peers' node certificates (for test setups; the CA is still checked)",
    initial: false,
  },
  {
    name: "auth",
    kind: "string",
    usage: "Path to the users file (JSON: [{\"username\", \"password\" (a Bun.password hash), \"perms\"}])",
    initial: "",
  },
  {
    name: "join-as",
    kind: "string",
    usage: `User a joining node authenticates as; the password is read from ${joinPasswordEnv}`,
    initial: "",
  },
];

/** The SecurityConfig of parsed flag values (`get` returns a flag's value or its default). */
export function securityConfig(get: (name: string) => string | number | boolean): SecurityConfig {
  return {
    httpCert: get("http-cert") as string,
    httpKey: get("http-key") as string,
    httpCaCert: get("http-ca-cert") as string,
    httpVerifyClient: get("http-verify-client") as boolean,
    nodeCert: get("node-cert") as string,
    nodeKey: get("node-key") as string,
    nodeCaCert: get("node-ca-cert") as string,
    nodeNoVerify: get("node-no-verify") as boolean,
    authFile: get("auth") as string,
    joinAs: get("join-as") as string,
  };
}

/** No security at all: hraftd's behaviour. For callers that build a Config without flags. */
export const noSecurity: SecurityConfig = {
  httpCert: "",
  httpKey: "",
  httpCaCert: "",
  httpVerifyClient: false,
  nodeCert: "",
  nodeKey: "",
  nodeCaCert: "",
  nodeNoVerify: false,
  authFile: "",
  joinAs: "",
};

/**
 * Why the security flags cannot work together, naming the flags, or null. Only the
 * combinations: whether each file exists and parses is checked when the node starts.
 */
export function securityProblem(s: SecurityConfig, env: Readonly<Record<string, string | undefined>>): string | null {
  if ((s.httpCert === "") !== (s.httpKey === "")) return "-http-cert and -http-key must be given together";
  if (s.httpVerifyClient && s.httpCaCert === "") return "-http-verify-client needs -http-ca-cert, the CA that signs client certificates";
  if (s.httpVerifyClient && s.httpCert === "") return "-http-verify-client needs HTTPS: give -http-cert and -http-key";
  const nodeFiles = [s.nodeCert, s.nodeKey, s.nodeCaCert].filter((f) => f !== "").length;
  if (nodeFiles !== 0 && nodeFiles !== 3) {
    return "-node-cert, -node-key and -node-ca-cert must be given together (mutual TLS between nodes needs all three)";
  }
  if (s.nodeNoVerify && nodeFiles === 0) return "-node-no-verify has no effect without -node-cert, -node-key and -node-ca-cert";
  if (s.joinAs !== "" && (env[joinPasswordEnv] ?? "") === "") {
    return `-join-as ${JSON.stringify(s.joinAs)} needs the password in the environment variable ${joinPasswordEnv}`;
  }
  return null;
}
