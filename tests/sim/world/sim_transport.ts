// The Transport seam on the simulated wire: envelopes are encoded with the production codec
// on the way out and decoded (with its shape checks) on the way in, exactly as over TCP.

import { decodeEnvelope, type Envelope, encodeEnvelope } from "../../../raft/envelope.ts";
import type { Logger, Transport } from "../../../raft/host.ts";
import type { SimProcess } from "./sim_process.ts";
import type { SimWire } from "./sim_wire.ts";

/** Largest frame accepted, as the TCP transport's default. */
const frameBytesMax = 64 * 1024 * 1024;

/** One process's transport at `addr`. */
export function simTransport(
  wire: SimWire,
  process: SimProcess,
  addr: string,
  onMessage: (env: Envelope) => void,
  log: Logger,
  onInboundClosed?: (last: Envelope) => void,
): Transport<Envelope> {
  let stopListening: (() => void) | null = null;
  let stopGone: (() => void) | null = null;
  let isClosed = false;
  // The last envelope from each sender: what the TCP transport reports of a connection that closes.
  const lastFrom = new Map<string, Envelope>();
  return {
    listen(): Promise<void> {
      stopListening = wire.listen(addr, (from, frame) => {
        if (!process.isAlive || isClosed) return;
        process.noteActivity();
        if (frame.length > frameBytesMax) {
          log.warn(`frame of ${frame.length} bytes from ${from} over the limit; dropped`);
          return;
        }
        let env: Envelope;
        try {
          env = decodeEnvelope(frame);
        } catch (e) {
          log.warn(`undecodable frame from ${from}: ${(e as Error).message}`);
          return;
        }
        if (onInboundClosed !== undefined) lastFrom.set(from, env);
        onMessage(env);
      });
      if (onInboundClosed !== undefined) {
        stopGone = wire.onPeerGone(addr, (peer) => {
          const last = lastFrom.get(peer);
          if (last === undefined || !process.isAlive || isClosed) return;
          lastFrom.delete(peer);
          onInboundClosed(last);
        });
      }
      return Promise.resolve();
    },
    send(peerAddr: string, msg: Envelope): boolean {
      if (isClosed || !process.isAlive) return false;
      wire.send(addr, peerAddr, encodeEnvelope(msg));
      return true;
    },
    flush(): void {},
    close(): Promise<void> {
      isClosed = true;
      stopListening?.();
      stopGone?.();
      return Promise.resolve();
    },
  };
}
