// What is checked before a node creates, locks or stamps its data directory, so that a start
// refused for a mistyped flag, a port in use or an unusable directory leaves nothing behind:
// an id stamped on a directory by a start that failed on -raddr would otherwise refuse the
// corrected command ("belongs to node localhost:12000"). Each problem is one line for main.
// The TLS files are read and checked here too, and handed to the start, so a node never
// starts with a certificate, key or CA it cannot use.

import { X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { parseHostPort } from "./address.ts";
import { checkAddresses, type Config } from "./flags.ts";
import { serve } from "./http/serve.ts";
import type { SecurityConfig } from "./security/security_flags.ts";
import { loadTlsMaterial, type TlsFiles, type TlsMaterial } from "./security/cert_files.ts";
import { AuthFileError, loadUsersFile } from "./security/auth_file.ts";
import { createFsDisk } from "./raft/disk.ts";
import { restoreProblem } from "./restore.ts";

/** A start refused for something the user can fix: printed as one line, exit status 1. */
export class StartError extends Error {
  override readonly name = "StartError";
}

/** The TLS material the flags name, read and checked at start (PEM text). */
export interface StartTls {
  /** -http-cert, -http-key (and -http-ca-cert when given): HTTPS on -haddr. */
  readonly http: TlsMaterial | null;
  /** -http-ca-cert: the CA a joining node verifies the cluster's HTTPS with (and client certificates are checked with). */
  readonly httpCa: string | null;
  /** -node-cert, -node-key, -node-ca-cert: mutual TLS on the Raft transport. */
  readonly node: TlsMaterial | null;
}

/**
 * Throws StartError for the first address, TLS file, port or data directory that cannot
 * work; returns the TLS material, checked.
 */
export async function checkBeforeStart(config: Config): Promise<StartTls> {
  const unusable = checkAddresses(config);
  if (unusable !== null) throw new StartError(unusable);
  const tls = loadStartTls(config.security);
  checkUsersFile(config.security.authFile);
  await checkRaftPortFree(config.raftAddr);
  await checkHttpPortFree(config.httpAddr);
  const dir = dataDirProblem(config.dataDir);
  if (dir !== null) throw new StartError(dir);
  // -restore: the whole backup read and checked, and the data directory found empty.
  const restore = config.restoreFile === "" ? null : restoreProblem(config, createFsDisk());
  if (restore !== null) throw new StartError(restore);
  return tls;
}

/** -auth: the users file must load (openNode loads it again to use it); one line naming the file. */
function checkUsersFile(path: string): void {
  if (path === "") return;
  try {
    loadUsersFile(path);
  } catch (e) {
    if (e instanceof AuthFileError) throw new StartError(e.message);
    throw e;
  }
}

/** The flags of one set of TLS files, to name the one whose file cannot be used. */
interface TlsFlags {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}
const httpTlsFlags: TlsFlags = { cert: "-http-cert", key: "-http-key", ca: "-http-ca-cert" };
const nodeTlsFlags: TlsFlags = { cert: "-node-cert", key: "-node-key", ca: "-node-ca-cert" };

/** The files of the HTTP and node TLS flags (the flags' combinations are checked in flags.ts). */
export function httpTlsFiles(s: SecurityConfig): TlsFiles | null {
  if (s.httpCert === "") return null;
  return { cert: s.httpCert, key: s.httpKey, ...(s.httpCaCert === "" ? {} : { ca: s.httpCaCert }) };
}
export function nodeTlsFiles(s: SecurityConfig): TlsFiles | null {
  return s.nodeCert === "" ? null : { cert: s.nodeCert, key: s.nodeKey, ca: s.nodeCaCert };
}

/** Reads and checks every TLS file the flags name; StartError naming the flag and the file. */
export function loadStartTls(s: SecurityConfig): StartTls {
  const httpFiles = httpTlsFiles(s);
  const nodeFiles = nodeTlsFiles(s);
  const http = httpFiles === null ? null : loadNamed(httpFiles, httpTlsFlags);
  const httpCa = http?.ca ?? (s.httpCaCert === "" ? null : loadCa(s.httpCaCert, httpTlsFlags.ca));
  const node = nodeFiles === null ? null : loadNamed(nodeFiles, nodeTlsFlags);
  return { http, httpCa, node };
}

/** loadTlsMaterial, its message prefixed with the flag of the file it names. */
function loadNamed(files: TlsFiles, flags: TlsFlags): TlsMaterial {
  try {
    return loadTlsMaterial(files);
  } catch (e) {
    const message = (e as Error).message;
    // cert_files.ts names the file by its role first: "CA certificate file …", "key file …", "certificate file …".
    const flag = message.startsWith("CA certificate file") ? flags.ca : message.startsWith("key file") ? flags.key : flags.cert;
    throw new StartError(`cannot use ${flag}: ${message}`);
  }
}

/** A CA file given alone (-http-ca-cert for joining an HTTPS cluster): read and parsed. */
function loadCa(path: string, flag: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EISDIR" ? "is a directory" : `cannot be read (${(e as Error).message})`;
    throw new StartError(`cannot use ${flag}: CA certificate file ${path} ${why}`);
  }
  try {
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error('no "-----BEGIN CERTIFICATE-----" line');
    new X509Certificate(pem);
  } catch (e) {
    throw new StartError(`cannot use ${flag}: CA certificate file ${path}: not a PEM certificate (${(e as Error).message})`);
  }
  return pem;
}

/**
 * Binds the Raft address and lets it go again. Another process could take the port in
 * between; the transport's own listen then fails, with the same words, later in the start.
 */
async function checkRaftPortFree(raftAddr: string): Promise<void> {
  const { host, port } = parseHostPort(raftAddr);
  if (port === 0) return;
  const server = createServer();
  await new Promise<void>((resolvePromise, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(new StartError(raftListenMessage(raftAddr, e))));
    server.listen({ host: host === "" ? undefined : host, port }, () => resolvePromise());
  });
  await new Promise((resolvePromise) => server.close(resolvePromise));
}

/** The one line for a Raft listen that failed: in use, not this machine's address, or else. */
export function raftListenMessage(raftAddr: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  const why = code === "EADDRINUSE"
    ? "address already in use (is another node running? pick another port)"
    : code === "EADDRNOTAVAIL"
    ? "the host is not an address of this machine"
    : code === "EACCES"
    ? "permission denied (ports below 1024 need privileges)"
    : (e as Error).message;
  return `cannot listen on -raddr ${raftAddr}: ${why}`;
}

/** Serves the HTTP address with the runtime's own server and stops again (see above). */
async function checkHttpPortFree(httpAddr: string): Promise<void> {
  const { hostname, port } = parseHostPort(httpAddr);
  if (port === 0) return;
  let server;
  try {
    server = await serve({ hostname, port, fetch: () => new Response(null, { status: 503 }) });
  } catch (e) {
    throw new StartError(`cannot serve HTTP on -haddr ${httpAddr}: ${(e as Error).message}`);
  }
  await server.close();
}

/**
 * Why `dataDir` cannot hold a node's data, or null: it (or a directory on its path) is a file,
 * or an existing directory this process may not write. A missing one is fine: it is created.
 */
export function dataDirProblem(dataDir: string): string | null {
  for (let path = resolve(dataDir); ; path = dirname(path)) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" && dirname(path) !== path) continue;
      return `cannot use data directory ${dataDir}: ${(e as Error).message}`;
    }
    if (!isDirectory) {
      return path === resolve(dataDir)
        ? `data directory ${dataDir} is a file, not a directory`
        : `cannot create data directory ${dataDir}: ${path} is a file, not a directory`;
    }
    return null;
  }
}
