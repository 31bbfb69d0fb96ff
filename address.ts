// Addresses as users type them in hraftd's flags and /join ("localhost:11000", ":11000",
// "[::1]:11000"): Go's net.SplitHostPort rules and error wording, and what each use needs
// (a listen address, a member's Raft address). The one parser for -haddr, -raddr, -join,
// the transport's listen and dial, and /join's addr.

/** A parsed address. */
export interface HostPort {
  /** The host as written, "" when omitted (":11000"), without IPv6 brackets. */
  readonly host: string;
  /** What to bind: the host, or "0.0.0.0" (all interfaces) when it was omitted. */
  readonly hostname: string;
  /** 0..65535; 0 asks the OS for a free port. */
  readonly port: number;
}

/** The bind address for an omitted host, as Go's net.Listen does for ":port". */
export const anyHostname = "0.0.0.0";

/**
 * Splits `host:port`. Throws Error for a missing port, too many colons, brackets out of
 * place, or a port that is not a decimal number in 0..65535.
 */
export function parseHostPort(address: string): HostPort {
  let host: string;
  let portText: string;
  if (address.startsWith("[")) {
    const close = address.indexOf("]");
    if (close < 0) throw addressError(address, "missing ']' in address");
    if (close + 1 === address.length) throw addressError(address, "missing port in address");
    if (address[close + 1] !== ":") throw addressError(address, "unexpected text after ']' in address");
    host = address.slice(1, close);
    portText = address.slice(close + 2);
  } else {
    const colon = address.lastIndexOf(":");
    if (colon < 0) throw addressError(address, "missing port in address");
    host = address.slice(0, colon);
    if (host.includes(":")) throw addressError(address, "too many colons in address");
    portText = address.slice(colon + 1);
  }
  if (host.includes("[") || host.includes("]")) throw addressError(address, "unexpected bracket in address");
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw addressError(address, `invalid port ${JSON.stringify(portText)}`);
  }
  return { host, hostname: host === "" ? anyHostname : host, port: Number(portText) };
}

function addressError(address: string, reason: string): Error {
  return new Error(`address ${address}: ${reason}`);
}

/** The inverse of parseHostPort: brackets an IPv6 host. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Longest host name DNS allows (RFC 1035 §2.3.4), a limit on what we accept. */
const hostLengthMax = 253;

/**
 * Why `host` cannot be a host name or IP address, or null if it can: letters, digits, '-',
 * '_' and '.' for names and IPv4, hex digits, ':' and '.' (and a %zone) for IPv6. Catches
 * "not an address" and stray spaces before they reach the resolver or the membership.
 */
export function hostProblem(host: string): string | null {
  if (host.length > hostLengthMax) return `host longer than ${hostLengthMax} characters`;
  if (host.includes(":")) {
    return /^[0-9A-Fa-f:.]+(%[0-9A-Za-z._-]+)?$/.test(host) ? null : `invalid IPv6 host ${JSON.stringify(host)}`;
  }
  return /^[0-9A-Za-z_.-]+$/.test(host) ? null : `invalid host ${JSON.stringify(host)}`;
}

/**
 * Why `address` cannot be the Raft address of a member (what -raddr advertises and /join
 * adds), or null if it can: other nodes dial it, so it needs a host that names this node (not
 * omitted, not 0.0.0.0 or ::, as hashicorp/raft refuses too) and a port other than 0.
 */
export function memberAddressProblem(address: string): string | null {
  let parsed: HostPort;
  try {
    parsed = parseHostPort(address);
  } catch (e) {
    return (e as Error).message;
  }
  const { host, port } = parsed;
  if (host === "") return `address ${address} has no host, so other nodes cannot reach it; give one, e.g. localhost${address}`;
  const bad = hostProblem(host);
  if (bad !== null) return `address ${address}: ${bad}`;
  if (host === "0.0.0.0" || /^[0:]+$/.test(host)) {
    return `address ${address} names no particular host (${host}), so other nodes cannot reach it; give this node's name or IP`;
  }
  if (port === 0) return `address ${address}: port 0 cannot be dialled; give the port this node listens on`;
  return null;
}

/** Why `address` cannot be a listen address (-haddr, the Raft bind), or null if it can. */
export function listenAddressProblem(address: string): string | null {
  try {
    const { host } = parseHostPort(address);
    const bad = host === "" ? null : hostProblem(host);
    return bad === null ? null : `address ${address}: ${bad}`;
  } catch (e) {
    return (e as Error).message;
  }
}
