// What is checked before a node creates, locks or stamps its data directory, so that a start
// refused for a mistyped flag, a port in use or an unusable directory leaves nothing behind:
// an id stamped on a directory by a start that failed on -raddr would otherwise refuse the
// corrected command ("belongs to node localhost:12000"). Each problem is one line for main.

import { statSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { parseHostPort } from "./address.ts";
import { checkAddresses, type Config } from "./flags.ts";
import { serve } from "./http/serve.ts";

/** A start refused for something the user can fix: printed as one line, exit status 1. */
export class StartError extends Error {
  override readonly name = "StartError";
}

/** Throws StartError for the first address, port or data directory that cannot work. */
export async function checkBeforeStart(config: Config): Promise<void> {
  const unusable = checkAddresses(config);
  if (unusable !== null) throw new StartError(unusable);
  await checkRaftPortFree(config.raftAddr);
  await checkHttpPortFree(config.httpAddr);
  const dir = dataDirProblem(config.dataDir);
  if (dir !== null) throw new StartError(dir);
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
