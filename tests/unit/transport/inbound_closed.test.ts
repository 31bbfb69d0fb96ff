// Goal: when a connection a peer dialled to us closes, the transport says so, with the last
// message read from it (the driver tells a follower whose leader's process ended, so it
// campaigns without waiting out the election timeout: raft/core/election.ts). Not said when
// we close the transport ourselves, nor for a connection that carried no message.
// Method: real transports on loopback; the sender's transport is closed (as a killed process's
// sockets are), or a raw socket connects and leaves without sending.

import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import * as net from "node:net";
import { decode as cborDecode, encode as cborEncode } from "cbor-x";
import { parseHostPort } from "../../../address.ts";
import { type TcpTransport } from "../../../raft/transport.ts";
import { type TransportImplementation, transportImplementations } from "./implementations.ts";

interface Msg {
  readonly seq: number;
}

const open: TcpTransport<Msg>[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

/** The implementation under test: set by each describe block before its tests run. */
let create: TransportImplementation["create"] = transportImplementations[0]!.create;

function transport(onMessage: (m: Msg) => void, onInboundClosed?: (last: Msg) => void): TcpTransport<Msg> {
  const t = create<Msg>({
    listenAddr: "127.0.0.1:0",
    encode: (m) => cborEncode(m),
    decode: (b) => cborDecode(b) as Msg,
    onMessage,
    logger: () => {},
    ...(onInboundClosed === undefined ? {} : { onInboundClosed }),
  });
  open.push(t);
  return t;
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

for (const implementation of transportImplementations) describe(`on ${implementation.name}`, () => {
  beforeAll(() => void (create = implementation.create));

  test("a peer's connection closing reports the last message it carried", async () => {
    const received: Msg[] = [];
    const closed: Msg[] = [];
    const receiver = transport((m) => received.push(m), (last) => closed.push(last));
    await receiver.listen();
    const sender = transport(() => {});
    for (let seq = 1; seq <= 3; seq++) sender.send(receiver.address(), { seq });
    await until("three messages", () => received.length === 3);
    expect(closed).toEqual([]);
    await sender.close();
    await until("the close", () => closed.length === 1);
    expect(closed).toEqual([{ seq: 3 }]);
  });

  test("not reported for a connection that carried nothing, nor when we close ourselves", async () => {
    const closed: Msg[] = [];
    const received: Msg[] = [];
    const receiver = transport((m) => received.push(m), (last) => closed.push(last));
    await receiver.listen();
    const { host, port } = parseHostPort(receiver.address());
    const raw = net.connect(port, host);
    await new Promise<void>((resolve) => raw.once("connect", () => resolve()));
    raw.end();
    await new Promise<void>((resolve) => raw.once("close", () => resolve()));
    const sender = transport(() => {});
    sender.send(receiver.address(), { seq: 9 });
    await until("a message", () => received.length === 1);
    await receiver.close();
    await sender.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toEqual([]);
  });
});
