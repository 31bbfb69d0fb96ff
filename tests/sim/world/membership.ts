// Membership changes in the simulated world, through the Store API at random live nodes, as an
// operator would make them: a spare server (started empty with -join) or a removed one is
// added (store.join), a member is removed (store.remove). Removed servers stay up and answer
// 503. One change at a time, and never below three voters, so that with at most one server
// damaged (the world's fragile one) a majority of the final membership can always serve.

import { StoreError } from "../../../store/errors.ts";
import type { SimRng } from "../prng.ts";
import type { SimServer, World } from "./world.ts";

export class MembershipChanges {
  readonly #world: World;
  readonly #rng: SimRng;
  #isBusy = false;
  #attempt = 0;
  /** The node the change in flight was asked of. */
  #at: SimServer | null = null;
  /** Changes answered ok / refused / with unknown outcome, for the report. */
  readonly counts = { ok: 0, fail: 0, unknown: 0 };

  constructor(world: World, rng: SimRng) {
    this.#world = world;
    this.#rng = rng;
    world.crashListeners.push((server) => this.#crashed(server));
  }

  get isBusy(): boolean {
    return this.#isBusy;
  }

  /** Starts one change at a random live node, unless one is in flight. */
  step(): void {
    const world = this.#world;
    if (this.#isBusy) return;
    const up = world.up();
    if (up.length === 0) return;
    const members = world.members();
    const ids = new Set(members.map((m) => m.id));
    const voters = members.filter((m) => m.suffrage === "voter");
    const outsiders = world.servers.filter((s) => !ids.has(s.id) && s.refused === null);
    const at = this.#rng.pick(up);
    const store = at.opened!.store;
    let what: string;
    let change: Promise<void>;
    if (outsiders.length > 0 && (voters.length < 4 || this.#rng.chance(0.6))) {
      const s = this.#rng.pick(outsiders);
      what = `join ${s.id} at ${at.id}`;
      change = store.join(s.id, s.addr);
    } else {
      const removable = members.filter((m) => m.suffrage !== "voter" || voters.length >= 4);
      if (removable.length === 0) return;
      const m = this.#rng.pick(removable);
      what = `remove ${m.id} at ${at.id}`;
      change = store.remove(m.id);
    }
    const attempt = ++this.#attempt;
    this.#isBusy = true;
    this.#at = at;
    world.log(`membership: ${what}`);
    change.then(
      () => {
        if (attempt !== this.#attempt || !this.#isBusy) return;
        this.counts.ok++;
        world.log(`membership: ${what}: ok`);
        this.#isBusy = false;
      },
      (e: unknown) => {
        if (attempt !== this.#attempt || !this.#isBusy) return;
        this.#isBusy = false;
        if (!(e instanceof StoreError)) {
          world.fail(`membership: ${what} threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
          return;
        }
        this.counts[e.code === "outcomeUnknown" ? "unknown" : "fail"]++;
        world.log(`membership: ${what}: ${e.code}: ${e.message}`);
      },
    );
  }

  /** The node a change was asked of died: it never answers, the outcome is unknown. */
  #crashed(server: SimServer): void {
    if (!this.#isBusy || this.#at !== server) return;
    this.#isBusy = false;
    this.counts.unknown++;
    this.#world.log(`membership: ${server.id} died before answering; outcome unknown`);
  }
}
