// Both implementations of the transport, so every transport test runs against each:
// node:net (Deno, TLS, the fallback) and Bun's native sockets (plain TCP under Bun).

import { createNodeTcpTransport, type TcpTransport, type TcpTransportOptions } from "../../../raft/transport.ts";
import { createBunTcpTransport } from "../../../raft/transport_bun.ts";

export interface TransportImplementation {
  readonly name: string;
  readonly create: <T>(options: TcpTransportOptions<T>) => TcpTransport<T>;
}

export const transportImplementations: readonly TransportImplementation[] = [
  { name: "node:net", create: createNodeTcpTransport },
  { name: "Bun's native sockets", create: createBunTcpTransport },
];
