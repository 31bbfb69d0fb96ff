// Certificate files: each way a file can be wrong gives an Error naming that file and why, and
// the watcher swaps in a rotated certificate, keeps the old one (one warning per broken
// content) when the new files are bad, and stops. Timers are driven by hand: no sleeping.
import { beforeAll, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdtempSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger, Timers } from "../../../raft/host.ts";
import { describeCertificate, loadTlsMaterial, type TlsMaterial, watchTlsFiles } from "../../../security/cert_files.ts";
import { type CertFiles, makeCa, type TestCa } from "../../support/certs.ts";

let ca: TestCa;
let n1: CertFiles;
let n2: CertFiles;
let dir: string;

beforeAll(() => {
  ca = makeCa("cf");
  n1 = ca.issue("n1");
  n2 = ca.issue("n2");
  dir = mkdtempSync(join(tmpdir(), "hraftd-cert-files-"));
});

function place(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test("loads matching files, with and without a CA", () => {
  const m = loadTlsMaterial({ cert: n1.cert, key: n1.key, ca: ca.cert });
  expect(m.cert).toBe(n1.certPem());
  expect(m.key).toBe(n1.keyPem());
  expect(m.ca).toBe(ca.certPem());
  expect(loadTlsMaterial({ cert: n1.cert, key: n1.key }).ca).toBeUndefined();
  expect(describeCertificate(m.cert)).toMatch(/^CN=n1, serial 0?1$/);
});

test("a missing file is named", () => {
  const missing = join(dir, "nope.pem");
  expect(() => loadTlsMaterial({ cert: missing, key: n1.key })).toThrow(`certificate file ${missing} does not exist`);
  expect(() => loadTlsMaterial({ cert: n1.cert, key: missing })).toThrow(`key file ${missing} does not exist`);
  expect(() => loadTlsMaterial({ cert: n1.cert, key: n1.key, ca: missing })).toThrow(
    `CA certificate file ${missing} does not exist`,
  );
});

test("an unreadable file and a directory are named", () => {
  expect(() => loadTlsMaterial({ cert: dir, key: n1.key })).toThrow(`certificate file ${dir} is a directory`);
  const locked = place("locked-key.pem", n1.keyPem());
  chmodSync(locked, 0o000);
  // root reads anything: then the check cannot be shown here.
  if (process.getuid?.() !== 0) {
    expect(() => loadTlsMaterial({ cert: n1.cert, key: locked })).toThrow(
      `key file ${locked} cannot be read (permission denied)`,
    );
  }
});

test("a file that is not a PEM certificate is named", () => {
  const text = place("text.pem", "hello\n");
  expect(() => loadTlsMaterial({ cert: text, key: n1.key })).toThrow(`certificate file ${text}: not a PEM certificate`);
  // A key where the certificate should be.
  expect(() => loadTlsMaterial({ cert: n1.key, key: n1.key })).toThrow(`certificate file ${n1.key}: not a PEM certificate`);
  const damaged = place("damaged.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  expect(() => loadTlsMaterial({ cert: damaged, key: n1.key })).toThrow(`certificate file ${damaged}: not a PEM certificate`);
});

test("a file that is not a PEM private key is named", () => {
  expect(() => loadTlsMaterial({ cert: n1.cert, key: n1.cert })).toThrow(`key file ${n1.cert}: not a PEM private key`);
  const damaged = place("damaged-key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  expect(() => loadTlsMaterial({ cert: n1.cert, key: damaged })).toThrow(`key file ${damaged}: not a PEM private key`);
});

test("a key that does not match the certificate is named with both files", () => {
  expect(() => loadTlsMaterial({ cert: n1.cert, key: n2.key })).toThrow(
    `key file ${n2.key} does not match the certificate in ${n1.cert}`,
  );
});

test("a CA file that is not a certificate is named", () => {
  expect(() => loadTlsMaterial({ cert: n1.cert, key: n1.key, ca: ca.key })).toThrow(
    `CA certificate file ${ca.key}: not a PEM certificate`,
  );
});

/** Timers run by hand: fire() runs what is due, in order. */
function manualTimers(): Timers & { fire(): void; pending(): number } {
  const due = new Map<number, () => void>();
  let next = 1;
  return {
    setTimeout(fn) {
      due.set(next, fn);
      return next++;
    },
    clearTimeout(handle) {
      due.delete(handle as number);
    },
    fire() {
      const now = [...due.entries()];
      due.clear();
      for (const [, fn] of now) fn();
    },
    pending: () => due.size,
  };
}

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (l) => void lines.push(`info ${l}`),
    warn: (l) => void lines.push(`warn ${l}`),
    error: (l) => void lines.push(`error ${l}`),
  };
}

test("the watcher swaps in a rotated certificate, keeps the old one when the new files are bad, and stops", () => {
  const cert = place("w-cert.pem", n1.certPem());
  const key = place("w-key.pem", n1.keyPem());
  const files = { cert, key, ca: ca.cert };
  const timers = manualTimers();
  const log = recordingLog();
  const watched = watchTlsFiles(files, { timers, log, periodMs: 10 });
  const seen: TlsMaterial[] = [];
  watched.onChange((m) => seen.push(m));
  expect(watched.current().cert).toBe(n1.certPem());

  timers.fire(); // Nothing changed: nothing happens.
  expect(log.lines).toEqual([]);

  // A broken certificate: one warning naming the file, however many polls see it.
  writeFileSync(cert, "not a certificate\n");
  timers.fire();
  timers.fire();
  expect(log.lines).toEqual([
    `warn tls: keeping the current certificate CN=n1, serial 01: certificate file ${cert}: not a PEM certificate (no "-----BEGIN CERTIFICATE-----" line)`,
  ]);
  expect(watched.current().cert).toBe(n1.certPem());

  // Half a rotation (new cert, old key): one warning, old material kept.
  writeFileSync(cert, n2.certPem());
  timers.fire();
  timers.fire();
  expect(log.lines.length).toBe(2);
  expect(log.lines[1]).toStartWith(`warn tls: keeping the current certificate CN=n1, serial 01: key file ${key} does not match the certificate in ${cert}`);
  expect(seen).toEqual([]);

  // The key follows: swapped, one info line, listeners called.
  copyFileSync(n2.key, key);
  timers.fire();
  expect(watched.current().cert).toBe(n2.certPem());
  expect(seen.map((m) => m.cert)).toEqual([n2.certPem()]);
  expect(log.lines[2]).toBe(
    `info tls: loaded a new certificate (CN=n2, serial 02) from ${cert}, key ${key}, CA ${ca.cert}; new connections use it`,
  );

  watched.stop();
  expect(timers.pending()).toBe(0);
  writeFileSync(cert, n1.certPem());
  copyFileSync(n1.key, key);
  timers.fire();
  expect(watched.current().cert).toBe(n2.certPem());
});

test("a file that disappears is warned about once and the old material kept", () => {
  const cert = place("m-cert.pem", n1.certPem());
  const key = place("m-key.pem", n1.keyPem());
  const timers = manualTimers();
  const log = recordingLog();
  const watched = watchTlsFiles({ cert, key }, { timers, log, periodMs: 5 });
  unlinkSync(cert);
  timers.fire();
  timers.fire();
  expect(log.lines).toEqual([`warn tls: keeping the current certificate CN=n1, serial 01: certificate file ${cert} does not exist`]);
  expect(watched.current().cert).toBe(n1.certPem());
  watched.stop();
});

test("the watcher refuses bad files at start", () => {
  expect(() => watchTlsFiles({ cert: n1.cert, key: n2.key }, { timers: manualTimers(), log: recordingLog() })).toThrow(
    "does not match",
  );
});
