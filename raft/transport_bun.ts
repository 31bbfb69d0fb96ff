// The Raft transport on Bun's native sockets (Bun.listen, Bun.connect): what
// createTcpTransport chooses under Bun for plain TCP. Same frames, bounds and behaviour as
// the node:net transport (transport.ts, whose comments say why); it exists because Bun's
// node:net layer costs CPU on every message, and every write costs an AppendEntries and
// its ack per follower (issue 18: in a two-process ping-pong through the transport, a side
// took 19.2-21.5 µs of CPU per message received and answered on node:net, 15.3-17.1 on
// this one, alternating rounds on a loaded machine). TLS stays on node:tls: a
// Bun.listen listener cannot swap its certificate (reload() takes only handlers), and a
// rotated certificate must reach new connections without a restart.

import { formatHostPort, parseHostPort } from "../address.ts";
import { receivedFrameBodies } from "./frame_bodies.ts";
import { FrameDecoder } from "./framing.ts";
import { describeError, type PeerStats } from "./peer_link.ts";
import type { TcpTransport, TcpTransportOptions } from "./transport.ts";
import { BunPeerLink } from "./transport_bun_link.ts";
import { detached, type ResolvedOptions, resolveOptions } from "./transport_options.ts";

/** An inbound connection's reading state. */
interface Inbound<T> {
  readonly decoder: FrameDecoder;
  readonly remote: string;
  /** The last message read, for onInboundClosed; cleared when we close the connection ourselves. */
  last: T | undefined;
  isClosed: boolean;
}

type InboundSocket<T> = Bun.Socket<Inbound<T>>;

/** Whether this runtime has Bun's native sockets. */
export function hasBunSockets(): boolean {
  return typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
}

/** A plain-TCP transport on Bun's native sockets; options.tls must be absent. */
export function createBunTcpTransport<T>(options: TcpTransportOptions<T>): TcpTransport<T> {
  if (options.tls !== undefined) throw new Error("transport: Bun's native transport is plain TCP only");
  return detached(new BunTcpTransport(options));
}

class BunTcpTransport<T> {
  readonly #options: TcpTransportOptions<T>;
  readonly #resolved: ResolvedOptions;
  readonly #links = new Map<string, BunPeerLink>();
  readonly #inbound = new Set<InboundSocket<T>>();
  #listener: Bun.TCPSocketListener<Inbound<T>> | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: TcpTransportOptions<T>) {
    this.#options = options;
    this.#resolved = resolveOptions(options);
  }

  flush(): void {
    for (const link of this.#links.values()) link.flushNow();
  }

  send(peerAddr: string, msg: T): boolean {
    if (this.#closing !== null) return false;
    let link = this.#links.get(peerAddr);
    if (link === undefined) {
      link = new BunPeerLink(peerAddr, this.#resolved.link);
      this.#links.set(peerAddr, link);
    }
    if (!link.isAccepting()) return link.drop();
    const payload = this.#options.encode(msg);
    const frameBytesMax = this.#resolved.frameBytesMax;
    if (payload.length > frameBytesMax) {
      this.#resolved.link.log(
        `transport: dropping a ${payload.length}-byte message to ${peerAddr}: ` +
          `over frameBytesMax ${frameBytesMax}`,
      );
      return link.drop();
    }
    return link.enqueue(payload);
  }

  listen(): Promise<void> {
    if (this.#listener !== null || this.#closing !== null) {
      return Promise.reject(new Error("transport: listen() called twice or after close()"));
    }
    const listenAddr = this.#options.listenAddr;
    try {
      const { host, port } = parseHostPort(listenAddr);
      this.#listener = Bun.listen<Inbound<T>>({
        // "" is every interface, as node:net reads it: "::" takes IPv4 too.
        hostname: host === "" ? "::" : host,
        port,
        // Refuse a port another socket holds (node:net never shares one either).
        exclusive: true,
        socket: {
          open: (socket) => this.#accept(socket),
          data: (socket, chunk) => this.#read(socket, chunk),
          close: (socket) => this.#closed(socket),
          // No error handler: Bun would hand it the exceptions of onMessage too, which
          // must propagate (a storage or invariant error stops the node).
        },
      });
      return Promise.resolve();
    } catch (err) {
      // The system error rides along as the cause, so a caller can tell EADDRINUSE apart.
      return Promise.reject(new Error(`transport: cannot listen on ${listenAddr}: ${describeError(err)}`, { cause: err }));
    }
  }

  address(): string {
    const listener = this.#listener;
    if (listener === null || this.#closing !== null) throw new Error("transport: address() called while not listening");
    return formatHostPort(listener.hostname, listener.port);
  }

  peerStats(peerAddr: string): PeerStats | undefined {
    return this.#links.get(peerAddr)?.stats();
  }

  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    // Set before anything closes: Bun runs a socket's close handler inside terminate().
    this.#closing = Promise.resolve();
    for (const link of this.#links.values()) link.close();
    for (const socket of this.#inbound) {
      socket.data.isClosed = true;
      socket.terminate();
    }
    this.#inbound.clear();
    this.#listener?.stop(true);
    return this.#closing;
  }

  #accept(socket: InboundSocket<T>): void {
    const remote = formatHostPort(socket.remoteAddress ?? "?", socket.remotePort ?? 0);
    socket.data = {
      decoder: new FrameDecoder({ frameBytesMax: this.#resolved.frameBytesMax, bodies: receivedFrameBodies }),
      remote,
      last: undefined,
      isClosed: false,
    };
    if (this.#closing !== null || this.#inbound.size >= this.#resolved.inboundConnectionsMax) {
      socket.data.isClosed = true;
      return void socket.terminate();
    }
    this.#inbound.add(socket);
  }

  /**
   * Hands each frame's message on. A frame over the limit or one that fails to decode means
   * this peer's stream can no longer be trusted: log one line and close this connection
   * only; the sender will redial.
   */
  #read(socket: InboundSocket<T>, chunk: Uint8Array): void {
    const inbound = socket.data;
    if (inbound.isClosed) return;
    let frames: Uint8Array[];
    try {
      frames = inbound.decoder.push(chunk);
    } catch (err) {
      return this.#reject(socket, describeError(err));
    }
    for (const frame of frames) {
      let msg: T;
      try {
        msg = this.#options.decode(frame);
      } catch (err) {
        return this.#reject(socket, `a ${frame.length}-byte frame failed to decode: ${describeError(err)}`);
      }
      inbound.last = msg;
      this.#options.onMessage(msg);
      if (inbound.isClosed) return; // The transport was closed from inside onMessage.
    }
  }

  #reject(socket: InboundSocket<T>, why: string): void {
    this.#resolved.link.log(`transport: closing inbound connection from ${socket.data.remote}: ${why}`);
    socket.data.last = undefined; // we closed it: nothing to say about the peer's process
    socket.data.isClosed = true;
    socket.terminate();
  }

  #closed(socket: InboundSocket<T>): void {
    const inbound = socket.data;
    inbound.isClosed = true;
    if (!this.#inbound.delete(socket)) return;
    if (inbound.last !== undefined && this.#closing === null) this.#options.onInboundClosed?.(inbound.last);
  }
}
