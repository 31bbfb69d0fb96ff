// Every metric one node exports (GET /metrics), with where each value comes from. Names
// follow etcd's where the meaning is the same, so etcd's dashboards and alerts translate
// (etcd_server_*, etcd_disk_*, etcd_network_*); what etcd has no name for is hraftd_*;
// process_* and nodejs_* are the conventional names of Prometheus's client libraries.
//
// Most values are read when scraped (role, term, indexes, pending proposals, memory), so
// they cost nothing between scrapes; the rest are counted where they happen, through the
// seams open_node.ts already has: the storage and WAL disk (metrics/timed_*.ts), the send
// and receive closures (peers, forwarded requests), the route table (http_metrics.ts).

import process from "node:process";
import type { Message, RaftStatus, SoftState } from "../raft/core/mod.ts";
import type { Clock, Timers } from "../raft/host.ts";
import { RequestCounts } from "../raft/requests.ts";
import type { StoreMessage } from "../store/forward.ts";
import { EventLoopLag } from "./event_loop_lag.ts";
import type { Counter } from "./counter.ts";
import type { Sample } from "./family.ts";
import type { Gauge } from "./gauge.ts";
import { exponentialBuckets, type Histogram } from "./histogram.ts";
import { HttpMetrics } from "./http_metrics.ts";
import { PeerRoundTrips } from "./peer_round_trips.ts";
import { Registry } from "./registry.ts";
import { textFormatContentType } from "./text_format.ts";

export { textFormatContentType };

/** What the metrics read from the node at scrape time (the RaftNode, once built). */
export interface MetricsSource {
  status(): RaftStatus;
  /** The state machine's applied index (may run ahead of the core's during a sync). */
  readonly lastApplied: number;
}

/** How the node's metrics are built. */
export interface NodeMetricsOptions {
  readonly clock: Clock;
  readonly timers: Timers;
  /** The build's version text, exported as hraftd_build_info{version}. */
  readonly version?: string;
  /** Resident memory in bytes; default process.memoryUsage().rss. */
  readonly residentBytes?: () => number;
  /** Milliseconds between event-loop lag samples; default 500. */
  readonly lagIntervalMs?: number;
}

/** etcd's fsync and snapshot buckets: 1 ms doubling to ~8 s (ExponentialBuckets(0.001, 2, 14)). */
const diskBuckets = exponentialBuckets(0.001, 2, 14);
/** etcd's peer round-trip buckets: 0.1 ms doubling to ~0.8 s (ExponentialBuckets(0.0001, 2, 14)). */
const peerBuckets = exponentialBuckets(0.0001, 2, 14);
/** HTTP latency: 0.1 ms doubling to ~13 s (the request timeout is 10 s). */
const httpBuckets = exponentialBuckets(0.0001, 2, 18);
/** Event-loop lag: 1 ms doubling to ~4 s. */
const lagBuckets = exponentialBuckets(0.001, 2, 13);

/** The metrics of one node. */
export class NodeMetrics {
  readonly registry = new Registry();
  /** Handed to the driver (RequestOptions.counts): proposals and ReadIndex rounds. */
  readonly requestCounts = new RequestCounts();
  readonly http: HttpMetrics;
  readonly lag: EventLoopLag;
  readonly #clock: Clock;
  #source: MetricsSource | null = null;
  #leader: string | null = null;
  readonly #leaderChanges: Counter;
  readonly #walFsync: Histogram;
  readonly #snapSave: Histogram;
  readonly #snapBytes: Gauge;
  readonly #peerRtt: Histogram;
  readonly #peerFailures: Counter;
  readonly #roundTrips: PeerRoundTrips;
  readonly #forwarded: Counter;
  readonly #forwardedUnsent: Counter;
  readonly #forwardReplies: Counter;
  readonly #forwardedServed: Counter;

  constructor(options: NodeMetricsOptions) {
    this.#clock = options.clock;
    const r = this.registry;
    const status = (read: (s: RaftStatus) => number): (() => readonly Sample[]) => () => {
      const source = this.#source;
      return source === null ? [] : [{ labels: [], value: read(source.status()) }];
    };
    const counts = this.requestCounts;
    const value = (read: () => number): (() => readonly Sample[]) => () => [{ labels: [], value: read() }];

    // ---- Raft: etcd_server_* (etcd/server/etcdserver/metrics.go) ----
    r.gauge({ name: "etcd_server_has_leader", help: "Whether or not a leader exists. 1 is existence, 0 is not.", collect: status((s) => (s.leader === null ? 0 : 1)) });
    r.gauge({ name: "etcd_server_is_leader", help: "Whether or not this member is a leader. 1 if is, 0 otherwise.", collect: status((s) => (s.role === "leader" ? 1 : 0)) });
    this.#leaderChanges = r.counter({ name: "etcd_server_leader_changes_seen_total", help: "The number of leader changes seen." });
    // etcd exports these two as gauges of the commit and applied index despite the _total
    // suffix; neither index ever decreases within a process, so here they are counters, which
    // promtool accepts and rate() reads the same way.
    r.counter({ name: "etcd_server_proposals_committed_total", help: "The total number of consensus proposals committed (the commit index).", collect: status((s) => s.commitIndex) });
    r.counter({
      name: "etcd_server_proposals_applied_total",
      help: "The total number of consensus proposals applied (the applied index).",
      collect: () => (this.#source === null ? [] : [{ labels: [], value: this.#source.lastApplied }]),
    });
    r.gauge({ name: "etcd_server_proposals_pending", help: "The current number of pending proposals to commit.", collect: value(() => counts.proposalsPending) });
    r.counter({ name: "etcd_server_proposals_failed_total", help: "The total number of failed proposals seen (appended, then overwritten or of unknown outcome).", collect: value(() => counts.proposalsFailed) });
    r.counter({ name: "etcd_server_read_indexes_failed_total", help: "The total number of failed read indexes seen.", collect: value(() => counts.readIndexFailed) });

    // ---- Raft: what etcd has no stable name for ----
    r.gauge({ name: "hraftd_raft_term", help: "The current Raft term of this node.", collect: status((s) => s.term) });
    r.gauge({ name: "hraftd_raft_commit_index", help: "The index of the newest log entry known to be committed.", collect: status((s) => s.commitIndex) });
    r.gauge({
      name: "hraftd_raft_applied_index",
      help: "The index of the newest log entry applied to the key-value map.",
      collect: () => (this.#source === null ? [] : [{ labels: [], value: this.#source.lastApplied }]),
    });
    r.counter({ name: "hraftd_read_index_rounds_total", help: "ReadIndex requests handed to Raft (one per batch of linearizable reads).", collect: value(() => counts.readIndexRounds) });

    // ---- Disk: etcd_disk_*, etcd_debugging_snap_* ----
    this.#walFsync = r.histogram({ name: "etcd_disk_wal_fsync_duration_seconds", help: "The latency distributions of fsync called by WAL.", buckets: diskBuckets });
    this.#snapSave = r.histogram({ name: "etcd_debugging_snap_save_total_duration_seconds", help: "The total latency distributions of save called by snapshot.", buckets: diskBuckets });
    this.#snapBytes = r.gauge({ name: "hraftd_snapshot_size_bytes", help: "Size of the newest snapshot this node saved." });

    // ---- Network: etcd_network_* (label To: the peer's node id, as etcd's member id) ----
    this.#peerRtt = r.histogram({ name: "etcd_network_peer_round_trip_time_seconds", help: "Round-Trip-Time histogram between peers (heartbeat to its reply).", labelNames: ["To"], buckets: peerBuckets });
    this.#peerFailures = r.counter({ name: "etcd_network_peer_sent_failures_total", help: "The total number of send failures to peers (messages dropped unsent).", labelNames: ["To"] });
    this.#roundTrips = new PeerRoundTrips((peer, seconds) => this.#peerRtt.labels(peer).observe(seconds));

    // ---- Forwarded requests: a follower sends writes, joins and leader reads to the leader ----
    this.#forwarded = r.counter({ name: "hraftd_forwarded_requests_total", help: "Requests this node forwarded to the leader, by operation.", labelNames: ["op"] });
    this.#forwardedUnsent = r.counter({ name: "hraftd_forwarded_unsent_total", help: "Requests this node could not forward (no connection to the leader)." });
    this.#forwardReplies = r.counter({ name: "hraftd_forwarded_replies_total", help: "Replies to forwarded requests received from the leader, by result.", labelNames: ["result"] });
    this.#forwardedServed = r.counter({ name: "hraftd_forwarded_served_total", help: "Requests other nodes forwarded to this node, by operation.", labelNames: ["op"] });

    // ---- HTTP ----
    this.http = new HttpMetrics(
      r.counter({ name: "hraftd_http_requests_total", help: "HTTP requests answered, by route, method and status code.", labelNames: ["route", "method", "code"] }),
      r.histogram({ name: "hraftd_http_request_duration_seconds", help: "Time from a request reaching its route to its answer, by route and method.", labelNames: ["route", "method"], buckets: httpBuckets }),
      options.clock,
    );

    // ---- Process ----
    const rss = options.residentBytes ?? (() => process.memoryUsage().rss);
    r.gauge({ name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", collect: value(rss) });
    const lagHistogram = r.histogram({ name: "hraftd_event_loop_lag_seconds", help: "How late a timer fires: time the event loop was busy with other work.", buckets: lagBuckets });
    this.lag = new EventLoopLag({
      timers: options.timers,
      clock: options.clock,
      intervalMs: options.lagIntervalMs ?? 500,
      observe: (seconds) => lagHistogram.observe(seconds),
    });
    r.gauge({ name: "nodejs_eventloop_lag_seconds", help: "Lag of event loop in seconds (the latest sample).", collect: value(() => this.lag.latest) });
    if (options.version !== undefined) {
      r.gauge({ name: "hraftd_build_info", help: "The running build; always 1.", labelNames: ["version"] }).labels(options.version).set(1);
    }
  }

  /** The node the scrape-time values come from (set once it is built). */
  attach(source: MetricsSource): void {
    this.#source = source;
  }

  /** The driver's soft state: a new known leader is a leader change (as etcd counts it). */
  softState(state: SoftState): void {
    if (state.leader !== null && state.leader !== this.#leader) this.#leaderChanges.inc();
    this.#leader = state.leader;
  }

  /** A Raft message to `msg.to` was handed to the transport (`queued`) or dropped unsent. */
  raftSent(msg: Message, queued: boolean): void {
    if (!queued) {
      this.#peerFailures.labels(msg.to).inc();
      return;
    }
    this.#roundTrips.sent(msg, this.#clock.now());
  }

  /** A Raft message arrived. */
  raftReceived(msg: Message): void {
    this.#roundTrips.received(msg, this.#clock.now());
  }

  /** A store message (forwarded request or reply) was sent; `queued` false if dropped unsent. */
  storeSent(msg: StoreMessage, queued: boolean): void {
    if (msg.type !== "forward") return;
    this.#forwarded.labels(msg.op.type).inc();
    if (!queued) this.#forwardedUnsent.inc();
  }

  /** A store message arrived from a peer. */
  storeReceived(msg: StoreMessage): void {
    if (msg.type === "forward") this.#forwardedServed.labels(msg.op.type).inc();
    else this.#forwardReplies.labels(msg.error === null ? "ok" : msg.error.code).inc();
  }

  /** An fsync of the WAL took `seconds`. */
  walFsynced(seconds: number): void {
    this.#walFsync.observe(seconds);
  }

  /** A snapshot of `bytes` was saved in `seconds`. */
  snapshotSaved(seconds: number, bytes: number): void {
    this.#snapSave.observe(seconds);
    this.#snapBytes.set(bytes);
  }

  /**
   * The text exposition. Starts the lag sampler on the first scrape: a node nobody scrapes
   * (the simulator's) sets no timer for it.
   */
  render(): string {
    this.lag.start();
    return this.registry.render();
  }

  stop(): void {
    this.lag.stop();
  }
}
