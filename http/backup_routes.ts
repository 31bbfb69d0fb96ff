// The backup routes of the operator's surface (issue 15). Registered by http/routes.ts after
// hraftd's routes; each route names the permission it needs with -auth (perm).

import type { StoreApi } from "../store/api.ts";
import type { OpsDeps } from "./ops_deps.ts";
import type { Route } from "./routes.ts";

/** The backup routes. */
export function backupRoutes(_store: StoreApi, _ops: OpsDeps, _bodyBytesMax: number): readonly Route[] {
  return [];
}
