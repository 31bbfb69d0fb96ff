// Goal: the runtime's socket write callback fires only once the socket is done with the
// buffer written, on node:net and node:tls alike: the peer links hand a sent InstallSnapshot
// envelope back to sentFrameBodies in that callback (raft/peer_link.ts writeLargeFrame), and
// the next envelope, to this follower or another, is encoded into it. Were the callback to fire
// while the socket (or TLS) still read the buffer, a follower would install corrupted bytes.
// Method: three 8 MiB frames written back to back to a reader that pauses at first (so most of
// them wait in the sender), each overwritten with zeros in its write's callback; the reader
// must receive every byte as written. Certificates by openssl at test time (tests/support/certs.ts).

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { makeCa } from "../../support/certs.ts";

const frameBytes = 8 * 1024 * 1024;
const frames = 3;

async function sendAndOverwrite(secure: boolean): Promise<Buffer> {
  const ca = secure ? makeCa("callback") : null;
  const leaf = ca?.issue("n1") ?? null;
  const pieces: Buffer[] = [];
  let total = 0;
  let server: net.Server | null = null;
  let client: net.Socket | null = null;
  try {
    await new Promise<void>((resolve, reject) => {
      const onConnection = (s: net.Socket): void => {
        s.on("data", (d: Buffer) => {
          pieces.push(Buffer.from(d));
          total += d.length;
          if (total >= frames * frameBytes) resolve();
        });
        s.pause();
        setTimeout(() => s.resume(), 500);
      };
      server = leaf === null ? net.createServer(onConnection) : tls.createServer({ key: readFileSync(leaf.key), cert: readFileSync(leaf.cert) }, onConnection);
      server.on("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const port = (server!.address() as net.AddressInfo).port;
        const socket = ca === null
          ? net.connect(port, "127.0.0.1")
          : tls.connect({ port, host: "127.0.0.1", ca: readFileSync(ca.cert), checkServerIdentity: () => undefined });
        client = socket;
        socket.on("error", reject);
        socket.on(ca === null ? "connect" : "secureConnect", () => {
          for (let k = 0; k < frames; k++) {
            const frame = new Uint8Array(frameBytes).fill(1 + k);
            socket.write(frame, (error) => {
              if (error === null || error === undefined) frame.fill(0);
            });
          }
        });
      });
    });
  } finally {
    (client as net.Socket | null)?.destroy();
    (server as net.Server | null)?.close();
  }
  return Buffer.concat(pieces);
}

for (const secure of [false, true]) {
  test(`${secure ? "node:tls" : "node:net"}: a written buffer is the socket's until the write's callback`, async () => {
    const got = await sendAndOverwrite(secure);
    expect(got.length).toBe(frames * frameBytes);
    for (let k = 0; k < frames; k++) {
      const frame = got.subarray(k * frameBytes, (k + 1) * frameBytes);
      expect(frame.every((b) => b === 1 + k)).toBe(true);
    }
  }, 30_000);
}
