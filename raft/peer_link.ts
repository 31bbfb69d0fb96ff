// The outbound link to one peer address: dials lazily, queues frames within bounds while
// dialling or under backpressure, batches them into socket writes, and backs off after a
// failure, dropping rather than blocking (Raft tolerates lost messages, §5.3).

import * as net from "node:net";
import * as tls from "node:tls";
import { parseHostPort } from "../address.ts";
import { sentFrameBodies } from "./frame_bodies.ts";
import { encodeFrames, FRAME_BYTES_LIMIT, FRAME_HEADER_BYTES, writeFrameHeader } from "./framing.ts";
import type { LogFields, Timers } from "./host.ts";
import { endOfTurn } from "./real_time.ts";
import { reportSelfConnect, selfConnectReason } from "./self_connect.ts";
import { dialOptions, type TransportTls } from "./transport_tls.ts";

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
  /** Bytes copied into write batches (frames below largeFrameBytes, with their prefixes). */
  readonly batchedBytes: number;
}

/**
 * A frame this large leaves as its length prefix and then the payload itself, never copied
 * into a batch: the copy bought nothing (one socket write saved beside a megabyte) and cost
 * a fresh buffer of the frame's size per follower per Ready (issue 18: an AppendEntries of
 * sixteen 64 KiB values, ~190 µs per MiB measured here, allocation and page faults included).
 */
export const largeFrameBytes = 64 * 1024;

/** The limits and seams every outbound link shares (TcpTransportOptions, defaults applied). */
export interface LinkConfig {
  readonly queueFramesMax: number;
  readonly queueBytesMax: number;
  readonly writeBatchBytesMax: number;
  readonly dialBackoffMinMs: number;
  readonly dialBackoffMaxMs: number;
  readonly dialTimeoutMs: number;
  /** Link down and up carry fields {event: "peer_down" | "peer_up", peer}. */
  readonly log: (line: string, fields?: LogFields) => void;
  readonly timers: Timers;
  /** Dial with mutual TLS (current material at each dial), or plain TCP when null. */
  readonly tls: TransportTls | null;
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
export class PeerLink {
  readonly #addr: string;
  readonly #target: DialTarget | null;
  readonly #config: LinkConfig;
  #state: PeerState = "idle";
  #socket: net.Socket | null = null;
  /** Invariant: queue.length ≤ queueFramesMax and queuedBytes = Σ payload lengths ≤ queueBytesMax. */
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #isBlocked = false;
  /** The current socket connected to itself and is being closed (self_connect.ts). */
  #isSelfConnected = false;
  #isFlushScheduled = false;
  #isFailing = false;
  #wasSendAttempted = false;
  #lastError = "connection closed";
  #backoffMs: number;
  #timer: unknown = null;
  #sentFrames = 0;
  #droppedFrames = 0;
  #socketWrites = 0;
  #batchedBytes = 0;

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
      batchedBytes: this.#batchedBytes,
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
    const tlsConfig = this.#config.tls;
    // A TLS link counts as connected only once the handshake verified the peer; a peer whose
    // certificate does not verify fails here like any failed dial (one line, backoff).
    const socket: net.Socket = tlsConfig === null
      ? net.createConnection({ host: target.host, port: target.port })
      : tls.connect(dialOptions(tlsConfig.material(), target.host, target.port, tlsConfig.verifyHostname));
    this.#socket = socket;
    const timers = this.#config.timers;
    const timer = timers.setTimeout(() => {
      socket.destroy(new Error(`dial timed out after ${this.#config.dialTimeoutMs} ms`));
    }, this.#config.dialTimeoutMs);
    // The TCP connection first: one connected to itself holds the peer's port, so it is
    // closed at once, its close counting as a failed dial (a TLS handshake with itself would
    // fail too, but later and with an error that says nothing of why).
    socket.once("connect", () => {
      if (this.#socket !== socket || !reportSelfConnect(this.#addr, socket, this.#config.log)) return;
      this.#isSelfConnected = true;
      // A reset, not a FIN: closing a socket connected to itself the polite way leaves it in
      // TIME-WAIT on the peer's port for a minute, where the owner's bind fails (a runtime
      // without resetAndDestroy, Node's since 18.3, still frees it then).
      if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
      else socket.destroy();
    });
    socket.once(tlsConfig === null ? "connect" : "secureConnect", () => {
      timers.clearTimeout(timer);
      if (this.#socket === socket && !socket.destroyed) this.#connected(socket);
    });
    socket.on("error", (err: Error) => {
      if (this.#socket === socket && !this.#isSelfConnected) this.#lastError = describeError(err);
    });
    socket.once("close", () => {
      timers.clearTimeout(timer);
      if (this.#socket === socket) this.#down();
    });
  }

  #connected(socket: net.Socket): void {
    this.#state = "connected";
    this.#backoffMs = this.#config.dialBackoffMinMs;
    if (this.#isFailing) this.#config.log(`transport: connected to ${this.#addr} again`, { event: "peer_up", peer: this.#addr });
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
    if (this.#isSelfConnected) this.#lastError = selfConnectReason;
    this.#isSelfConnected = false;
    this.#socket = null;
    this.#isBlocked = false;
    this.#droppedFrames += this.#queue.length;
    this.#clearQueue();
    if (!this.#isFailing) {
      this.#config.log(
        `transport: link to ${this.#addr} down (${this.#lastError}); redialling with backoff`,
        { event: "peer_down", peer: this.#addr, reason: this.#lastError },
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
   * Writes queued frames until the queue is empty or socket.write returns false (its buffer
   * is full: wait for "drain"): runs of small frames concatenated into batches of up to
   * writeBatchBytesMax, and each frame of largeFrameBytes or more (or alone over a batch) on
   * its own, uncopied.
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
      while (end < frames.length && frames[end]!.length < largeFrameBytes) {
        const frameBytes = FRAME_HEADER_BYTES + frames[end]!.length;
        if (end > start && batchBytes + frameBytes > batchBytesMax) break;
        batchBytes += frameBytes;
        end += 1;
      }
      let isWritable: boolean;
      if (end === start || (end === start + 1 && batchBytes > batchBytesMax)) {
        end = start + 1;
        isWritable = writeLargeFrame(socket, frames[start]!);
      } else {
        isWritable = socket.write(encodeFrames(frames.slice(start, end), FRAME_BYTES_LIMIT));
        this.#batchedBytes += batchBytes;
      }
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

/**
 * Sends a large frame as prefix plus payload, to avoid copying it. The socket keeps the
 * payload until its callback; a written one goes back to sentFrameBodies (which ignores what
 * it did not lend), a failed one is left to the collector.
 */
function writeLargeFrame(socket: net.Socket, payload: Uint8Array): boolean {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  writeFrameHeader(header, 0, payload.length);
  socket.write(header);
  return socket.write(payload, (error) => {
    if (error === null || error === undefined) sentFrameBodies.handBack(payload);
  });
}

/** One line for a socket or listen error, with its code (EADDRINUSE spelled out). */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  if (code === "EADDRINUSE") return `address already in use (EADDRINUSE)`;
  return typeof code === "string" && !err.message.includes(code)
    ? `${err.message} (${code})`
    : err.message;
}
