// The cost of mutual TLS on the Raft transport: the same one-way load over a plain pair and
// a TLS pair of transports in one process and one invocation, alternating, so the two see the
// same machine. Not a test: it reports, never fails. Certificates are made with openssl.
// Usage: npx bun bench/tls_transport_bench.ts [--messages 50000] [--rounds 2]

import { createTcpTransport, type TransportTls } from "../raft/transport.ts";
import { loadTlsMaterial } from "../security/cert_files.ts";
import { makeCa } from "../tests/support/certs.ts";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const total = Number(flag("messages", "50000"));
const rounds = Number(flag("rounds", "2"));
const windowMessages = 4000;
const burstMessages = 500;

const ca = makeCa("bench");
const tlsOf = (name: string): TransportTls => {
  const leaf = ca.issue(name);
  const m = loadTlsMaterial({ cert: leaf.cert, key: leaf.key, ca: ca.cert });
  return { material: () => m, verifyHostname: true };
};
const tlsA = tlsOf("a");
const tlsB = tlsOf("b");

/** Messages per second of `bytes`-byte payloads from one transport to another. */
async function run(tls: boolean, bytes: number): Promise<number> {
  let received = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const common = { encode: (m: Uint8Array) => m, decode: (b: Uint8Array) => b, listenAddr: "127.0.0.1:0", logger: console.error };
  const receiver = createTcpTransport<Uint8Array>({
    ...common,
    onMessage: () => {
      received += 1;
      if (received === total) done();
    },
    ...(tls ? { tls: tlsB } : {}),
  });
  const sender = createTcpTransport<Uint8Array>({ ...common, onMessage: () => {}, ...(tls ? { tls: tlsA } : {}) });
  await receiver.listen();
  await sender.listen();
  const to = receiver.address();
  const body = new Uint8Array(bytes).fill(7);
  // Warm up: the dial (and handshake) is not what we measure.
  sender.send(to, body);
  while (received < 1) await new Promise((resolve) => setImmediate(resolve));
  received = 0;
  const started = performance.now();
  let seq = 0;
  while (seq < total) {
    const burstEnd = Math.min(total, seq + burstMessages, received + windowMessages);
    for (; seq < burstEnd; seq++) {
      if (!sender.send(to, body)) throw new Error(`dropped message ${seq}`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await sender.close();
  await receiver.close();
  return total / seconds;
}

for (const bytes of [100, 1024, 16 * 1024]) {
  const plain: number[] = [];
  const secure: number[] = [];
  for (let r = 0; r < rounds; r++) {
    plain.push(await run(false, bytes));
    secure.push(await run(true, bytes));
  }
  const best = (xs: number[]) => Math.max(...xs);
  console.log(
    `${String(bytes).padStart(5)} B x ${total}: plain ${Math.round(best(plain))} msg/s, ` +
      `TLS ${Math.round(best(secure))} msg/s, TLS/plain ${(best(secure) / best(plain)).toFixed(2)} ` +
      `(best of ${rounds}; plain ${plain.map(Math.round).join(", ")}; TLS ${secure.map(Math.round).join(", ")})`,
  );
}
