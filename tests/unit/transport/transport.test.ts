// Goal: the TCP transport delivers one-way messages in order, batches writes, redials a
// restarted peer, survives garbage and oversized frames, bounds its queues and releases
// its port. Method: real transports (and raw node:net sockets playing a bad peer) on
// loopback with port 0; waits are event- or poll-driven with generous timeouts, never
// fixed sleeps.

import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import * as net from "node:net";
import { decode as cborDecode, encode as cborEncode } from "cbor-x";
import { parseHostPort } from "../../../address.ts";
import { encodeFrame } from "../../../raft/framing.ts";
import { type TcpTransport, type TcpTransportOptions } from "../../../raft/transport.ts";
import { type TransportImplementation, transportImplementations } from "./implementations.ts";

interface TestMsg {
  readonly seq: number;
  readonly body?: Uint8Array;
}

function encode(msg: TestMsg): Uint8Array {
  return cborEncode(msg);
}

/** Like a real codec, refuses bytes that are CBOR but not a message. */
function decode(bytes: Uint8Array): TestMsg {
  const value: unknown = cborDecode(bytes);
  if (typeof value !== "object" || value === null || typeof (value as TestMsg).seq !== "number") {
    throw new Error("not a TestMsg");
  }
  return value as TestMsg;
}

interface TestNode {
  readonly transport: TcpTransport<TestMsg>;
  readonly received: TestMsg[];
  readonly logs: string[];
  addr(): string;
}

const open: TcpTransport<TestMsg>[] = [];
const rawServers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  await Promise.all(rawServers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** The implementation under test: set by each describe block before its tests run. */
let create: TransportImplementation["create"] = transportImplementations[0]!.create;

function makeNode(options: Partial<TcpTransportOptions<TestMsg>> = {}): TestNode {
  const received: TestMsg[] = [];
  const logs: string[] = [];
  const transport = create<TestMsg>({
    listenAddr: "127.0.0.1:0",
    encode,
    decode,
    onMessage: (msg) => received.push(msg),
    logger: (line) => logs.push(line),
    dialBackoffMinMs: 5,
    dialBackoffMaxMs: 50,
    ...options,
  });
  open.push(transport);
  return { transport, received, logs, addr: () => transport.address() };
}

async function startNode(options: Partial<TcpTransportOptions<TestMsg>> = {}): Promise<TestNode> {
  const node = makeNode(options);
  await node.transport.listen();
  return node;
}

/** Polls `cond` until it holds; fails naming `what` after `timeoutMs`. */
async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Sends fresh messages until one arrives (the link may need to redial first). */
async function sendUntilDelivered(from: TestNode, to: TestNode, firstSeq: number): Promise<number> {
  let seq = firstSeq;
  const deadline = performance.now() + 5000;
  while (to.received.length === 0) {
    if (performance.now() > deadline) throw new Error("timed out waiting for delivery to resume");
    from.transport.send(to.addr(), { seq: seq++ });
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return seq;
}

function seqs(node: TestNode): number[] {
  return node.received.map((m) => m.seq);
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** Opens a raw client socket, writes `bytes`, and resolves when the peer closes it. */
function rawWriteUntilClosed(addr: string, bytes: Uint8Array): Promise<void> {
  const { host, port } = parseHostPort(addr);
  return new Promise((resolve) => {
    const socket = net.createConnection({ host, port }, () => socket.write(bytes));
    socket.on("error", () => {});
    socket.resume();
    socket.once("close", () => resolve());
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

for (const implementation of transportImplementations) describe(`TCP transport on ${implementation.name}`, () => {
  beforeAll(() => void (create = implementation.create));

  test("delivers messages in order in both directions", async () => {
    const a = await startNode();
    const b = await startNode();
    for (let i = 0; i < 500; i++) {
      expect(a.transport.send(b.addr(), { seq: i })).toBe(true);
      expect(b.transport.send(a.addr(), { seq: 10_000 + i })).toBe(true);
    }
    await until(
      "500 messages each way",
      () => a.received.length === 500 && b.received.length === 500,
    );
    expect(seqs(b)).toEqual(range(0, 500));
    expect(seqs(a)).toEqual(range(10_000, 500));
  });

  test("messages sent in the same tick leave in few socket writes", async () => {
    const a = await startNode();
    const b = await startNode();
    for (let i = 0; i < 2000; i++) a.transport.send(b.addr(), { seq: i });
    await until("first burst", () => b.received.length === 2000);
    const afterFirst = a.transport.peerStats(b.addr())!;
    expect(afterFirst.state).toBe("connected");
    expect(afterFirst.sentFrames).toBe(2000);
    expect(afterFirst.socketWrites).toBeLessThanOrEqual(2);
    // A second burst on the established connection is also one write, not 2000.
    for (let i = 2000; i < 4000; i++) {
      a.transport.send(b.addr(), { seq: i, body: new Uint8Array(100) });
    }
    await until("second burst", () => b.received.length === 4000);
    expect(a.transport.peerStats(b.addr())!.socketWrites - afterFirst.socketWrites)
      .toBeLessThanOrEqual(2);
    expect(seqs(b)).toEqual(range(0, 4000));
  });

  test("a frame bigger than a write batch arrives intact and in order with small ones", async () => {
    const a = await startNode({ writeBatchBytesMax: 64 * 1024 });
    const b = await startNode();
    const big = new Uint8Array(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    a.transport.send(b.addr(), { seq: 0 });
    a.transport.send(b.addr(), { seq: 1, body: big });
    for (let i = 2; i < 100; i++) {
      a.transport.send(b.addr(), { seq: i, body: new Uint8Array(1000) });
    }
    await until("big frame and its neighbours", () => b.received.length === 100);
    expect(seqs(b)).toEqual(range(0, 100));
    expect(b.received[1]!.body).toEqual(big);
  });

  test("after the peer restarts, the sender redials and delivery resumes", async () => {
    const a = await startNode();
    const b1 = await startNode();
    const bAddr = b1.addr();
    a.transport.send(bAddr, { seq: 0 });
    await until("first delivery", () => b1.received.length === 1);
    await b1.transport.close();
    await until(
      "link noticed the peer went away",
      () => a.transport.peerStats(bAddr)!.state !== "connected",
    );
    const b2 = await startNode({ listenAddr: bAddr });
    const seq = await sendUntilDelivered(a, b2, 1);
    const first = b2.received[0]!.seq;
    for (let i = seq; i < seq + 100; i++) expect(a.transport.send(bAddr, { seq: i })).toBe(true);
    await until("delivery after restart", () => b2.received.at(-1)?.seq === seq + 99);
    expect(seqs(b2)).toEqual(range(first, seq + 100 - first));
    expect(a.logs.some((line) => line.includes(bAddr) && line.includes("down"))).toBe(true);
  });

  test("a frame that fails to decode closes only that connection and is logged", async () => {
    const a = await startNode();
    const b = await startNode();
    a.transport.send(b.addr(), { seq: 0 });
    await until("delivery before the bad peer", () => b.received.length === 1);
    await rawWriteUntilClosed(b.addr(), encodeFrame(cborEncode("not a message"), 1000));
    await rawWriteUntilClosed(b.addr(), encodeFrame(new Uint8Array([0xff, 0xff, 0x1c]), 1000));
    expect(b.logs.filter((line) => line.includes("failed to decode")).length).toBe(2);
    a.transport.send(b.addr(), { seq: 1 });
    await until("delivery after the bad peer", () => b.received.length === 2);
    expect(seqs(b)).toEqual([0, 1]);
    expect(a.transport.peerStats(b.addr())!.state).toBe("connected");
  });

  test("an oversized frame closes the connection and is logged; the sender recovers", async () => {
    const b = await startNode({ frameBytesMax: 1024 });
    await rawWriteUntilClosed(b.addr(), new Uint8Array([0, 0x0f, 0x42, 0x40])); // announces 1,000,000 bytes
    expect(b.logs.some((line) => line.includes("exceeds frameBytesMax 1024"))).toBe(true);
    const a = await startNode(); // default limit: it will send what b refuses
    expect(a.transport.send(b.addr(), { seq: 0, body: new Uint8Array(2000) })).toBe(true);
    await until("b refused the big frame", () => b.logs.length === 2);
    const next = await sendUntilDelivered(a, b, 1);
    expect(b.received.every((m) => m.seq >= 1 && m.seq < next)).toBe(true);
  });

  test("a message over the sender's own frameBytesMax is dropped and logged", async () => {
    const b = await startNode();
    const a = await startNode({ frameBytesMax: 100 });
    expect(a.transport.send(b.addr(), { seq: 0, body: new Uint8Array(200) })).toBe(false);
    expect(a.logs.some((line) => line.includes("over frameBytesMax 100"))).toBe(true);
    expect(a.transport.send(b.addr(), { seq: 1 })).toBe(true);
    await until("small message", () => b.received.length === 1);
  });

  test("while a dial is in progress the queue is bounded and the excess dropped", async () => {
    const b = await startNode();
    const a = await startNode({ queueFramesMax: 10 });
    const accepted = range(0, 50).map((i) => a.transport.send(b.addr(), { seq: i }));
    expect(accepted).toEqual([...Array(10).fill(true), ...Array(40).fill(false)]);
    expect(a.transport.peerStats(b.addr())!.droppedFrames).toBe(40);
    await until("queued messages", () => b.received.length === 10);
    expect(seqs(b)).toEqual(range(0, 10));
  });

  test("messages to a peer that is down are dropped until it comes up", async () => {
    const port = await freePort();
    const bAddr = `127.0.0.1:${port}`;
    // A backoff long enough that the next send surely lands inside it.
    const a = await startNode({ dialBackoffMinMs: 300, dialBackoffMaxMs: 300 });
    expect(a.transport.send(bAddr, { seq: 0 })).toBe(true); // queued while the dial runs
    await until("dial failure", () => a.transport.peerStats(bAddr)!.state !== "dialing");
    expect(a.transport.send(bAddr, { seq: 1 })).toBe(false);
    expect(a.logs.filter((line) => line.includes(bAddr)).length).toBe(1);
    const b = await startNode({ listenAddr: bAddr });
    await sendUntilDelivered(a, b, 2);
    expect(b.received[0]!.seq).toBeGreaterThanOrEqual(2);
  });

  test("under backpressure the queue stays bounded and accepted frames all arrive", async () => {
    let received = 0;
    let peer: net.Socket | null = null;
    const stalled = net.createServer((socket) => {
      peer = socket;
      socket.pause(); // Read nothing: the sender's socket buffer fills up.
      socket.on("data", (chunk: Uint8Array) => void (received += chunk.length));
    });
    rawServers.push(stalled);
    await new Promise<void>((resolve) => stalled.listen({ host: "127.0.0.1", port: 0 }, resolve));
    const addr = `127.0.0.1:${(stalled.address() as net.AddressInfo).port}`;
    const a = await startNode({ queueFramesMax: 8 });
    const body = new Uint8Array(256 * 1024);
    a.transport.send(addr, { seq: 0, body });
    await until("connected", () => a.transport.peerStats(addr)!.state === "connected");
    let acceptedBytes = encode({ seq: 0, body }).length + 4;
    let seq = 1;
    for (; seq < 2000; seq++) {
      const msg = { seq, body };
      if (!a.transport.send(addr, msg)) break;
      acceptedBytes += encode(msg).length + 4;
      await new Promise((resolve) => setImmediate(resolve)); // let each send flush
    }
    expect(seq).toBeLessThan(2000); // the bound was hit
    expect(a.transport.peerStats(addr)!.queuedFrames).toBe(8);
    (peer as net.Socket | null)!.resume();
    await until("all accepted bytes", () => received === acceptedBytes, 8000);
    expect(a.transport.peerStats(addr)!.queuedFrames).toBe(0);
  });

  test("an unparseable peer address is refused and logged once", async () => {
    const a = await startNode();
    expect(a.transport.send("no-port", { seq: 0 })).toBe(false);
    expect(a.transport.send("no-port", { seq: 1 })).toBe(false);
    expect(a.logs.filter((line) => line.includes("no-port")).length).toBe(1);
    expect(a.transport.peerStats("no-port")!.state).toBe("invalid");
  });

  test("close() releases the port, is idempotent, and later sends are dropped", async () => {
    const a = await startNode();
    const addr = a.addr();
    await a.transport.close();
    await a.transport.close();
    expect(a.transport.send(addr, { seq: 0 })).toBe(false);
    const again = await startNode({ listenAddr: addr });
    expect(again.addr()).toBe(addr);
  });

  test("listening on a taken port fails with a clear error", async () => {
    const a = await startNode();
    const b = makeNode({ listenAddr: a.addr() });
    await expect(b.transport.listen()).rejects.toThrow(
      `cannot listen on ${a.addr()}: address already in use`,
    );
  });

  test("IPv6 loopback addresses work in brackets", async () => {
    let a: TestNode;
    try {
      a = await startNode({ listenAddr: "[::1]:0" });
    } catch {
      return; // No IPv6 loopback on this machine: nothing to test.
    }
    expect(a.addr()).toMatch(/^\[::1\]:\d+$/);
    const b = await startNode();
    b.transport.send(a.addr(), { seq: 7 });
    await until("IPv6 delivery", () => a.received.length === 1);
  });
});
