// The seams of one simulated process, as openNode takes them: its fenced disk for the log and
// snapshots, a transport on the simulated wire, its clock, timers and scheduler, a ticker on
// those, and a seeded random source. What a simulation adds itself: onFatal and the observer.

import type { NodeSeams } from "../../../open_node.ts";
import type { Envelope } from "../../../raft/envelope.ts";
import type { Disk, Logger, Transport } from "../../../raft/host.ts";
import { createTicker } from "../../../raft/ticker.ts";
import type { SimRng } from "../prng.ts";
import type { SimProcess } from "./sim_process.ts";
import { simTransport } from "./sim_transport.ts";
import type { SimWire } from "./sim_wire.ts";

/** What a simulated process is made of. */
export interface SimSeamsParts {
  readonly proc: SimProcess;
  /** The process's view of its server's disk (already fenced). */
  readonly disk: Disk;
  readonly wire: SimWire;
  readonly addr: string;
  readonly tickMs: number;
  readonly rng: SimRng;
  readonly logger: Logger;
  /** Wraps the transport (e.g. to count messages); identity by default. */
  readonly wrapTransport?: (t: Transport<Envelope>) => Transport<Envelope>;
  /** Tell the node when a peer's process dies, as TCP does (WorldConfig.closesOnCrash). */
  readonly closesOnCrash?: boolean;
}

/** NodeSeams of a simulated process, but for onFatal and observer. */
export function simSeams(p: SimSeamsParts): Omit<NodeSeams, "onFatal" | "observer"> {
  const wrap = p.wrapTransport ?? ((t) => t);
  return {
    logDisk: p.disk,
    snapshotDisk: p.disk,
    openTransport: (onMessage, onInboundClosed) =>
      wrap(simTransport(p.wire, p.proc, p.addr, onMessage, p.logger, p.closesOnCrash === true ? onInboundClosed : undefined)),
    clock: p.proc,
    timers: p.proc,
    scheduler: p.proc,
    ticker: createTicker(p.tickMs, p.proc, p.proc),
    random: () => p.rng.int(0x1_0000_0000),
    logger: p.logger,
  };
}
