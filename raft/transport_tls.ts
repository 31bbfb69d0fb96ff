// Mutual TLS on the Raft transport (issue 14, item 2): the options both ends build from the
// current certificate material, and the listener's rate-limited log of refused connections.
// TLS costs nothing per frame here: it only changes how a socket is made; frames, batching
// and flushing are the same on a TLSSocket as on a plain one.

import * as net from "node:net";
import * as tls from "node:tls";
import type { TlsMaterial } from "../security/cert_files.ts";
import type { Timers } from "./host.ts";

/** TLS for a transport (TcpTransportOptions.tls); without it the transport is plain TCP. */
export interface TransportTls {
  /**
   * This node's certificate and key and the CA that must sign every peer's certificate (ca is
   * required here). Read at each dial and when listening, so a rotation reaches new connections.
   */
  readonly material: () => TlsMaterial;
  /** Registers a listener for new material (WatchedTls.onChange); the listener then swaps its context. */
  readonly onChange?: (listener: (m: TlsMaterial) => void) => void;
  /** Check that a dialled peer's certificate names the host dialled; false with -node-no-verify. */
  readonly verifyHostname: boolean;
}

/** TLS 1.2 is the oldest version either end accepts. */
const minVersion = "TLSv1.2";

function caOf(m: TlsMaterial): string {
  if (m.ca === undefined || m.ca === "") {
    throw new Error("transport: TLS needs a CA certificate that signs the peers' certificates");
  }
  return m.ca;
}

/** The listener's context: present our certificate, demand one signed by the CA, refuse the rest. */
export function serverContextOptions(m: TlsMaterial): tls.SecureContextOptions {
  return { cert: m.cert, key: m.key, ca: caOf(m), minVersion };
}

export function serverOptions(m: TlsMaterial): tls.TlsOptions {
  return { ...serverContextOptions(m), requestCert: true, rejectUnauthorized: true };
}

/**
 * A dial's options: our certificate for the peer to check, the CA to check the peer's with,
 * and the peer's name checked against the host dialled unless verifyHostname is false (the
 * CA is checked either way). SNI carries the host name, never an IP address (RFC 6066 §3).
 */
export function dialOptions(m: TlsMaterial, host: string, port: number, verifyHostname: boolean): tls.ConnectionOptions {
  return {
    host,
    port,
    cert: m.cert,
    key: m.key,
    ca: caOf(m),
    minVersion,
    rejectUnauthorized: true,
    ...(net.isIP(host) === 0 ? { servername: host } : {}),
    checkServerIdentity: verifyHostname
      ? (_servername, cert) => tls.checkServerIdentity(host, cert)
      : () => undefined,
  };
}

/**
 * Logs refused inbound connections, one line per remote host per window: a peer with the
 * wrong certificate redials every second or so, and each attempt would otherwise log a line.
 * At the end of a window, one more line counts what was suppressed.
 */
export class RefusalLog {
  readonly #log: (line: string) => void;
  readonly #timers: Timers;
  readonly #windowMs: number;
  /** Remote host → refusals not logged since its line in this window. */
  #recent = new Map<string, number>();
  #timer: unknown = null;

  constructor(log: (line: string) => void, timers: Timers, windowMs = 60_000) {
    this.#log = log;
    this.#timers = timers;
    this.#windowMs = windowMs;
  }

  refused(host: string, remote: string, why: string): void {
    const suppressed = this.#recent.get(host);
    if (suppressed !== undefined) return void this.#recent.set(host, suppressed + 1);
    this.#recent.set(host, 0);
    this.#log(`transport: refused a connection from ${remote}: TLS handshake failed: ${why}`);
    this.#timer ??= this.#timers.setTimeout(() => this.#endWindow(), this.#windowMs);
  }

  #endWindow(): void {
    this.#timer = null;
    for (const [host, suppressed] of this.#recent) {
      if (suppressed > 0) {
        this.#log(`transport: refused ${suppressed} more connections from ${host} in the last ${this.#windowMs / 1000} s (not logged one by one)`);
      }
    }
    this.#recent = new Map();
  }

  close(): void {
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
