// The cluster as one node sees it, for GET /ui/state and the page's event stream
// (GET /ui/events; the JSON's shape is the contract with the page, /work/notes/task17_contract.md):
// the members with each one's own report (gathered by probes over the Raft transport, the
// leader's view of its followers' replication included), this node's timeline, its request
// rates and the newest entries of its log.
//
// Nothing runs while nobody watches: a page's stream starts the one-second loop (probes,
// rates) and the last one to leave stops it. A one-off GET /ui/state runs one probe round.

import type { Entry, RaftStatus } from "../raft/core/mod.ts";
import type { Clock, Scheduler, Timers } from "../raft/host.ts";
import type { FollowerTracker } from "./follower_tracker.ts";
import { type EntryView, entryViews } from "./log_entries.ts";
import { MemberProbes } from "./member_probes.ts";
import type { FollowerProgress, MemberReport, ProbeMessage } from "./probe_message.ts";
import { type LatencySource, type RatePoint, RateSampler } from "./rates.ts";
import type { Timeline, TimelineEvent } from "./timeline.ts";
import type { UiMember, UiView } from "../ui/view_types.ts";

/** The view's JSON and its parts: the page's contract (ui/view_types.ts), one definition for both sides. */
export type MemberRole = UiMember["role"];
export type MemberView = UiMember;
export type ClusterViewJson = UiView;

export interface ClusterViewOptions {
  readonly id: string;
  readonly raftAddr: string;
  readonly httpAddr: string | null;
  readonly incarnation: string;
  /** The driver's status (RaftNode.status). */
  readonly status: () => RaftStatus;
  /** The entries the core holds in memory, oldest first. */
  readonly entries: () => readonly Entry[];
  /** Sends a probe or an answer to the node advertising Raft address `addr`. */
  readonly send: (addr: string, msg: ProbeMessage) => boolean;
  readonly timeline: Timeline;
  readonly tracker: FollowerTracker;
  readonly writes: LatencySource;
  readonly reads: LatencySource;
  readonly timers: Timers;
  readonly clock: Clock;
  readonly wallClock: Clock;
  readonly scheduler: Scheduler;
  /** The loop's period; default one second. */
  readonly intervalMs?: number;
  /** How long a member has to answer a probe; default view/member_probes.ts probeTimeoutMs. */
  readonly probeTimeoutMs?: number;
}

/** A watching page: handed each view as one line of JSON. */
export type ViewListener = (json: string) => void;

interface Watcher {
  readonly withValues: boolean;
  readonly listener: ViewListener;
}

export class ClusterView {
  readonly #o: ClusterViewOptions;
  readonly #probes: MemberProbes;
  readonly rates: RateSampler;
  readonly #listeners = new Set<Watcher>();
  #timer: unknown = null;
  #stopRates: (() => void) | null = null;
  #stopTimeline: (() => void) | null = null;
  #isEmitDue = false;
  #isClosed = false;

  constructor(options: ClusterViewOptions) {
    this.#o = options;
    this.#probes = new MemberProbes({
      incarnation: options.incarnation,
      send: options.send,
      timers: options.timers,
      clock: options.clock,
      ...(options.probeTimeoutMs === undefined ? {} : { timeoutMs: options.probeTimeoutMs }),
    });
    this.rates = new RateSampler({ writes: options.writes, reads: options.reads, timers: options.timers, clock: options.clock, wallClock: options.wallClock });
  }

  /** Probes sent by this node (a test counts them: none while nobody watches). */
  get probesSent(): number {
    return this.#probes.sent;
  }

  get watchers(): number {
    return this.#listeners.size;
  }

  /** A probe or an answer from another node (open_node.ts routes the probe tags here). */
  receive(fromAddr: string, msg: ProbeMessage): void {
    if (msg.type === "probeAnswer") {
      this.#probes.answered(fromAddr, msg.reqId, msg.report);
      return;
    }
    // Only a leader's progress is read: a follower asked does not start watching its messages.
    if (this.#o.status().role === "leader") this.#o.tracker.probed();
    this.#o.send(fromAddr, { type: "probeAnswer", reqId: msg.reqId, report: this.#report() });
  }

  /**
   * The view for GET /ui/state: after a probe round of its own, or at once while a page
   * watches (the loop's rounds keep every report within about a second).
   */
  async state(withValues: boolean): Promise<ClusterViewJson> {
    if (this.#listeners.size === 0) await this.#round();
    return this.view(withValues);
  }

  /**
   * A page starts watching: `listener` gets a view at once (after a probe round), then about
   * every second and as soon as the timeline grows. Call the returned function when it leaves.
   */
  watch(withValues: boolean, listener: ViewListener): () => void {
    const first = this.#listeners.size === 0;
    const watcher: Watcher = { withValues, listener };
    this.#listeners.add(watcher);
    if (first) this.#start();
    else this.#emitSoon();
    return () => {
      if (!this.#listeners.delete(watcher)) return;
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  /** Ends every watch (the node stops). */
  close(): void {
    this.#isClosed = true;
    this.#listeners.clear();
    this.#stop();
    this.#o.tracker.close();
  }

  #start(): void {
    this.#stopRates = this.rates.watch();
    this.#stopTimeline = this.#o.timeline.listen(() => this.#emitSoon());
    void this.#round().then(() => this.#emit());
    this.#arm();
  }

  #stop(): void {
    if (this.#timer !== null) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#stopRates?.();
    this.#stopRates = null;
    this.#stopTimeline?.();
    this.#stopTimeline = null;
  }

  #arm(): void {
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = null;
      if (this.#listeners.size === 0 || this.#isClosed) return;
      this.#arm();
      // Each tick shows what the previous round gathered and starts the next: a member's
      // report is at most about a second old, and a tick never waits on a silent member.
      this.#emit();
      void this.#round();
    }, this.#o.intervalMs ?? 1000);
  }

  #emitSoon(): void {
    if (this.#isEmitDue || this.#listeners.size === 0) return;
    this.#isEmitDue = true;
    this.#o.scheduler.defer(() => {
      this.#isEmitDue = false;
      this.#emit();
    });
  }

  #emit(): void {
    if (this.#listeners.size === 0) return;
    // Built once per kind of watcher, however many pages watch.
    const json = new Map<boolean, string>();
    for (const w of [...this.#listeners]) {
      let text = json.get(w.withValues);
      if (text === undefined) json.set(w.withValues, (text = JSON.stringify(this.view(w.withValues))));
      w.listener(text);
    }
  }

  #round(): Promise<void> {
    const s = this.#o.status();
    // Leading, this node is its own source of its followers' progress.
    if (s.role === "leader") this.#o.tracker.probed();
    this.#probes.retain(new Set(s.members.map((m) => m.id)));
    return this.#probes.round(s.members.filter((m) => m.id !== this.#o.id).map((m) => ({ id: m.id, addr: m.addr })));
  }

  /** This node's own account of itself (a probe's answer, and its own row). */
  #report(): MemberReport {
    const s = this.#o.status();
    const progress = s.role === "leader"
      ? this.#o.tracker.progress(s.members.filter((m) => m.id !== s.id).map((m) => m.id), s.term)
      : null;
    return {
      id: this.#o.id,
      httpAddr: this.#o.httpAddr,
      role: s.role,
      removed: s.removed,
      term: s.term,
      leader: s.leader,
      commit: s.commitIndex,
      applied: s.lastApplied,
      lastIndex: s.lastLogIndex,
      progress,
    };
  }

  /** The view from what is known now (no probe sent). */
  view(withValues: boolean): ClusterViewJson {
    const s = this.#o.status();
    const own = this.#report();
    const reportOf = (id: string): { report: MemberReport | null; isUnreachable: boolean } =>
      id === this.#o.id ? { report: own, isUnreachable: false } : this.#probes.known(id) ?? { report: null, isUnreachable: true };
    const leaderReport = s.leader === null ? null : reportOf(s.leader).report;
    const progress = new Map<string, FollowerProgress>();
    for (const p of leaderReport?.progress ?? []) progress.set(p.id, p);
    const members = s.members.map((m): MemberView => {
      const { report, isUnreachable } = reportOf(m.id);
      const p = progress.get(m.id);
      const isLeader = m.id === s.leader && leaderReport !== null;
      const lag = isLeader ? 0 : p?.match === null || p?.match === undefined || leaderReport === null ? null : Math.max(0, leaderReport.lastIndex - p.match);
      const live = report !== null && !isUnreachable;
      return {
        id: m.id,
        raftAddr: m.addr,
        httpAddr: report?.httpAddr ?? null,
        suffrage: m.suffrage,
        role: live ? roleOf(report, m.suffrage) : "unreachable",
        term: live ? report.term : null,
        commit: live ? report.commit : null,
        applied: live ? report.applied : null,
        lastIndex: live ? report.lastIndex : null,
        lagEntries: lag,
        lastContactMs: isLeader ? null : p?.lastContactMs ?? null,
      };
    });
    members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return {
      node: { id: this.#o.id, httpAddr: this.#o.httpAddr, raftAddr: this.#o.raftAddr },
      at: Math.round(this.#o.wallClock.now()),
      leader: s.leader,
      term: s.term,
      members,
      timeline: this.#o.timeline.events(),
      rates: this.rates.points(),
      entries: entryViews(this.#o.entries(), withValues),
    };
  }
}

function roleOf(report: MemberReport, suffrage: "voter" | "learner"): MemberRole {
  if (report.removed) return "removed";
  if (report.role === "leader") return "leader";
  if (suffrage === "learner") return "learner";
  return report.role;
}
