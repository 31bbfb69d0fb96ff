// A dial that connected to itself. On Linux a TCP dial to a local port nobody listens on
// may pick that very port as its source port when it lies in the ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default, where Raft ports may well
// be): the SYN meets itself, the simultaneous open (RFC 793 §3.4) succeeds, and the socket
// is connected to itself. Left alone, the link would write frames into itself for as long
// as it lives and the port's owner (a peer restarting) could never bind its port again
// (issue 18). Every outbound link checks the socket it gets here and treats a self-connect
// as a failed dial: close at once with a reset (a FIN would leave the port in TIME-WAIT for
// a minute), back off, redial later.
//
// The inbound side cannot be fooled this way: a dial's source port is never one that a
// bind() holds, so no dial can come from our listening port.

import type { LogFields } from "./host.ts";

/** The two ends of a connected socket, as node:net and Bun's sockets both name them. */
export interface SocketEnds {
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

/** An IPv4 address seen through an IPv6 socket ("::ffff:127.0.0.1") is the IPv4 address. */
function plainAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith("::ffff:") && lower.includes(".") ? lower.slice("::ffff:".length) : lower;
}

/** Whether the socket's local end is its remote end; false if either end is unknown. */
export function isSelfConnected(socket: SocketEnds): boolean {
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  if (localAddress === undefined || remoteAddress === undefined || localPort === undefined) return false;
  return localPort === remotePort && plainAddress(localAddress) === plainAddress(remoteAddress);
}

/** What a link records as the reason its dial failed (the peer_down line shows it). */
export const selfConnectReason = "connected to itself";

/**
 * Whether `socket`, just connected by a dial to `addr`, is connected to itself; if so, logs
 * one line saying so (every time: it is rare, and the link's own down line is logged only
 * once per outage). The caller closes the socket and counts a failed dial.
 */
export function reportSelfConnect(addr: string, socket: SocketEnds, log: (line: string, fields?: LogFields) => void): boolean {
  if (!isSelfConnected(socket)) return false;
  log(
    `transport: a dial to ${addr} connected to itself (from ${socket.localAddress}:${socket.localPort}; nothing listened ` +
      `there and the port is in the ephemeral range): closed at once so the port stays free for its owner`,
    { event: "peer_self_connect", peer: addr },
  );
  return true;
}
