// TcpTransportOptions with their defaults applied, checked once, for either implementation
// of the transport (transport.ts on node:net, transport_bun.ts on Bun's native sockets).

import { checkFrameBytesMax } from "./framing.ts";
import type { LinkConfig } from "./peer_link.ts";
import { realTimers } from "./real_time.ts";
import type { TcpTransport, TcpTransportOptions } from "./transport.ts";

/** `impl`'s methods as plain closures, so callers may pass `transport.send` around detached from its object. */
export function detached<T>(impl: TcpTransport<T>): TcpTransport<T> {
  return {
    listen: () => impl.listen(),
    address: () => impl.address(),
    send: (peerAddr, msg) => impl.send(peerAddr, msg),
    flush: () => impl.flush(),
    peerStats: (peerAddr) => impl.peerStats(peerAddr),
    close: () => impl.close(),
  };
}

export interface ResolvedOptions {
  readonly frameBytesMax: number;
  readonly inboundConnectionsMax: number;
  readonly link: LinkConfig;
}

/** Throws a RangeError naming the first option out of range. */
export function resolveOptions<T>(options: TcpTransportOptions<T>): ResolvedOptions {
  const frameBytesMax = options.frameBytesMax ?? 64 * 1024 * 1024;
  checkFrameBytesMax(frameBytesMax);
  const link: LinkConfig = {
    queueFramesMax: positive("queueFramesMax", options.queueFramesMax ?? 4096),
    queueBytesMax: positive("queueBytesMax", options.queueBytesMax ?? 256 * 1024 * 1024),
    writeBatchBytesMax: positive("writeBatchBytesMax", options.writeBatchBytesMax ?? 1024 * 1024),
    dialBackoffMinMs: positive("dialBackoffMinMs", options.dialBackoffMinMs ?? 50),
    dialBackoffMaxMs: positive("dialBackoffMaxMs", options.dialBackoffMaxMs ?? 1000),
    dialTimeoutMs: positive("dialTimeoutMs", options.dialTimeoutMs ?? 2000),
    log: options.logger ?? ((line: string) => console.error(line)),
    timers: options.timers ?? realTimers,
    tls: options.tls ?? null,
  };
  const inboundConnectionsMax = positive("inboundConnectionsMax", options.inboundConnectionsMax ?? 1024);
  return { frameBytesMax, inboundConnectionsMax, link };
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer: ${value}`);
  }
  return value;
}
