// Certificate, key and CA files for TLS (HTTPS and the Raft transport): read and checked once
// at start, where a bad file must stop the node with a message naming it, and then re-read on
// a timer so a rotated certificate is picked up without a restart (issue 14, item 4). A broken
// new file must never take down a running node: it is reported and the old material kept.
// Files are read with node:fs (small, synchronous reads); time only passes through Timers.

import * as crypto from "node:crypto";
import { readFileSync } from "node:fs";
import * as tls from "node:tls";
import type { Logger, Timers } from "../raft/host.ts";

/** Where the PEM files are: this side's certificate and key, and the CA that signs the other side's. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

/** The PEM text of those files, checked: the key matches the certificate, the CA is a certificate. */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

/**
 * Reads and checks the files. Throws an Error whose message names the file and why: missing,
 * unreadable, not a PEM certificate or key, the key not matching the certificate (found by
 * building a secure context, exactly as the TLS stack will), the CA not a certificate.
 */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const cert = readPem(files.cert, "certificate file");
  const key = readPem(files.key, "key file");
  const ca = files.ca === undefined ? undefined : readPem(files.ca, "CA certificate file");
  checkCertificate(cert, `certificate file ${files.cert}`);
  try {
    crypto.createPrivateKey(key);
  } catch (err) {
    throw new Error(`key file ${files.key}: not a PEM private key (${reason(err)})`);
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(
      `key file ${files.key} does not match the certificate in ${files.cert} (${reason(err)})`,
    );
  }
  if (ca !== undefined) {
    checkCertificate(ca, `CA certificate file ${files.ca}`);
    try {
      tls.createSecureContext({ cert, key, ca });
    } catch (err) {
      throw new Error(`CA certificate file ${files.ca}: not usable as a CA (${reason(err)})`);
    }
  }
  return ca === undefined ? { cert, key } : { cert, key, ca };
}

/** "CN=node1, serial 0A": who a PEM certificate names, for log lines and tests. */
export function describeCertificate(pem: string): string {
  const x509 = new crypto.X509Certificate(pem);
  return `${x509.subject.replaceAll("\n", ", ")}, serial ${x509.serialNumber}`;
}

/** Material that follows its files; see watchTlsFiles. */
export interface WatchedTls {
  /** The newest material that loaded fine. */
  current(): TlsMaterial;
  /** `listener` is called with each new material, after current() returns it. */
  onChange(listener: (m: TlsMaterial) => void): void;
  /** Stops re-reading; idempotent. */
  stop(): void;
}

export interface WatchTlsOptions {
  readonly timers: Timers;
  /** How often the files are re-read; default 1000 ms. */
  readonly periodMs?: number;
  readonly log: Logger;
  /** The material already loaded from these files at start; loaded here if absent (and throws if bad). */
  readonly initial?: TlsMaterial;
}

/**
 * Re-reads the files every periodMs. When their content changed and loads fine: swap, log one
 * info line naming the files and the new certificate, call the listeners. When it does not
 * load: one warning per distinct broken content naming the file and why, and keep the old
 * material. Rotating cert and key by two separate renames may show one "does not match"
 * warning between the two; the next read after the second completes the swap.
 */
export function watchTlsFiles(files: TlsFiles, options: WatchTlsOptions): WatchedTls {
  const { timers, log } = options;
  const periodMs = options.periodMs ?? 1000;
  if (!Number.isSafeInteger(periodMs) || periodMs <= 0) {
    throw new RangeError(`watchTlsFiles: periodMs must be a positive integer: ${periodMs}`);
  }
  let material = options.initial ?? loadTlsMaterial(files);
  /** The raw contents last acted on (loaded or warned about), so unchanged files cost one read each. */
  let seen = contentKey(material.cert, material.key, material.ca);
  const listeners: ((m: TlsMaterial) => void)[] = [];
  let timer: unknown = null;
  let isStopped = false;

  const poll = (): void => {
    timer = null;
    if (isStopped) return;
    check();
    if (!isStopped) timer = timers.setTimeout(poll, periodMs);
  };

  const check = (): void => {
    let raw: string;
    try {
      raw = contentKey(
        readPem(files.cert, "certificate file"),
        readPem(files.key, "key file"),
        files.ca === undefined ? undefined : readPem(files.ca, "CA certificate file"),
      );
    } catch (err) {
      // A missing or unreadable file: its "content" is the reason, so it is reported once.
      raw = `unreadable\0${reason(err)}`;
    }
    if (raw === seen) return;
    seen = raw;
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(files);
    } catch (err) {
      log.warn(`tls: keeping the current certificate ${describeCertificate(material.cert)}: ${reason(err)}`);
      return;
    }
    // The files may have changed between the two reads: remember what was really loaded.
    seen = contentKey(next.cert, next.key, next.ca);
    material = next;
    log.info(
      `tls: loaded a new certificate (${describeCertificate(next.cert)}) from ${files.cert}, ` +
        `key ${files.key}${files.ca === undefined ? "" : `, CA ${files.ca}`}; new connections use it`,
    );
    for (const listener of listeners) listener(next);
  };

  timer = timers.setTimeout(poll, periodMs);
  return {
    current: () => material,
    onChange: (listener) => void listeners.push(listener),
    stop: () => {
      isStopped = true;
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
    },
  };
}

function contentKey(cert: string, key: string, ca: string | undefined): string {
  return `${cert}\0${key}\0${ca ?? ""}`;
}

/** The file's text; throws naming it (and its role) when it is missing or unreadable. */
function readPem(path: string, role: string): string {
  if (path === "") throw new Error(`${role}: no path given`);
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = code === "ENOENT"
      ? "does not exist"
      : code === "EACCES" || code === "EPERM"
      ? "cannot be read (permission denied)"
      : code === "EISDIR"
      ? "is a directory"
      : `cannot be read (${reason(err)})`;
    throw new Error(`${role} ${path} ${why}`);
  }
}

function checkCertificate(pem: string, what: string): void {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(`${what}: not a PEM certificate (no "-----BEGIN CERTIFICATE-----" line)`);
  }
  try {
    new crypto.X509Certificate(pem);
  } catch (err) {
    throw new Error(`${what}: not a PEM certificate (${reason(err)})`);
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
