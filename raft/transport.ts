// The real Raft transport: one-way messages as length-prefixed frames over TCP (node:net,
// so it runs under Bun and Deno). One lazily dialled outbound connection per peer address;
// inbound connections are only read from. Generic over the payload: the codec is injected.

import * as net from "node:net";
import { formatHostPort, parseHostPort } from "../address.ts";
import type { Timers } from "./host.ts";
import { endOfTurn, realTimers } from "./real_time.ts";
import {
  checkFrameBytesMax,
  encodeFrames,
  FRAME_BYTES_LIMIT,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  writeFrameHeader,
} from "./framing.ts";

/** Options of createTcpTransport; every limit has a default (units last in the name). */
export interface TcpTransportOptions<T> {
  /** Where to listen: "host:port", ":port", "[::1]:port"; port 0 picks a free one. */
  readonly listenAddr: string;
  readonly encode: (msg: T) => Uint8Array;
  /** Must throw on bytes that are not a valid message; that closes the connection. */
  readonly decode: (bytes: Uint8Array) => T;
  /** Called for every message received, in order per connection. Exceptions propagate. */
  readonly onMessage: (msg: T) => void;
  /** One line per event worth a human's attention; default console.error. */
  readonly logger?: (line: string) => void;
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
}

/** Where an outbound link stands; see PeerLink for the transitions. */
export type PeerState = "idle" | "dialing" | "connected" | "backoff" | "invalid" | "closed";

/** Counters of one outbound link, for tests and status pages. */
export interface PeerStats {
  readonly state: PeerState;
  readonly queuedFrames: number;
  /** Frames handed to the socket (not proof of delivery). */
  readonly sentFrames: number;
  readonly droppedFrames: number;
  readonly socketWrites: number;
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

interface LinkConfig {
  readonly queueFramesMax: number;
  readonly queueBytesMax: number;
  readonly writeBatchBytesMax: number;
  readonly dialBackoffMinMs: number;
  readonly dialBackoffMaxMs: number;
  readonly dialTimeoutMs: number;
  readonly log: (line: string) => void;
  readonly timers: Timers;
}

/**
 * Creates a TCP transport. Nothing touches the network until listen() or the first send().
 * Raft tolerates lost messages (§5.3: RPCs are retried), so the transport drops rather
 * than blocks: nothing queues while a peer is known to be down, and queues are bounded.
 */
export function createTcpTransport<T>(options: TcpTransportOptions<T>): TcpTransport<T> {
  const impl = new TcpTransportImpl(options);
  // Plain closures, so callers may pass `transport.send` around detached from its object.
  return {
    listen: () => impl.listen(),
    address: () => impl.address(),
    send: (peerAddr, msg) => impl.send(peerAddr, msg),
    flush: () => impl.flush(),
    peerStats: (peerAddr) => impl.peerStats(peerAddr),
    close: () => impl.close(),
  };
}

class TcpTransportImpl<T> {
  readonly #options: TcpTransportOptions<T>;
  readonly #frameBytesMax: number;
  readonly #config: LinkConfig;
  readonly #links = new Map<string, PeerLink>();
  readonly #inbound = new Set<net.Socket>();
  #server: net.Server | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: TcpTransportOptions<T>) {
    this.#options = options;
    this.#frameBytesMax = options.frameBytesMax ?? 64 * 1024 * 1024;
    checkFrameBytesMax(this.#frameBytesMax);
    this.#config = {
      queueFramesMax: positive("queueFramesMax", options.queueFramesMax ?? 4096),
      queueBytesMax: positive("queueBytesMax", options.queueBytesMax ?? 256 * 1024 * 1024),
      writeBatchBytesMax: positive("writeBatchBytesMax", options.writeBatchBytesMax ?? 1024 * 1024),
      dialBackoffMinMs: positive("dialBackoffMinMs", options.dialBackoffMinMs ?? 50),
      dialBackoffMaxMs: positive("dialBackoffMaxMs", options.dialBackoffMaxMs ?? 1000),
      dialTimeoutMs: positive("dialTimeoutMs", options.dialTimeoutMs ?? 2000),
      log: options.logger ?? ((line: string) => console.error(line)),
      timers: options.timers ?? realTimers,
    };
    positive("inboundConnectionsMax", options.inboundConnectionsMax ?? 1024);
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
    const server = net.createServer((socket) => this.#accept(socket));
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
    this.#inbound.add(socket);
    const remote = formatHostPort(socket.remoteAddress ?? "?", socket.remotePort ?? 0);
    const decoder = new FrameDecoder({ frameBytesMax: this.#frameBytesMax });
    const reject = (why: string): void => {
      this.#config.log(`transport: closing inbound connection from ${remote}: ${why}`);
      socket.destroy();
    };
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
        this.#options.onMessage(msg);
        if (socket.destroyed) return; // The transport was closed from inside onMessage.
      }
    });
    // Resets by the peer are routine (it restarted); "close" follows and cleans up.
    socket.on("error", () => {});
    socket.once("close", () => this.#inbound.delete(socket));
  }
}

/** Where a link dials: ":port" is already resolved to "localhost" (as Go dials it). */
interface DialTarget {
  readonly host: string;
  readonly port: number;
}

/**
 * The outbound link to one peer address. Transitions:
 * idle -send-> dialing -connect-> connected -close-> backoff -timer-> dialing (if a send
 * was attempted meanwhile) or idle; invalid if the address does not parse; closed at end.
 * Frames queue only while dialing or connected; in backoff they are dropped at once.
 */
class PeerLink {
  readonly #addr: string;
  readonly #target: DialTarget | null;
  readonly #config: LinkConfig;
  #state: PeerState = "idle";
  #socket: net.Socket | null = null;
  /** Invariant: queue.length ≤ queueFramesMax and queuedBytes = Σ payload lengths ≤ queueBytesMax. */
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #isBlocked = false;
  #isFlushScheduled = false;
  #isFailing = false;
  #wasSendAttempted = false;
  #lastError = "connection closed";
  #backoffMs: number;
  #timer: unknown = null;
  #sentFrames = 0;
  #droppedFrames = 0;
  #socketWrites = 0;

  constructor(addr: string, config: LinkConfig) {
    this.#addr = addr;
    this.#config = config;
    this.#backoffMs = config.dialBackoffMinMs;
    let target: DialTarget | null = null;
    try {
      const parsed = parseHostPort(addr);
      // Like Go, dial ":port" as the local machine.
      target = { host: parsed.host === "" ? "localhost" : parsed.host, port: parsed.port };
    } catch (err) {
      config.log(`transport: cannot send to ${addr}: ${describeError(err)}`);
      this.#state = "invalid";
    }
    this.#target = target;
  }

  stats(): PeerStats {
    return {
      state: this.#state,
      queuedFrames: this.#queue.length,
      sentFrames: this.#sentFrames,
      droppedFrames: this.#droppedFrames,
      socketWrites: this.#socketWrites,
    };
  }

  /** Whether a send now could be queued (dialling first if idle); false means drop it. */
  isAccepting(): boolean {
    if (this.#state === "backoff") this.#wasSendAttempted = true;
    if (this.#state === "idle") this.#dial();
    return this.#state === "dialing" || this.#state === "connected";
  }

  drop(): false {
    this.#droppedFrames += 1;
    return false;
  }

  enqueue(payload: Uint8Array): boolean {
    const config = this.#config;
    if (
      this.#queue.length >= config.queueFramesMax ||
      this.#queuedBytes + payload.length > config.queueBytesMax
    ) {
      return this.drop();
    }
    this.#queue.push(payload);
    this.#queuedBytes += payload.length;
    this.#scheduleFlush();
    return true;
  }

  close(): void {
    this.#state = "closed";
    if (this.#timer !== null) this.#config.timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#clearQueue();
    this.#socket?.destroy();
    this.#socket = null;
  }

  #dial(): void {
    const target = this.#target!;
    this.#state = "dialing";
    const socket = net.createConnection({ host: target.host, port: target.port });
    this.#socket = socket;
    const timers = this.#config.timers;
    const timer = timers.setTimeout(() => {
      socket.destroy(new Error(`dial timed out after ${this.#config.dialTimeoutMs} ms`));
    }, this.#config.dialTimeoutMs);
    socket.once("connect", () => {
      timers.clearTimeout(timer);
      if (this.#socket === socket) this.#connected(socket);
    });
    socket.on("error", (err: Error) => {
      if (this.#socket === socket) this.#lastError = describeError(err);
    });
    socket.once("close", () => {
      timers.clearTimeout(timer);
      if (this.#socket === socket) this.#down();
    });
  }

  #connected(socket: net.Socket): void {
    this.#state = "connected";
    this.#backoffMs = this.#config.dialBackoffMinMs;
    if (this.#isFailing) this.#config.log(`transport: connected to ${this.#addr} again`);
    this.#isFailing = false;
    // We batch frames ourselves, so Nagle's algorithm would only add latency.
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    // Peers never write on this connection, but reading lets us see its FIN when the
    // peer goes away, rather than learning it from a failed write later.
    socket.resume();
    this.#scheduleFlush();
  }

  /** The socket closed (dial failed or connection lost): drop the queue and back off. */
  #down(): void {
    this.#socket = null;
    this.#isBlocked = false;
    this.#droppedFrames += this.#queue.length;
    this.#clearQueue();
    if (!this.#isFailing) {
      this.#config.log(
        `transport: link to ${this.#addr} down (${this.#lastError}); redialling with backoff`,
      );
    }
    this.#isFailing = true;
    this.#lastError = "connection closed";
    this.#state = "backoff";
    this.#wasSendAttempted = false;
    this.#timer = this.#config.timers.setTimeout(() => {
      this.#timer = null;
      if (this.#state !== "backoff") return;
      if (this.#wasSendAttempted) this.#dial();
      else this.#state = "idle";
    }, this.#backoffMs);
    this.#backoffMs = Math.min(this.#config.dialBackoffMaxMs, this.#backoffMs * 2);
  }

  #clearQueue(): void {
    this.#queue = [];
    this.#queuedBytes = 0;
  }

  /** Writes queued frames now if a flush was pending (see TcpTransport.flush). */
  flushNow(): void {
    if (!this.#isFlushScheduled) return;
    this.#isFlushScheduled = false;
    this.#flush();
  }

  /** Frames sent in the same synchronous run (one Ready) leave together in one write. */
  #scheduleFlush(): void {
    if (this.#isFlushScheduled || this.#state !== "connected" || this.#isBlocked) return;
    this.#isFlushScheduled = true;
    endOfTurn(() => {
      this.#isFlushScheduled = false;
      this.#flush();
    });
  }

  /**
   * Writes queued frames, concatenated into batches of up to writeBatchBytesMax, until the
   * queue is empty or socket.write returns false (its buffer is full: wait for "drain").
   */
  #flush(): void {
    const socket = this.#socket;
    if (this.#state !== "connected" || socket === null || this.#isBlocked) return;
    const frames = this.#queue;
    const batchBytesMax = this.#config.writeBatchBytesMax;
    let start = 0;
    while (start < frames.length) {
      let end = start;
      let batchBytes = 0;
      while (end < frames.length) {
        const frameBytes = FRAME_HEADER_BYTES + frames[end]!.length;
        if (end > start && batchBytes + frameBytes > batchBytesMax) break;
        batchBytes += frameBytes;
        end += 1;
      }
      const isWritable = end === start + 1 && batchBytes > batchBytesMax
        ? writeLargeFrame(socket, frames[start]!)
        : socket.write(encodeFrames(frames.slice(start, end), FRAME_BYTES_LIMIT));
      this.#socketWrites += 1;
      this.#sentFrames += end - start;
      start = end;
      if (!isWritable) {
        // Backpressure: keep the rest (still within the bounds) until the socket drains.
        this.#isBlocked = true;
        socket.once("drain", () => {
          if (this.#socket !== socket) return;
          this.#isBlocked = false;
          this.#flush();
        });
        break;
      }
    }
    this.#queue = frames.slice(start);
    this.#queuedBytes = 0;
    for (const frame of this.#queue) this.#queuedBytes += frame.length;
  }
}

/** Sends a frame bigger than a write batch as prefix plus payload, to avoid copying it. */
function writeLargeFrame(socket: net.Socket, payload: Uint8Array): boolean {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  writeFrameHeader(header, 0, payload.length);
  socket.write(header);
  return socket.write(payload);
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer: ${value}`);
  }
  return value;
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  if (code === "EADDRINUSE") return `address already in use (EADDRINUSE)`;
  return typeof code === "string" && !err.message.includes(code)
    ? `${err.message} (${code})`
    : err.message;
}
