// Fault rates of the simulated network (tests/sim/world/sim_wire.ts carries the frames):
// seeded drops, delays (hence reordering), long delays and duplicates.

/** Fault rates of the network; probabilities in [0, 1], delays in simulated ms. */
export interface NetworkFaults {
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  /** Chance that a message is held back a long time (long-range reordering). */
  readonly longDelayRate: number;
  readonly longDelayMaxMs: number;
}

/** A reliable, prompt network (delays still vary a little so same-time sends interleave). */
export const reliableNetwork: NetworkFaults = {
  dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5, longDelayRate: 0, longDelayMaxMs: 0,
};
