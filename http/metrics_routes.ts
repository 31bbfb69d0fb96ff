// The metrics routes of the operator's surface (issue 15). Registered by http/routes.ts after
// hraftd's routes; each route names the permission it needs with -auth (perm).
//
// GET /metrics: every metric of the node in the Prometheus text format 0.0.4
// (metrics/node_metrics.ts). Permission "status", like /status: it shows the cluster's
// shape and load, never a key or a value. Without metrics (a bare store in tests) no route.

import type { StoreApi } from "../store/api.ts";
import { textFormatContentType } from "../metrics/text_format.ts";
import { jsonError } from "./errors.ts";
import type { OpsDeps } from "./ops_deps.ts";
import type { Route } from "./routes.ts";

/** The metrics routes. */
export function metricsRoutes(_store: StoreApi, ops: OpsDeps, _bodyBytesMax: number): readonly Route[] {
  const metrics = ops.metrics;
  if (metrics === undefined) return [];
  return [
    {
      methods: ["GET"],
      path: "/metrics",
      perm: "status",
      handle: () => new Response(metrics.render(), { headers: { "content-type": textFormatContentType } }),
    },
    { methods: ["ALL"], path: "/metrics", handle: () => jsonError(405, "method not allowed", { headers: { allow: "GET, HEAD" } }) },
  ];
}
