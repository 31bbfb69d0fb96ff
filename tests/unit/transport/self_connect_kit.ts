// Makes the kernel's next dial to 127.0.0.1:P leave from port P itself: a TCP connection to
// itself, which happens by chance when a link redials a port nobody listens on and that port
// lies in the ephemeral range (issue 18: a follower restarted by the bench found its -raddr
// taken by a peer's link connected to itself). By chance it takes thousands of dials; here
// it takes one, arranged from how Linux picks a dial's source port: it walks the ephemeral
// range (ports of the parity of its low end) from a position kept per destination, which
// each dial moves on by 2 to 16 ports, and passes over ports a bind() holds. So: listen on P
// and dial it until the walk stands 16 to 30 ports below P, stop listening, and hold every
// port of that parity between there and P; the next dial to P walks up to P and takes it.

import { readFileSync } from "node:fs";

/** The ephemeral range [low, high], or null where there is none to read (not Linux). */
function ephemeralRange(): readonly [number, number] | null {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    return Number.isInteger(low) && Number.isInteger(high) && high! - low! > 1000 ? [low!, high!] : null;
  } catch {
    return null;
  }
}

/** Whether this machine can arrange a self-connect (Linux with its ephemeral range readable). */
export function canArrangeSelfConnect(): boolean {
  return process.platform === "linux" && ephemeralRange() !== null;
}

/** A port whose next dial connects to itself, while held; release() frees the ports held. */
export interface SelfConnectTrap {
  readonly port: number;
  release(): void;
}

type Listener = Bun.TCPSocketListener<undefined>;

function hold(port: number): Listener | null {
  try {
    return Bun.listen({ hostname: "127.0.0.1", port, exclusive: true, socket: { data() {} } });
  } catch {
    return null; // in use: someone else holds it
  }
}

/** One dial to 127.0.0.1:port; its source port, or -1 if it did not connect. */
function sourcePortOfDial(port: number): Promise<number> {
  return new Promise((resolve) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (socket) => {
          const source = socket.localPort;
          socket.terminate();
          resolve(source);
        },
        data: () => {},
        connectError: () => resolve(-1),
      },
    }).catch(() => resolve(-1));
  });
}

/** A full lap of the walk is ~3,200 dials at 9 ports a dial (28,000-port range, one parity). */
const walkDialsMax = 12_000;
const portTriesMax = 20;

/** Arranges the trap on a free port of the ephemeral range; throws if it cannot (bounded). */
export async function arrangeSelfConnect(): Promise<SelfConnectTrap> {
  const range = ephemeralRange();
  if (range === null) throw new Error("no ephemeral port range to read here");
  const [low, high] = range;
  for (let portTry = 0; portTry < portTriesMax; portTry++) {
    const span = Math.floor((high - low - 64) / 2);
    const port = low + 64 + 2 * Math.floor(Math.random() * span);
    const listener = hold(port);
    if (listener === null) continue;
    let source = -1;
    for (let dial = 0; dial < walkDialsMax; dial++) {
      source = await sourcePortOfDial(port);
      if (source >= port - 30 && source <= port - 16) break;
      source = -1;
    }
    listener.stop(true);
    if (source === -1) throw new Error(`the source-port walk to ${port} never came near it in ${walkDialsMax} dials`);
    const held: Listener[] = [];
    let gapsUnheld = 0;
    for (let between = source + 2; between < port; between += 2) {
      const l = hold(between);
      if (l !== null) held.push(l);
      else gapsUnheld++;
    }
    const release = () => held.splice(0).forEach((l) => l.stop(true));
    // A port in between that some other socket uses (a TIME-WAIT left by another dial, which
    // bind() refuses) is one the kernel may still give this dial: the trap would miss.
    if (gapsUnheld === 0) return { port, release };
    release();
  }
  throw new Error(`no port to arrange a self-connect on in ${portTriesMax} tries (ports near each were in use by other sockets)`);
}
