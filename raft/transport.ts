// The real Raft transport: one-way messages as length-prefixed frames over TCP (node:net,
// so it runs under Bun and Deno), or over mutual TLS (node:tls) when given certificates.
// One lazily dialled outbound link per peer address (peer_link.ts); inbound connections are
// only read from. Generic over the payload: the codec is injected.

import * as net from "node:net";
import * as tls from "node:tls";
import { formatHostPort, parseHostPort } from "../address.ts";
import { receivedFrameBodies } from "./frame_bodies.ts";
import { FrameDecoder } from "./framing.ts";
import type { LogFields, Timers } from "./host.ts";
import { describeError, type LinkConfig, PeerLink, type PeerStats } from "./peer_link.ts";
import { createBunTcpTransport, hasBunSockets } from "./transport_bun.ts";
import { detached, resolveOptions } from "./transport_options.ts";
import { RefusalLog, serverContextOptions, serverOptions, type TransportTls } from "./transport_tls.ts";

export type { PeerState, PeerStats } from "./peer_link.ts";
export type { TransportTls } from "./transport_tls.ts";

/** Options of createTcpTransport; every limit has a default (units last in the name). */
export interface TcpTransportOptions<T> {
  /** Where to listen: "host:port", ":port", "[::1]:port"; port 0 picks a free one. */
  readonly listenAddr: string;
  readonly encode: (msg: T) => Uint8Array;
  /** Must throw on bytes that are not a valid message; that closes the connection. */
  readonly decode: (bytes: Uint8Array) => T;
  /** Called for every message received, in order per connection. Exceptions propagate. */
  readonly onMessage: (msg: T) => void;
  /**
   * Called when a connection a peer dialled to us closes while we are open, with the last
   * message read from it (none read: not called). A killed process's sockets close at once,
   * so this tells a follower its leader is gone long before a timeout would.
   */
  readonly onInboundClosed?: (lastMsg: T) => void;
  /** One line per event worth a human's attention; default console.error. */
  readonly logger?: (line: string, fields?: LogFields) => void;
  /** Largest payload sent or accepted; default 64 MiB (InstallSnapshot chunks travel here). */
  readonly frameBytesMax?: number;
  /** Frames queued per peer while dialling or under backpressure; default 4096. */
  readonly queueFramesMax?: number;
  /** Payload bytes queued per peer; default 256 MiB. */
  readonly queueBytesMax?: number;
  /** Frames are concatenated into socket writes of up to this size; default 1 MiB. */
  readonly writeBatchBytesMax?: number;
  /** Redial delay after a failure, doubling up to the max; defaults 50 ms and 1000 ms. */
  readonly dialBackoffMinMs?: number;
  readonly dialBackoffMaxMs?: number;
  /** A dial that has not connected by then counts as failed; default 2000 ms. */
  readonly dialTimeoutMs?: number;
  /** Concurrent inbound connections accepted; default 1024. */
  readonly inboundConnectionsMax?: number;
  /** Timers of dial timeouts and redial backoff; the host's by default. */
  readonly timers?: Timers;
  /**
   * Mutual TLS: accept only peers whose certificate the CA signed (any other connection is
   * closed before a single frame is read, with a log line) and verify every peer dialled.
   * Absent: plain TCP, as hraftd.
   */
  readonly tls?: TransportTls;
}

/** The transport's surface, which the driver (raft/node.ts) uses. */
export interface TcpTransport<T> {
  /** Binds listenAddr; rejects with an Error naming the address if that fails (e.g. in use). */
  listen(): Promise<void>;
  /** The bound address as "host:port" (the real port when listenAddr asked for 0). */
  address(): string;
  /** Queues `msg` for the peer listening on `peerAddr`; false if it was dropped. Never throws on network trouble. */
  send(peerAddr: string, msg: T): boolean;
  /**
   * Writes every queued frame now instead of at the end of this turn. The driver calls it
   * before a blocking fdatasync, so followers work on an append while the leader syncs.
   */
  flush(): void;
  /** Stats of the outbound link to `peerAddr`, if one was ever used. */
  peerStats(peerAddr: string): PeerStats | undefined;
  /** Stops listening, drops queued frames and closes every connection; idempotent. */
  close(): Promise<void>;
}

/**
 * Creates a TCP transport. Nothing touches the network until listen() or the first send().
 * Raft tolerates lost messages (§5.3: RPCs are retried), so the transport drops rather
 * than blocks: nothing queues while a peer is known to be down, and queues are bounded.
 */
export function createTcpTransport<T>(options: TcpTransportOptions<T>): TcpTransport<T> {
  return transportImplementationFor(options) === "bun"
    ? createBunTcpTransport(options)
    : createNodeTcpTransport(options);
}

/**
 * Which transport createTcpTransport builds here: under Bun, plain TCP goes on its native
 * sockets (about a fifth less CPU per message, header of transport_bun.ts); TLS, and every
 * other runtime (Deno), on node:net and node:tls.
 */
export function transportImplementationFor(options: { readonly tls?: TransportTls }): "bun" | "node" {
  return hasBunSockets() && options.tls === undefined ? "bun" : "node";
}

/** The transport on node:net (and node:tls), which any runtime with Node's modules runs. */
export function createNodeTcpTransport<T>(options: TcpTransportOptions<T>): TcpTransport<T> {
  return detached(new TcpTransportImpl(options));
}

class TcpTransportImpl<T> {
  readonly #options: TcpTransportOptions<T>;
  readonly #frameBytesMax: number;
  readonly #config: LinkConfig;
  readonly #links = new Map<string, PeerLink>();
  readonly #inbound = new Set<net.Socket>();
  #server: net.Server | null = null;
  #closing: Promise<void> | null = null;
  readonly #refusals: RefusalLog;

  constructor(options: TcpTransportOptions<T>) {
    this.#options = options;
    const resolved = resolveOptions(options);
    this.#frameBytesMax = resolved.frameBytesMax;
    this.#config = resolved.link;
    this.#refusals = new RefusalLog(this.#config.log, this.#config.timers);
    const tlsConfig = options.tls;
    if (tlsConfig !== undefined) {
      serverOptions(tlsConfig.material()); // Throws now, not at listen(), if the CA is missing.
      // A rotated certificate: new inbound connections get the new context (existing ones
      // keep theirs); new dials read material() themselves.
      tlsConfig.onChange?.((m) => {
        const server = this.#server;
        if (server instanceof tls.Server && this.#closing === null) server.setSecureContext(serverContextOptions(m));
      });
    }
  }

  flush(): void {
    for (const link of this.#links.values()) link.flushNow();
  }

  send(peerAddr: string, msg: T): boolean {
    if (this.#closing !== null) return false;
    let link = this.#links.get(peerAddr);
    if (link === undefined) {
      link = new PeerLink(peerAddr, this.#config);
      this.#links.set(peerAddr, link);
    }
    if (!link.isAccepting()) return link.drop();
    const payload = this.#options.encode(msg);
    if (payload.length > this.#frameBytesMax) {
      this.#config.log(
        `transport: dropping a ${payload.length}-byte message to ${peerAddr}: ` +
          `over frameBytesMax ${this.#frameBytesMax}`,
      );
      return link.drop();
    }
    return link.enqueue(payload);
  }

  async listen(): Promise<void> {
    if (this.#server !== null || this.#closing !== null) {
      throw new Error("transport: listen() called twice or after close()");
    }
    const listenAddr = this.#options.listenAddr;
    const { host, port } = parseHostPort(listenAddr);
    const server = this.#createServer();
    server.maxConnections = this.#options.inboundConnectionsMax ?? 1024;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error): void => {
        this.#server = null;
        // The system error rides along as the cause, so a caller can tell EADDRINUSE apart.
        reject(new Error(`transport: cannot listen on ${listenAddr}: ${describeError(err)}`, { cause: err }));
      };
      server.once("error", failed);
      server.listen({ host: host === "" ? undefined : host, port }, () => {
        server.off("error", failed);
        server.on("error", (err: Error) => {
          this.#config.log(`transport: listener error: ${describeError(err)}`);
        });
        resolve();
      });
    });
  }

  #createServer(): net.Server {
    const tlsConfig = this.#config.tls;
    if (tlsConfig === null) return net.createServer((socket) => this.#accept(socket));
    const server = tls.createServer(serverOptions(tlsConfig.material()), (socket) => this.#accept(socket));
    // A failed handshake: no certificate, one the CA did not sign, or not TLS at all. Nothing
    // was read from the connection as a frame; the socket is already being destroyed.
    server.on("tlsClientError", (err: Error, socket: tls.TLSSocket) => {
      this.#refused(socket, describeError(err));
      socket.destroy();
    });
    return server;
  }

  #refused(socket: net.Socket, why: string): void {
    const host = socket.remoteAddress ?? "?";
    this.#refusals.refused(host, formatHostPort(host, socket.remotePort ?? 0), why);
  }

  address(): string {
    const bound = this.#server?.address();
    if (bound === null || bound === undefined || typeof bound === "string") {
      throw new Error("transport: address() called while not listening");
    }
    return formatHostPort(bound.address, bound.port);
  }

  peerStats(peerAddr: string): PeerStats | undefined {
    return this.#links.get(peerAddr)?.stats();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const link of this.#links.values()) link.close();
      for (const socket of this.#inbound) socket.destroy();
      this.#inbound.clear();
      this.#refusals.close();
      const server = this.#server;
      if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
    })();
    return this.#closing;
  }

  /**
   * Reads frames from an accepted connection and hands each decoded message on. A frame
   * over the limit or one that fails to decode means this peer's stream can no longer be
   * trusted: log one line and close this connection only; the sender will redial.
   */
  #accept(socket: net.Socket): void {
    if (this.#closing !== null) return void socket.destroy();
    // rejectUnauthorized already refuses these; this check keeps that true whatever the runtime.
    if (socket instanceof tls.TLSSocket && !socket.authorized) {
      this.#refused(socket, describeError(socket.authorizationError ?? "no client certificate"));
      return void socket.destroy();
    }
    this.#inbound.add(socket);
    const remote = formatHostPort(socket.remoteAddress ?? "?", socket.remotePort ?? 0);
    const decoder = new FrameDecoder({ frameBytesMax: this.#frameBytesMax, bodies: receivedFrameBodies });
    const reject = (why: string): void => {
      this.#config.log(`transport: closing inbound connection from ${remote}: ${why}`);
      last = undefined; // we closed it: nothing to say about the peer's process
      socket.destroy();
    };
    let last: T | undefined;
    socket.on("data", (chunk: Uint8Array) => {
      let frames: Uint8Array[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        return reject(describeError(err));
      }
      for (const frame of frames) {
        let msg: T;
        try {
          msg = this.#options.decode(frame);
        } catch (err) {
          return reject(`a ${frame.length}-byte frame failed to decode: ${describeError(err)}`);
        }
        last = msg;
        this.#options.onMessage(msg);
        if (socket.destroyed) return; // The transport was closed from inside onMessage.
      }
    });
    // Resets by the peer are routine (it restarted); "close" follows and cleans up.
    socket.on("error", () => {});
    socket.once("close", () => {
      this.#inbound.delete(socket);
      if (last !== undefined && this.#closing === null) this.#options.onInboundClosed?.(last);
    });
  }
}
