// Parsing of hraftd-style listen addresses ("localhost:11000", ":11000", "[::1]:11000"),
// with Go's net.SplitHostPort rules and error wording, since users type hraftd's flags.

/** A parsed listen address. */
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
