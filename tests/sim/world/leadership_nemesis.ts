// The leadership nemesis: operators hand leadership over (POST /leader, to a named voter or
// the most caught-up one) and stop nodes gracefully (SIGTERM: a leader hands off, drains,
// then exits), in the middle of everything else the world does. What it exercises is the
// store's handoff code (store/leadership.ts): writes held while leadership moves and tried
// once more, a deposed leader relaying late forwarded writes, forwarded requests waiting an
// election timeout for their answer. The checks are the world's: no write applied twice, no
// acknowledged write lost, linearizable reads.
//
// Drawn per seed from a generator of its own (about 3 seeds in 10), with a salt under which
// no regression seed of world.test.ts draws it, and its choices from another: seeds without
// it run exactly as before.

import { createSimRng, type SimRng } from "../prng.ts";
import type { SimServer, World } from "./world.ts";

/** Whether `seed` runs the leadership nemesis. */
export function drawLeadershipNemesis(seed: number): boolean {
  return createSimRng(seed).fork("leadership-v152").chance(0.3);
}

/** Handoffs and graceful stops at random moments of the safety phase. */
export class LeadershipNemesis {
  readonly #world: World;
  readonly #rng: SimRng;
  readonly #safetyEndMs: number;
  /** Says whether another nemesis holds the world still for an episode of its own. */
  readonly #isOtherBusy: () => boolean;
  readonly counts = { transfers: 0, transfersOk: 0, gracefulStops: 0 };

  private constructor(world: World, safetyEndMs: number, isOtherBusy: () => boolean) {
    this.#world = world;
    this.#rng = world.rng.fork("leadership-nemesis");
    this.#safetyEndMs = safetyEndMs;
    this.#isOtherBusy = isOtherBusy;
  }

  /** The seed's leadership nemesis, or null if it has none (then nothing is touched). */
  static create(world: World, safetyEndMs: number, isOtherBusy: () => boolean): LeadershipNemesis | null {
    return world.config.leadership ? new LeadershipNemesis(world, safetyEndMs, isOtherBusy) : null;
  }

  start(): void {
    this.#world.scheduler.schedule(this.#rng.range(300, 1200), () => this.#act());
  }

  #act(): void {
    const world = this.#world;
    if (world.scheduler.now >= this.#safetyEndMs) return;
    world.scheduler.schedule(this.#rng.range(200, 900), () => this.#act());
    if (this.#isOtherBusy()) return;
    const leader = world.leader();
    const up = world.up().filter((s) => !s.opened!.node.core.status().removed);
    if (up.length === 0) return;
    // Mostly at the leader (where a handoff does something), sometimes at a follower (forwarded).
    const target = leader !== null && this.#rng.chance(0.7) ? leader : this.#rng.pick(up);
    if (this.#rng.chance(0.7)) this.#transfer(target, up);
    else this.#gracefulStop(target);
  }

  /** POST /leader at `at`: to a random member (maybe not a voter, maybe itself) or to none named. */
  #transfer(at: SimServer, up: readonly SimServer[]): void {
    const world = this.#world;
    const to = this.#rng.chance(0.5) ? null : this.#rng.pick(up).id;
    this.counts.transfers++;
    world.log(`leadership: POST /leader at ${at.id}${to === null ? "" : ` to ${to}`}`);
    const store = at.opened!.store;
    store.transferLeadership(to).then(
      (leader) => {
        this.counts.transfersOk++;
        world.log(`leadership: ${at.id}'s handoff done, ${leader} leads`);
      },
      (e: unknown) => world.log(`leadership: ${at.id}'s handoff refused: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  /** SIGTERM: the store hands off (a leader) and drains, then the process exits; a supervisor restarts it. */
  #gracefulStop(server: SimServer): void {
    const world = this.#world;
    const process = server.process;
    this.counts.gracefulStops++;
    world.log(`leadership: SIGTERM to ${server.id}`);
    const exit = (): void => {
      if (server.process !== process) return; // it crashed meanwhile: nothing left to stop
      world.exit(server);
      // The supervisor restarts it, also once the liveness phase began (which restarts only
      // the nodes down when it starts; world seed 308 exited just after).
      world.scheduler.schedule(this.#rng.range(50, 500), () => {
        if (!server.isUp && server.refused === null) world.start(server);
      });
    };
    server.opened!.store.handOff().then(exit, exit);
  }
}
