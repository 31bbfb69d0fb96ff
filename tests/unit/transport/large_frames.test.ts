// Goal: a large frame (an AppendEntries of 64 KiB values, issue 18) leaves as its length
// prefix and the encoded message itself, never copied into a write batch first; small frames
// around it are still batched, and everything arrives intact and in order. Method: two real
// transports on loopback; the link's own count of bytes copied into batches (PeerStats).

import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { decode as cborDecode, encode as cborEncode } from "cbor-x";
import { FRAME_HEADER_BYTES } from "../../../raft/framing.ts";
import { type TcpTransport } from "../../../raft/transport.ts";
import { type TransportImplementation, transportImplementations } from "./implementations.ts";

interface Msg {
  readonly seq: number;
  readonly body?: Uint8Array;
}

const open: TcpTransport<Msg>[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

/** The implementation under test: set by each describe block before its tests run. */
let create: TransportImplementation["create"] = transportImplementations[0]!.create;

async function node(received: Msg[]): Promise<TcpTransport<Msg>> {
  const t = create<Msg>({
    listenAddr: "127.0.0.1:0",
    encode: (m) => cborEncode(m),
    decode: (b) => cborDecode(b) as Msg,
    onMessage: (m) => received.push(m),
    logger: () => {},
  });
  open.push(t);
  await t.listen();
  return t;
}

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

for (const implementation of transportImplementations) describe(`on ${implementation.name}`, () => {
  beforeAll(() => void (create = implementation.create));

  test("frames of 64 KiB and more are written uncopied; the small ones between them are batched", async () => {
    const got: Msg[] = [];
    const a = await node([]);
    const b = await node(got);
    const to = b.address();
    a.send(to, { seq: -1 });
    await until("the link is up", () => got.length === 1);
    const before = a.peerStats(to)!;
    const big = (seed: number, bytes: number) => Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + seed) & 0xff);
    const sent: Msg[] = [];
    for (let i = 0; i < 30; i++) {
      // A ~1 MiB, a 64 KiB and a ~256 KiB body between runs of small messages.
      const body = i % 10 === 3 ? big(i, 1024 * 1024) : i % 10 === 6 ? big(i, 64 * 1024) : i % 10 === 9 ? big(i, 256 * 1024) : new Uint8Array(100).fill(i);
      const m = { seq: i, body };
      sent.push(m);
      expect(a.send(to, m)).toBe(true);
    }
    await until("every message", () => got.length === 31);
    expect(got.slice(1)).toEqual(sent);
    const after = a.peerStats(to)!;
    const smallBytes = 21 * (FRAME_HEADER_BYTES + 200);
    expect(after.batchedBytes - before.batchedBytes).toBeLessThan(smallBytes);
    expect(after.batchedBytes - before.batchedBytes).toBeGreaterThan(0);
    expect(after.sentFrames - before.sentFrames).toBe(30);
  });
});
