// Swarm testing: every seed draws its own cluster size, fault mix and limits, so the same
// code is exercised under many different configurations (TigerBeetle's VOPR does the same).

import type { ClusterOptions } from "./cluster.ts";
import { createSimRng } from "./prng.ts";
import type { NetworkFaults } from "./sim_network.ts";
import type { WorkloadOptions } from "./workload.ts";

/** The nemesis mix of the safety phase: chances per nemesis step, and its pace. */
export interface NemesisOptions {
  readonly stepMsMin: number;
  readonly stepMsMax: number;
  readonly crashRate: number;
  readonly restartRate: number;
  readonly partitionRate: number;
  readonly oneWayRate: number;
  readonly healRate: number;
  readonly transferRate: number;
  /** Chance of a single-server membership change (remove a member or add a non-member). */
  readonly membershipRate: number;
  readonly faultyNetwork: NetworkFaults;
}

/** Everything one seed runs with. */
export interface Swarm {
  readonly cluster: ClusterOptions;
  readonly workload: WorkloadOptions;
  readonly nemesis: NemesisOptions;
  readonly safetyMs: number;
  /** Liveness bounds, in ms of simulated time after the heal. */
  readonly leaderWithinMs: number;
  readonly settleWithinMs: number;
}

/** Draws the swarm options of `seed` (a stream separate from the run's own randomness). */
export function swarmFor(seed: number): Swarm {
  const r = createSimRng(seed).fork("swarm");
  const voters = r.pick([3, 3, 3, 5, 5, 7]);
  const tickMs = 10;
  const electionTicks = r.range(8, 14);
  const delayMaxMs = r.pick([5, 10, 20, 40]);
  const membershipRate = r.pick([0, 0, 0.1, 0.2]);
  return {
    cluster: {
      seed, voters, tickMs, electionTicks, spares: membershipRate > 0 ? r.range(0, 2) : 0,
      heartbeatTicks: r.range(1, Math.max(1, Math.floor(electionTicks / 4))),
      snapshotEvery: r.pick([5, 10, 20, 50, 200]),
      trailingEntries: r.range(0, 10),
      diskLatencyMaxMs: r.pick([0, 1, 3, 8]),
      core: {
        inflightMessagesMax: r.range(1, 8),
        appendBytesMax: r.pick([32, 128, 1024, 65536]),
        snapshotChunkBytes: r.pick([8, 64, 512, 4096]),
      },
    },
    workload: {
      clients: r.range(1, 4), keys: r.range(2, 6), readRate: r.pick([0.2, 0.4, 0.6]),
      deleteRate: r.pick([0, 0.1, 0.2]), multiKeyRate: r.pick([0, 0.2, 0.4]),
      thinkMsMax: r.pick([5, 20, 60]), timeoutMs: r.pick([300, 1000]), opsMax: 200,
    },
    nemesis: {
      stepMsMin: 20, stepMsMax: r.pick([100, 300, 600]),
      crashRate: r.pick([0, 0.1, 0.2, 0.3]), restartRate: 0.4, partitionRate: r.pick([0, 0.1, 0.25, 0.4]),
      oneWayRate: r.pick([0, 0.1, 0.2]), healRate: 0.25, transferRate: r.pick([0, 0.1, 0.2]), membershipRate,
      faultyNetwork: {
        dropRate: r.pick([0, 0.02, 0.1, 0.2]), duplicateRate: r.pick([0, 0.05]), delayMinMs: 1, delayMaxMs,
        longDelayRate: r.pick([0, 0.01, 0.05]), longDelayMaxMs: delayMaxMs * 20,
      },
    },
    safetyMs: r.pick([3000, 4000, 6000]),
    leaderWithinMs: 60 * electionTicks * tickMs,
    settleWithinMs: 100 * electionTicks * tickMs,
  };
}
