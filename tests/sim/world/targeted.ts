// Targeted nemeses: two adversaries aimed at failures that random faults almost never line up
// (7,000-8,000 random seeds each caught neither when its fix was reverted). Each does only what
// a supervisor restart and a slow network do; what is targeted is the timing.
//
// - "bounce": a follower's process that just sent its first read-index requests is killed and
//   restarted by its supervisor within a few ms, and for a while read-index replies to that
//   address are held up on the network (1-150 ms, so they reorder, up to three copies). A reply meant for the
//   previous process then reaches the new one, which starts counting its reads afresh: unless
//   a read context names the process incarnation, the old answer (an older read index) settles
//   a new read, and a freshly restarted, lagging follower serves a stale value.
// - "lease": clients stop writing for a moment; the leader loses its link to a minority of
//   voters, whose election timers then run out; the instant one of them asks another voter
//   for its PreVote, that voter's process is restarted (the request reaches the new process)
//   and the leader's network fails. The leader's lease counts on the restarted voter's
//   acknowledgement of a heartbeat from just before the restart: unless a restarted voter
//   grants no vote for an election timeout, a successor is elected inside the lease, and a
//   client reading at level=leader at the old leader misses a write the successor acknowledged.
// - "gone": clients stop writing for a moment; then every follower hears that the leader's
//   connections closed (as a SIGKILL would close them) while the leader lives on behind a
//   network that fails both ways. The followers elect a successor after the lease window
//   (raft/core/election.ts), sooner than an election timeout; a client reading at level=leader
//   at the old leader must miss no write the successor acknowledged, so the leader's lease must
//   never outlast that window (raft/lease.ts).
//
// The mode is drawn per seed from a generator of its own (drawTargetedMode), and its choices
// from another (never the world's streams), so seeds without one run exactly as before; the
// regression seeds of world.test.ts have none (a test checks it).

import type { Message } from "../../../raft/core/mod.ts";
import { type Envelope, encodeEnvelope } from "../../../raft/envelope.ts";
import { createSimRng, type SimRng } from "../prng.ts";
import type { Clients } from "./clients.ts";
import type { SimServer, World } from "./world.ts";

export type TargetedMode = "bounce" | "lease" | "gone";

/**
 * Seeds with a targeted nemesis: about one in four, half of each of the first two modes; of
 * the others, about one in eight "gone" (a generator of its own, so no seed's bounce or lease
 * draw moved; a salt under which no regression seed of world.test.ts draws it).
 */
export function drawTargetedMode(seed: number): TargetedMode | null {
  const rng = createSimRng(seed).fork("targeted-v19") // a salt none of the regression seeds of world.test.ts draws a mode with;
  if (!rng.chance(0.25)) return createSimRng(seed).fork(goneSalt).chance(0.12) ? "gone" : null;
  return rng.pick(["bounce", "lease"] as const);
}

const goneSalt = "targeted-gone-v18fo";

/** Client ids of the lease probes (the random clients are 0..n-1, final reads 1000+). */
const probeReader = 100;
const probeWriter = 101;

interface LeaseEpisode {
  readonly leader: SimServer;
  /** Voters cut off from the leader (a minority of the voters): the would-be successors. */
  readonly cut: ReadonlySet<SimServer>;
  /** The other followers: one of them is restarted when a successor asks it for a PreVote. */
  readonly others: ReadonlySet<SimServer>;
  isTriggered: boolean;
}

export class TargetedNemesis {
  readonly #world: World;
  readonly #clients: Clients;
  readonly #rng: SimRng;
  readonly #mode: TargetedMode;
  readonly #safetyEndMs: number;
  /** Read-index requests each server's current life has sent (bounce). */
  readonly #readIndexSends = new Map<SimServer, { life: number; count: number }>();
  /** Servers being bounced now, and when each address last had its process bounced. */
  readonly #bouncing = new Set<SimServer>();
  readonly #bouncedAt = new Map<string, number>();
  #episode: LeaseEpisode | null = null;
  #probeValue = 0;
  /** While true the random nemesis holds off (a heal would undo a lease episode's cuts). */
  isBusy = false;
  /** What struck, for the trace and tuning. */
  readonly counts = { bounces: 0, held: 0, episodes: 0, triggered: 0 };

  private constructor(world: World, clients: Clients, mode: TargetedMode, safetyEndMs: number) {
    this.#world = world;
    this.#clients = clients;
    this.#mode = mode;
    this.#safetyEndMs = safetyEndMs;
    this.#rng = world.rng.fork("targeted-nemesis");
    world.transportTap = (server, life, peerAddr, env) => this.#tap(server, life, peerAddr, env);
  }

  /** The seed's targeted nemesis, or null if its config has none (then nothing is touched). */
  static create(world: World, clients: Clients, safetyEndMs: number): TargetedNemesis | null {
    const mode = world.config.targeted;
    return mode === null ? null : new TargetedNemesis(world, clients, mode, safetyEndMs);
  }

  /** Schedules the first lease episode (bounce mode acts on what the processes send). */
  start(): void {
    if (this.#mode !== "bounce") this.#world.scheduler.schedule(this.#rng.range(200, 1200), () => this.#beginEpisode());
  }

  get #isActive(): boolean {
    return !this.#world.isCalm && this.#world.scheduler.now < this.#safetyEndMs;
  }

  #tap(server: SimServer, life: number, peerAddr: string, env: Envelope): boolean {
    if (env.kind !== "raft" || server.lives !== life || !server.isUp || !this.#isActive) return false;
    const msg = env.msg;
    if (this.#mode === "bounce") return this.#tapBounce(server, life, peerAddr, env, msg);
    if (this.#mode === "lease") this.#tapLease(server, peerAddr, msg);
    return false;
  }

  // ---- bounce ----

  #tapBounce(server: SimServer, life: number, peerAddr: string, env: Envelope, msg: Message): boolean {
    if (msg.type === "ReadIndex") {
      let sent = this.#readIndexSends.get(server);
      if (sent === undefined || sent.life !== life) this.#readIndexSends.set(server, (sent = { life, count: 0 }));
      sent.count++;
      // A young process: its read contexts' counter is still low, as the next process's will be.
      if (sent.count <= 2 && !this.#bouncing.has(server) && this.#rng.chance(0.6)) this.#bounce(server);
      return false;
    }
    if (msg.type === "ReadIndexReply") {
      const at = this.#bouncedAt.get(peerAddr);
      if (at === undefined || this.#world.scheduler.now - at > 1000 || !this.#rng.chance(0.8)) return false;
      // A slow, lossy path to a just-restarted follower: the answer arrives late, out of
      // order, and is retransmitted (up to three copies).
      this.counts.held++;
      const frame = encodeEnvelope(env);
      for (let copies = 1 + this.#rng.int(3); copies > 0; copies--) this.#world.wire.sendLate(server.addr, peerAddr, frame, this.#rng.range(1, 150));
      return true;
    }
    return false;
  }

  /** Kills `server`'s process in a moment and has its supervisor restart it within a few ms. */
  #bounce(server: SimServer): void {
    const world = this.#world;
    this.#bouncing.add(server);
    world.scheduler.schedule(this.#rng.range(0, 2), () => {
      if (!server.isUp || !this.#isActive) {
        this.#bouncing.delete(server);
        return;
      }
      this.counts.bounces++;
      world.log(`targeted: bounce ${server.id} (it just asked for a read index)`);
      world.crash(server, this.#rng.chance(0.5) ? "tear" : "drop");
      this.#bouncedAt.set(server.addr, world.scheduler.now);
      world.scheduler.schedule(this.#rng.range(1, 5), () => {
        this.#bouncing.delete(server);
        if (!server.isUp && server.refused === null && this.#isActive) world.start(server);
      });
    });
  }

  // ---- lease ----

  #voters(leader: SimServer): SimServer[] {
    const ids = new Set(leader.opened!.node.core.status().members.filter((m) => m.suffrage === "voter").map((m) => m.id));
    return this.#world.servers.filter((s) => ids.has(s.id));
  }

  #beginEpisode(): void {
    const world = this.#world;
    const retry = (): void => {
      world.scheduler.schedule(this.#rng.range(100, 300), () => this.#beginEpisode());
    };
    const electionMs = world.config.electionTicks * world.config.tickMs;
    if (!this.#isActive || world.scheduler.now + 3 * electionMs > this.#safetyEndMs) return;
    const leader = world.leader();
    const voters = leader === null ? [] : this.#voters(leader);
    if (leader === null || voters.length < 3 || !voters.every((s) => s.isUp)) return retry();
    this.isBusy = true;
    this.counts.episodes++;
    // No writes for a moment, so that every voter's log ends where the leader's does (else
    // the voters cut off below could not win the restarted voter's vote).
    this.#clients.pause();
    world.wire.heal();
    world.log(`targeted: lease episode at leader ${leader.id}: clients paused, network healed`);
    world.scheduler.schedule(this.#rng.range(50, 150), () => {
      // The random nemesis may have crashed the leader meanwhile (world seed 1001437).
      if (!leader.isUp) return this.#endEpisode();
      const now = this.#voters(leader);
      if (world.leader() !== leader || now.length < 3 || !now.every((s) => s.isUp)) return this.#endEpisode();
      if (this.#mode === "gone") return this.#leaderGone(leader, now);
      const followers = this.#rng.shuffle(now.filter((s) => s !== leader));
      const cut = new Set(followers.slice(0, Math.floor(now.length / 2)));
      const others = new Set(followers.slice(cut.size));
      for (const s of cut) {
        world.wire.blockOneWay(leader.addr, s.addr);
        world.wire.blockOneWay(s.addr, leader.addr);
      }
      world.log(`targeted: ${leader.id} cut off from ${[...cut].map((s) => s.id).join(",")}`);
      const episode: LeaseEpisode = { leader, cut, others, isTriggered: false };
      this.#episode = episode;
      // Their election timers run out within two election timeouts; give up after three.
      world.scheduler.schedule(3 * electionMs + 100, () => {
        if (this.#episode === episode && !episode.isTriggered) this.#endEpisode();
      });
    });
  }

  #tapLease(server: SimServer, peerAddr: string, msg: Message): void {
    const e = this.#episode;
    if (e === null || e.isTriggered || msg.type !== "RequestVote" || !msg.preVote || !e.cut.has(server)) return;
    const voter = [...e.others].find((s) => s.addr === peerAddr);
    if (voter === undefined || !voter.isUp || !e.leader.isUp) return;
    e.isTriggered = true;
    this.counts.triggered++;
    const world = this.#world;
    world.log(`targeted: ${server.id} asks ${voter.id} for a PreVote: ${voter.id} restarts, ${e.leader.id}'s network fails`);
    // The request is on the wire (≥ 1 ms): the restarted process receives it.
    world.scheduler.schedule(0, () => {
      if (!voter.isUp) return;
      world.crash(voter, this.#rng.chance(0.5) ? "tear" : "drop");
      world.scheduler.schedule(0.5, () => {
        if (!voter.isUp && voter.refused === null && this.#isActive) world.start(voter);
      });
    });
    for (const s of world.servers) {
      if (s === e.leader) continue;
      world.wire.blockOneWay(e.leader.addr, s.addr);
      world.wire.blockOneWay(s.addr, e.leader.addr);
    }
    this.#probe(e.leader, [...e.cut, voter]);
  }

  /**
   * Gone: the leader's followers hear its connections close (what the transport reports of a
   * process that died: open_node.ts passes it to leaderDisconnected) and its network fails both
   * ways, while it lives on and may still answer reads from its lease.
   */
  #leaderGone(leader: SimServer, voters: readonly SimServer[]): void {
    const world = this.#world;
    this.counts.triggered++;
    const followers = world.servers.filter((s) => s !== leader);
    for (const s of followers) {
      world.wire.blockOneWay(leader.addr, s.addr);
      world.wire.blockOneWay(s.addr, leader.addr);
    }
    for (const s of followers) if (s.isUp) s.opened?.node.leaderDisconnected(leader.id);
    world.log(`targeted: ${leader.id}'s connections close (its followers hear so) and its network fails; it lives on`);
    // Writes only at the successor: a follower would forward them to the old leader, and the
    // write would wait out its timeout instead of racing the old leader's lease.
    this.#probe(leader, []);
  }

  /**
   * Probes: one client reads a key at level=leader at the old leader, another writes it at the
   * successor once there is one (else at a server of `sideOf`, if any); they run for as long as
   * any lease could last, then the episode ends.
   */
  #probe(leader: SimServer, sideOf: readonly SimServer[]): void {
    const world = this.#world;
    const e = { leader };
    const until = world.scheduler.now + 2 * world.config.electionTicks * world.config.tickMs + 100;
    const key = this.#rng.pick(this.#clients.keys);
    const again = (fn: () => void): void => {
      world.scheduler.schedule(this.#rng.range(1, 8), fn);
    };
    const read = (): void => {
      if (world.scheduler.now >= until || !e.leader.isUp) return;
      void this.#clients.issueOn(e.leader, probeReader, { type: "read", key, value: null }, "leader").then((ok) => ok && again(read));
    };
    const write = (): void => {
      if (world.scheduler.now >= until) return;
      // At the successor once there is one, else at a server on its side (a write at a
      // follower still following the old leader would wait out the request timeout).
      const successor = world.leader();
      const side = sideOf.filter((s) => s.isUp);
      const at = successor !== null && successor !== e.leader ? successor : side.length > 0 ? this.#rng.pick(side) : null;
      if (at === null) return again(write);
      const values = { [key]: `p${++this.#probeValue}` };
      void this.#clients.issueOn(at, probeWriter, { type: "set", values }, "linearizable").then((ok) => ok && again(write));
    };
    again(read);
    again(write);
    world.scheduler.schedule(until - world.scheduler.now, () => this.#endEpisode());
  }

  #endEpisode(): void {
    const world = this.#world;
    this.#episode = null;
    world.wire.heal();
    this.#clients.resume();
    this.isBusy = false;
    world.log("targeted: lease episode over: healed, clients resumed");
    world.scheduler.schedule(this.#rng.range(100, 500), () => this.#beginEpisode());
  }
}
