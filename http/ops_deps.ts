// What the operator's routes (probes, metrics, leadership, backup: issue 15) need beyond the
// store. Each feature adds its own optional field; open_node.ts fills them for a real node.

import type { NodeMetrics } from "../metrics/node_metrics.ts";
import type { UiDeps } from "./ui_routes.ts";

/** Dependencies of the operator's routes; every field optional so tests can leave them out. */
export interface OpsDeps {
  /** The build's version text (main.ts versionText), for /status and /metrics. */
  readonly version?: string;
  /**
   * This node's HTTP address (-haddr), for GET /leader: a node knows only its own (joins carry
   * Raft addresses alone), so the leader's is given only when the node asked leads.
   */
  readonly httpAddr?: string;
  /** The node's metrics: GET /metrics renders them, and every route is counted and timed. */
  readonly metrics?: NodeMetrics;
  /** The cluster page (issue 17): its view and files; absent, no /ui routes (http/ui_routes.ts). */
  readonly ui?: UiDeps;
}
