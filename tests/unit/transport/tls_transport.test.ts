// Goal: with `tls`, the transport talks only to peers whose certificate the node CA signed:
// nothing from anyone else reaches onMessage (another CA's certificate, none at all, plain
// TCP), the receiving side logs one line naming the address, a dial to a peer that does not
// verify fails like any failed dial, the hostname is checked unless told not to, and a
// rotated certificate reaches new connections while messages keep flowing. Method: real
// transports and raw node:tls / node:net peers on loopback, certificates made by openssl at
// test time (tests/support/certs.ts); waits are polls with generous timeouts.
// With tls, createTcpTransport always builds the node:tls transport (a Bun.listen listener
// cannot swap its certificate, and rotation must reach new connections: transport_bun.ts),
// so these tests run on node:net only; the last one, without tls, on the runtime's default.

import { afterEach, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { parseHostPort } from "../../../address.ts";
import { encodeFrame, FrameDecoder } from "../../../raft/framing.ts";
import type { Logger, Timers } from "../../../raft/host.ts";
import { realTimers } from "../../../raft/real_time.ts";
import {
  createTcpTransport,
  type TcpTransport,
  type TcpTransportOptions,
  transportImplementationFor,
} from "../../../raft/transport.ts";
import { loadTlsMaterial, type TlsMaterial, watchTlsFiles } from "../../../security/cert_files.ts";
import { type CertFiles, makeCa, type TestCa } from "../../support/certs.ts";

const encode = (n: number): Uint8Array => new TextEncoder().encode(String(n));
function decode(bytes: Uint8Array): number {
  const n = Number(new TextDecoder().decode(bytes));
  if (!Number.isSafeInteger(n)) throw new Error("not a number message");
  return n;
}

let ca: TestCa;
let otherCa: TestCa;
let n1: CertFiles;
let n2: CertFiles;
let n1Renewed: CertFiles;
let stranger: CertFiles;
let elsewhere: CertFiles;

beforeAll(() => {
  ca = makeCa("node");
  otherCa = makeCa("evil");
  n1 = ca.issue("n1");
  n2 = ca.issue("n2");
  n1Renewed = ca.issue("n1-renewed");
  stranger = otherCa.issue("stranger");
  elsewhere = ca.issue("elsewhere", { dns: ["elsewhere.example"], ips: [] });
});

interface Node {
  readonly transport: TcpTransport<number>;
  readonly received: number[];
  readonly logs: string[];
  addr(): string;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((f) => f()));
});

/** The material of a certificate and the CA that must sign its peers. */
function material(leaf: CertFiles, trusted: TestCa = ca): TlsMaterial {
  return loadTlsMaterial({ cert: leaf.cert, key: leaf.key, ca: trusted.cert });
}

async function startNode(
  m: TlsMaterial | (() => TlsMaterial) | null,
  options: Partial<TcpTransportOptions<number>> & { verifyHostname?: boolean } = {},
): Promise<Node> {
  const received: number[] = [];
  const logs: string[] = [];
  const { verifyHostname = true, ...rest } = options;
  const transport = createTcpTransport<number>({
    listenAddr: "127.0.0.1:0",
    encode,
    decode,
    onMessage: (msg) => received.push(msg),
    logger: (line) => logs.push(line),
    dialBackoffMinMs: 5,
    dialBackoffMaxMs: 50,
    ...(m === null ? {} : { tls: { material: typeof m === "function" ? m : () => m, verifyHostname } }),
    ...rest,
  });
  cleanups.push(() => transport.close());
  await transport.listen();
  return { transport, received, logs, addr: () => transport.address() };
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Keeps sending to `addr` for `ms` (so backoff redials happen), then returns. */
async function keepSending(from: Node, addr: string, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    from.transport.send(addr, 666);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const serial = (hex: string): number => parseInt(hex, 16);
const serialOf = (leaf: CertFiles): number => serial(new (require("node:crypto").X509Certificate)(leaf.certPem()).serialNumber);

/** Probes carry numbers from here up, so they can be told apart from the flow of messages. */
const probeBase = 1_000_000_000;
let probes = 0;

/**
 * Connects to `node`'s listener as a raw TLS client and sends one frame; once the node has
 * delivered it (so it accepted the connection), closes and returns the serial of the
 * certificate the node presented.
 */
async function serverCertSerial(node: Node, client: CertFiles): Promise<number> {
  const { host, port } = parseHostPort(node.addr());
  const probe = probeBase + probes++;
  const socket = tls.connect({ host, port, cert: client.certPem(), key: client.keyPem(), ca: ca.certPem() });
  socket.on("error", () => {});
  await new Promise((resolve) => socket.once("secureConnect", resolve));
  socket.write(encodeFrame(encode(probe), 1024));
  await until("the probe delivered", () => node.received.includes(probe));
  const seen = serial(socket.getPeerCertificate().serialNumber);
  socket.end();
  return seen;
}

/** A raw mutual-TLS listener trusting the node CA: records each client certificate's serial and the frames it gets. */
async function rawTlsPeer(): Promise<{ addr: string; clientSerials: number[]; frames: number[] }> {
  const clientSerials: number[] = [];
  const frames: number[] = [];
  const server = tls.createServer(
    { cert: n2.certPem(), key: n2.keyPem(), ca: ca.certPem(), requestCert: true, rejectUnauthorized: true },
    (socket) => {
      clientSerials.push(serial(socket.getPeerCertificate().serialNumber));
      const decoder = new FrameDecoder({ frameBytesMax: 1024 });
      socket.on("data", (chunk: Uint8Array) => {
        for (const f of decoder.push(chunk)) frames.push(decode(f));
      });
      socket.on("error", () => {});
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { addr: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, clientSerials, frames };
}

const refusedLines = (node: Node): string[] => node.logs.filter((l) => l.includes("refused a connection from 127.0.0.1:"));

test("two transports with certificates from one CA exchange messages both ways", async () => {
  const a = await startNode(material(n1));
  const b = await startNode(material(n2));
  for (let i = 0; i < 100; i++) {
    a.transport.send(b.addr(), i);
    b.transport.send(a.addr(), 1000 + i);
  }
  a.transport.flush(); // flush() on a TLS link: must not lose or reorder anything.
  await until("both sides got everything", () => a.received.length === 100 && b.received.length === 100);
  expect(b.received).toEqual([...Array(100).keys()]);
  expect(a.received).toEqual([...Array(100).keys()].map((i) => 1000 + i));
  expect(a.transport.peerStats(b.addr())?.state).toBe("connected");
  expect([...a.logs, ...b.logs]).toEqual([]);
});

test("a peer whose certificate another CA signed injects no frame; the receiver logs one line per address", async () => {
  // The worst case: the stranger trusts our CA, so its own check of our certificate passes
  // and (with TLS 1.3) it may even write frames before our side refuses its certificate.
  const windowEnds: (() => void)[] = [];
  const timers: Timers = {
    setTimeout: (fn, ms) => (ms === 60_000 ? void windowEnds.push(fn) : realTimers.setTimeout(fn, ms)),
    clearTimeout: (h) => (h === undefined ? undefined : realTimers.clearTimeout(h)),
  };
  const a = await startNode(material(n1), { timers });
  const intruder = await startNode(material(stranger, ca));
  await keepSending(intruder, a.addr(), 300);
  expect(a.received).toEqual([]);
  const lines = refusedLines(a);
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(/^transport: refused a connection from 127\.0\.0\.1:\d+: TLS handshake failed: .*certificate/);
  // The end of the window counts the attempts it did not log.
  expect(windowEnds.length).toBe(1);
  windowEnds[0]!();
  expect(a.logs.at(-1)).toMatch(/^transport: refused \d+ more connections from 127\.0\.0\.1 in the last 60 s/);
});

test("a peer of another CA can neither send to nor be dialled by the cluster", async () => {
  const a = await startNode(material(n1));
  const evil = await startNode(material(stranger, otherCa));
  await keepSending(evil, a.addr(), 100);
  await keepSending(a, evil.addr(), 100);
  expect(a.received).toEqual([]);
  expect(evil.received).toEqual([]);
  // Each dial failed like any failed dial: one line, then backoff.
  const aDown = a.logs.filter((l) => l.startsWith(`transport: link to ${evil.addr()} down`));
  expect(aDown.length).toBe(1);
  expect(aDown[0]).toMatch(/certificate/);
  expect(a.transport.peerStats(evil.addr())?.sentFrames).toBe(0);
  expect(evil.logs.filter((l) => l.startsWith(`transport: link to ${a.addr()} down (`))).toEqual([
    expect.stringMatching(/certificate/),
  ]);
});

test("plain TCP and a TLS client without a certificate deliver nothing to a TLS listener", async () => {
  const a = await startNode(material(n1));
  const { host, port } = parseHostPort(a.addr());
  const plain = net.connect({ host, port });
  plain.on("error", () => {});
  plain.resume(); // Read, or "close" waits for the unread bytes (the TLS alert) to be consumed.
  plain.write(encodeFrame(encode(7), 1024));
  await new Promise((resolve) => plain.once("close", resolve));
  const bare = tls.connect({ host, port, ca: ca.certPem() }, () => bare.write(encodeFrame(encode(8), 1024)));
  bare.on("error", () => {});
  bare.resume();
  await new Promise((resolve) => bare.once("close", resolve));
  expect(a.received).toEqual([]);
  expect(refusedLines(a).length).toBe(1); // Same remote host: the second is counted, not logged.
});

test("the certificate must name the host dialled unless verifyHostname is false", async () => {
  const far = await startNode(material(elsewhere));
  const port = parseHostPort(far.addr()).port;
  const strict = await startNode(material(n1));
  strict.transport.send(`localhost:${port}`, 1);
  strict.transport.send(far.addr(), 2); // An IP address is checked against the IP names.
  await until("both dials fail", () => strict.logs.length === 2);
  expect(strict.logs.join("\n")).toContain("Host: localhost. is not in the cert's altnames: DNS:elsewhere.example");
  expect(strict.logs.join("\n")).toContain("IP: 127.0.0.1 is not in the cert's list");
  expect(far.received).toEqual([]);

  const lax = await startNode(material(n1), { verifyHostname: false });
  lax.transport.send(`localhost:${port}`, 3);
  lax.transport.send(far.addr(), 4);
  await until("delivered without the name check", () => far.received.length === 2);
  expect(far.received.sort()).toEqual([3, 4]);
  // The CA is still checked without the name check.
  const evil = await startNode(material(stranger, otherCa), { verifyHostname: false });
  lax.transport.send(evil.addr(), 5);
  await until("dial to another CA's peer fails", () => lax.logs.length === 1);
  expect(lax.logs[0]).toMatch(new RegExp(`^transport: link to ${evil.addr()} down \\(.*certificate`));
  expect(evil.received).toEqual([]);
});

test("a rotated certificate reaches new connections while messages flow; a broken file keeps the old one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hraftd-tls-rotate-"));
  const files = { cert: join(dir, "node.pem"), key: join(dir, "node-key.pem"), ca: ca.cert };
  copyFileSync(n1.cert, files.cert);
  copyFileSync(n1.key, files.key);
  const watchLines: string[] = [];
  const log: Logger = {
    info: (l) => void watchLines.push(`info ${l}`),
    warn: (l) => void watchLines.push(`warn ${l}`),
    error: (l) => void watchLines.push(`error ${l}`),
  };
  const watched = watchTlsFiles(files, { timers: realTimers, log, periodMs: 10 });
  cleanups.push(() => watched.stop());
  const a = await startNode(watched.current, { tls: { material: watched.current, onChange: watched.onChange, verifyHostname: true } });
  const b = await startNode(material(n2));

  // Messages flow both ways for the whole test.
  let sentToB = 0;
  let sentToA = 0;
  let isPumping = true;
  const pump = (async () => {
    while (isPumping) {
      a.transport.send(b.addr(), sentToB++);
      b.transport.send(a.addr(), sentToA++);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  })();

  const before = await rawTlsPeer();
  a.transport.send(before.addr, 1);
  await until("the first raw peer is dialled", () => before.frames.length === 1);
  expect(before.clientSerials).toEqual([serialOf(n1)]);
  expect(await serverCertSerial(a, n2)).toBe(serialOf(n1));

  // A broken certificate file: a warning naming it, the old certificate still served and presented.
  writeFileSync(files.cert, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");
  await until("the warning", () => watchLines.length > 0);
  expect(watchLines).toEqual([
    `warn tls: keeping the current certificate CN=n1, serial 01: certificate file ${files.cert}: not a PEM certificate (${watchLines[0]!.split("not a PEM certificate (")[1]}`,
  ]);
  expect(await serverCertSerial(a, n2)).toBe(serialOf(n1));
  const during = await rawTlsPeer();
  a.transport.send(during.addr, 2);
  await until("the second raw peer is dialled", () => during.frames.length === 1);
  expect(during.clientSerials).toEqual([serialOf(n1)]);

  // The renewed certificate and key: swapped in, and new connections both ways present it.
  copyFileSync(n1Renewed.key, files.key);
  copyFileSync(n1Renewed.cert, files.cert);
  await until("the swap", () => watchLines.some((l) => l.startsWith("info ")));
  expect(watchLines.filter((l) => l.startsWith("info "))).toEqual([
    `info tls: loaded a new certificate (CN=n1-renewed, serial 03) from ${files.cert}, key ${files.key}, CA ${ca.cert}; new connections use it`,
  ]);
  expect(await serverCertSerial(a, n2)).toBe(serialOf(n1Renewed));
  const after = await rawTlsPeer();
  a.transport.send(after.addr, 3);
  await until("the third raw peer is dialled", () => after.frames.length === 1);
  expect(after.clientSerials).toEqual([serialOf(n1Renewed)]);

  // No message lost: the existing connections were kept through the rotation.
  isPumping = false;
  await pump;
  await until("everything delivered", () => b.received.length === sentToB && a.received.length === sentToA + probes);
  expect(b.received).toEqual([...Array(sentToB).keys()]);
  expect(a.received.filter((n) => n < probeBase)).toEqual([...Array(sentToA).keys()]);
  expect(sentToB).toBeGreaterThan(10);
  expect([...a.logs, ...b.logs]).toEqual([]);
});

test("without tls the listener still speaks plain TCP", async () => {
  const a = await startNode(null);
  const { host, port } = parseHostPort(a.addr());
  const plain = net.connect({ host, port }, () => plain.end(encodeFrame(encode(9), 1024)));
  await until("delivered", () => a.received.length === 1);
  expect(a.received).toEqual([9]);
});

test("with tls the node:tls transport is chosen, and without it Bun's native one under Bun", () => {
  const tlsOptions = { material: () => material(n1), verifyHostname: true };
  expect(transportImplementationFor({ tls: tlsOptions })).toBe("node");
  expect(transportImplementationFor({})).toBe(typeof Bun === "undefined" ? "node" : "bun");
});
