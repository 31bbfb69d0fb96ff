// The outbound link to one peer on Bun's native sockets (Bun.connect): the same states,
// bounds, batching and backoff as peer_link.ts (the node:net link), which says why each
// exists. What differs is the socket: Bun's write() takes what the kernel takes now and
// returns its count, buffering nothing, so the bytes it did not take wait here (#unsent)
// until its drain handler fires; and a dial cannot be cancelled, so each dial is an
// attempt object, and a socket of an abandoned attempt is closed as soon as it shows up.

import { parseHostPort } from "../address.ts";
import { sentFrameBodies } from "./frame_bodies.ts";
import { encodeFrames, FRAME_BYTES_LIMIT, FRAME_HEADER_BYTES, writeFrameHeader } from "./framing.ts";
import { describeError, largeFrameBytes, type LinkConfig, type PeerState, type PeerStats } from "./peer_link.ts";
import { endOfTurn } from "./real_time.ts";
import { reportSelfConnect, selfConnectReason } from "./self_connect.ts";

type BunSocket = Bun.Socket<undefined>;

/** One dial and the connection it made; superseded attempts are ignored and closed. */
interface Attempt {
  socket: BunSocket | null;
  timer: unknown;
}

export class BunPeerLink {
  readonly #addr: string;
  readonly #target: { readonly host: string; readonly port: number } | null;
  readonly #config: LinkConfig;
  #state: PeerState = "idle";
  #attempt: Attempt | null = null;
  /** Invariant: queue.length ≤ queueFramesMax and queuedBytes = Σ payload lengths ≤ queueBytesMax. */
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  /** Bytes handed to write() that the socket did not take yet, in order; non-empty iff blocked. */
  #unsent: Uint8Array[] = [];
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
    let target: { host: string; port: number } | null = null;
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
    const attempt = this.#attempt;
    this.#attempt = null;
    if (attempt !== null) this.#abandon(attempt);
  }

  #dial(): void {
    const target = this.#target!;
    this.#state = "dialing";
    const attempt: Attempt = { socket: null, timer: null };
    this.#attempt = attempt;
    const timers = this.#config.timers;
    attempt.timer = timers.setTimeout(() => {
      attempt.timer = null;
      this.#failed(attempt, `dial timed out after ${this.#config.dialTimeoutMs} ms`);
    }, this.#config.dialTimeoutMs);
    const handlers: Bun.SocketHandler<undefined> = {
      open: (socket) => {
        if (this.#attempt !== attempt) return void socket.terminate();
        attempt.socket = socket;
        // A socket connected to itself holds the peer's port: failing the attempt closes it
        // (terminate() resets it, so no TIME-WAIT keeps the port from its owner either).
        if (reportSelfConnect(this.#addr, socket, this.#config.log)) return this.#failed(attempt, selfConnectReason);
        if (attempt.timer !== null) timers.clearTimeout(attempt.timer);
        attempt.timer = null;
        this.#connected(socket);
      },
      // Peers never write on this connection; reading lets us see its FIN when the peer
      // goes away (the socket then closes), rather than learning it from a failed write.
      data: () => {},
      drain: (socket) => {
        if (this.#attempt === attempt && attempt.socket === socket) this.#drained(socket);
      },
      error: (_socket, err) => {
        if (this.#attempt === attempt) this.#lastError = describeError(err);
      },
      connectError: (_socket, err) => this.#failed(attempt, describeError(err)),
      close: (_socket, err) => this.#failed(attempt, err === undefined ? null : describeError(err)),
    };
    try {
      Bun.connect({ hostname: target.host, port: target.port, socket: handlers }).catch(() => {});
    } catch (err) {
      // A dial refused before it started (say, a host name that cannot be looked up) is a
      // failed dial like any other, after this turn so the send that caused it sees "dialing".
      endOfTurn(() => this.#failed(attempt, describeError(err)));
    }
  }

  /** The attempt's dial or connection ended (`why`: its error, if it had one). */
  #failed(attempt: Attempt, why: string | null): void {
    if (this.#attempt !== attempt) return;
    if (why !== null) this.#lastError = why;
    this.#attempt = null;
    this.#abandon(attempt);
    this.#down();
  }

  #abandon(attempt: Attempt): void {
    if (attempt.timer !== null) this.#config.timers.clearTimeout(attempt.timer);
    attempt.timer = null;
    attempt.socket?.terminate();
    attempt.socket = null;
  }

  #connected(socket: BunSocket): void {
    this.#state = "connected";
    this.#backoffMs = this.#config.dialBackoffMinMs;
    if (this.#isFailing) this.#config.log(`transport: connected to ${this.#addr} again`, { event: "peer_up", peer: this.#addr });
    this.#isFailing = false;
    // We batch frames ourselves, so Nagle's algorithm would only add latency.
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    this.#scheduleFlush();
  }

  /** The connection is gone (dial failed or connection lost): drop the queue and back off. */
  #down(): void {
    this.#unsent = [];
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
    if (this.#isFlushScheduled || this.#state !== "connected" || this.#unsent.length > 0) return;
    this.#isFlushScheduled = true;
    endOfTurn(() => {
      this.#isFlushScheduled = false;
      this.#flush();
    });
  }

  #drained(socket: BunSocket): void {
    const pieces = this.#unsent;
    this.#unsent = [];
    if (this.#writeAll(socket, pieces)) this.#flush();
  }

  /**
   * Writes queued frames until the queue is empty or the socket stops taking bytes (then
   * the rest of the current write waits in #unsent for the drain handler): runs of small
   * frames concatenated into batches of up to writeBatchBytesMax, and each frame of
   * largeFrameBytes or more (or alone over a batch) on its own, uncopied.
   */
  #flush(): void {
    const socket = this.#attempt?.socket ?? null;
    if (this.#state !== "connected" || socket === null || this.#unsent.length > 0) return;
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
        const payload = frames[start]!;
        const header = new Uint8Array(FRAME_HEADER_BYTES);
        writeFrameHeader(header, 0, payload.length);
        isWritable = this.#writeAll(socket, [header, payload]);
      } else {
        isWritable = this.#writeAll(socket, [encodeFrames(frames.slice(start, end), FRAME_BYTES_LIMIT)]);
        this.#batchedBytes += batchBytes;
      }
      this.#socketWrites += 1;
      this.#sentFrames += end - start;
      start = end;
      if (!isWritable) break; // Backpressure: keep the rest (within the bounds) until drained.
    }
    this.#queue = frames.slice(start);
    this.#queuedBytes = 0;
    for (const frame of this.#queue) this.#queuedBytes += frame.length;
  }

  /**
   * Writes `pieces` in order; false if the socket took only part (the rest is in #unsent).
   * A piece the socket took whole is no longer read here: a large frame's buffer (or its
   * unsent rest, a view of it) goes back to sentFrameBodies, which ignores anything it did
   * not lend (prefixes, batches).
   */
  #writeAll(socket: BunSocket, pieces: Uint8Array[]): boolean {
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      const written = Math.max(0, socket.write(piece));
      if (written < piece.length) {
        this.#unsent = [piece.subarray(written), ...pieces.slice(i + 1)];
        return false;
      }
      sentFrameBodies.handBack(piece);
    }
    return true;
  }
}
